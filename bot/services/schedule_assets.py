"""The public schedule page's inline CSS and JS, and the headers whose CSP hashes them. No I/O.

Both are inlined into the page (no second request); the Content-Security-Policy allows exactly
these bytes by their SHA-256, computed here at import, so an edit cannot desynchronise the header.
The script only improves the page: it rewrites every ``<time>`` into the reader's own zone,
regroups the meetings by the reader's day, and filters without a reload. Without it the server
does the same from the GET form (``?tz=``, ``?day=``, ``?kind=``, ``?format=``).
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["CSP", "PAGE_HEADERS", "SCRIPT", "STYLE", "csp_hash"]

STYLE = """\
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1b;--muted:#474747;--line:#8a8a8a;\
--card:#f3f3f3;--link:#0a50c2;--on-link:#fff}
@media (prefers-color-scheme:dark){:root{--bg:#121212;--fg:#ececec;--muted:#c8c8c8;\
--line:#7a7a7a;--card:#1f1f1f;--link:#9cc0ff;--on-link:#121212}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);\
font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header,main,footer{max-width:46rem;margin:0 auto;padding:0 1rem}
h1{font-size:1.5rem;margin:1rem 0 .5rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:0 0 .25rem}
p{margin:.25rem 0}
a{color:var(--link)}
:focus-visible{outline:3px solid var(--link);outline-offset:2px}
.skip{position:absolute;left:-9999px;top:.5rem;background:var(--bg);color:var(--link);padding:.5rem}
.skip:focus{left:.5rem}
form{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end;margin:1rem 0;padding:.75rem;\
background:var(--card);border-radius:.5rem}
form div{display:flex;flex-direction:column;flex:1 1 9rem;min-width:0}
select,button{font:inherit;width:100%;min-height:2.75rem;color:var(--fg);background:var(--bg);\
border:1px solid var(--muted);border-radius:.25rem;padding:.25rem .5rem}
button{flex:1 1 9rem;width:auto;background:var(--link);color:var(--on-link);border-color:var(--link)}
ul{list-style:none;margin:0;padding:0}
li.m,li.l{margin:.5rem 0;padding:.75rem;border:1px solid var(--line);border-radius:.5rem;\
overflow-wrap:anywhere}
.when{font-size:1.1rem;font-weight:600}
.sub{color:var(--muted)}
.tag{font-weight:600}
.join{display:inline-block;padding:.6rem 0}
footer{margin:2rem auto;color:var(--muted)}
footer a{display:inline-block;padding:.35rem 0}
"""

SCRIPT = """\
(function(){
var d=document,main=d.getElementById('meetings'),form=d.getElementById('filters');
if(!main||!form||!window.Intl||!window.history)return;
var es=d.documentElement.lang=='es',lang=es?'es':'en-US',el=form.elements,days=d.getElementById('days');
var status=d.getElementById('count'),note=d.getElementById('zone-note');
var zone=main.getAttribute('data-tz')||Intl.DateTimeFormat().resolvedOptions().timeZone||'UTC';
var items=[].slice.call(days.querySelectorAll('li.m')),later=[].slice.call(d.querySelectorAll('li.l'));
var fs={};function f(n,o){var k=zone+n;if(!fs[k]){o.timeZone=zone;fs[k]=new Intl.DateTimeFormat(lang,o)}
return fs[k]}
function key(t){var p={};f('k',{year:'numeric',month:'2-digit',day:'2-digit'}).formatToParts(t)
.forEach(function(x){p[x.type]=x.value});return p.year+'-'+p.month+'-'+p.day}
function head(t){var s=f('h',{weekday:'long',day:'numeric',month:'long'}).format(t);
return es?s.replace(',',''):s}
function nm(z){var o=[].filter.call(el.tz.options,function(o){return o.value==z})[0];
return o?o.text:z.split('/').pop().replace(/_/g,' ')}
function hm(t){return f('t',{hour:'2-digit',minute:'2-digit',hourCycle:'h23'}).format(t)}
function draw(){
[].forEach.call(d.querySelectorAll('time[datetime]'),function(e){var t=new Date(e.dateTime);
e.textContent=(e.className=='full'?head(t)+' ':'')+hm(t)});
var zn=nm(zone);[].forEach.call(d.querySelectorAll('.zn'),function(e){e.textContent=zn});
note.textContent=note.getAttribute('data-text').replace('{zone}',zn);
var want=el.day.value,seen={},t=+main.getAttribute('data-from'),to=+main.getAttribute('data-to');
while(el.day.options.length>1)el.day.remove(1);
for(;t<to+36e5;t+=36e5){var k=key(new Date(Math.min(t,to-1)));if(!seen[k]){seen[k]=1;
el.day.add(new Option(head(new Date(Math.min(t,to-1))),k,false,k==want))}}
days.textContent='';var sec,ul,last;items.forEach(function(li){
var s=new Date(li.querySelector('time').dateTime),k=key(s);li.setAttribute('data-day',k);
if(k!=last){last=k;sec=d.createElement('section');var h=d.createElement('h2');
h.id='h-'+k;h.textContent=head(s);sec.setAttribute('aria-labelledby',h.id);ul=d.createElement('ul');
sec.appendChild(h);sec.appendChild(ul);days.appendChild(sec)}ul.appendChild(li)})}
function has(li,n,v){return!v||(' '+li.getAttribute('data-'+n)+' ').indexOf(' '+v+' ')>=0}
function ok(li){return has(li,'kind',el.kind.value)&&has(li,'formats',el.format.value)
&&has(li,'lang',el.language.value)}
function apply(){var n=0,day=el.day.value;items.forEach(function(li){li.hidden=!(has(li,'day',day)
&&ok(li));if(!li.hidden)n++});
[].forEach.call(days.children,function(s){s.hidden=!s.querySelector('li.m:not([hidden])')});
var m=0;later.forEach(function(li){li.hidden=!!day||!ok(li);if(!li.hidden)m++});var ls=d.getElementById('later');
if(ls)ls.hidden=!m;status.textContent=status.getAttribute(n?n==1?'data-one':'data-other':
'data-none').replace('{count}',n);var q=new URLSearchParams();[].forEach.call(el,function(e){
if(e.name&&e.value)q.set(e.name,e.value)});history.replaceState(null,'','?'+q)}
if(![].some.call(el.tz.options,function(o){return o.value==zone}))el.tz.add(new Option(nm(zone),zone));
el.tz.value=zone;draw();apply();
form.addEventListener('change',function(e){if(e.target==el.tz){zone=el.tz.value;draw()}apply()});
form.addEventListener('submit',function(e){e.preventDefault();apply()});
})();
"""


def csp_hash(text: str) -> str:
    """A CSP source expression allowing exactly this inline script or style."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


CSP = (
    "default-src 'none'; "
    f"script-src {csp_hash(SCRIPT)}; "
    f"style-src {csp_hash(STYLE)}; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# Every response of the page carries these (the URL holds the feeds' token).
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}
