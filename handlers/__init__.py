"""Hearth's apps, one module or package each, plus the accounts they share.

Each app's `install(site, ...)` (handlers/site.py) registers its REST routes,
its WebSocket endpoints or Socket.IO events, and returns its background
tasks. Handlers import realtime and storage, never the other way round.
"""
