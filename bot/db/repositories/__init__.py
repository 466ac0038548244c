"""One module per feature: every SQL statement of the feature, as named queries.

A repository function takes a ``Transaction`` (or the ``Database`` for a single read) and returns
models from ``bot.models``; services call these and never write SQL themselves.
"""
