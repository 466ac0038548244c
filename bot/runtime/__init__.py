"""The process: the Discord client, its command tree and the feeds' HTTP server.

The only code under ``bot/`` that imports discord or aiohttp (``tests/unit/test_architecture.py``).
"""
