"""Hearth's apps, one module or package each, plus the accounts they share.

Each app's `install` registers its REST routes and its WebSocket endpoint and
returns its background tasks. Handlers import realtime and storage, never
the other way round.
"""
