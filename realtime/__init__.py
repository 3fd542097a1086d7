"""Hearth's realtime core: transports, codecs, command dispatch, the hub and keepalive.

Nothing here knows any app; apps (handlers/) build endpoints from these parts.
"""
