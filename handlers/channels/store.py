"""The channels app's tables: workspaces, members with roles, channels and who sees them.

Invariants: a workspace's creator is its admin; every workspace has a public
channel `general`; a private channel is seen by its creator and the members
added to it, a public one by every member of its workspace.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal, get_args

from handlers.timestamps import now_iso

Role = Literal["admin", "moderator", "user", "guest"]
ROLES: tuple[str, ...] = get_args(Role)
MAY_CREATE_CHANNELS = ("admin", "moderator", "user")


class NameTaken(Exception):
    """The workspace already has a channel with that name."""


def channel_view(row: tuple[Any, ...]) -> dict[str, Any]:
    """ChannelModel, snake_case as the original sent it."""
    channel_id, name, is_private, workspace_id, creator_id = row
    return {
        "id": channel_id,
        "name": name,
        "is_private": bool(is_private),
        "workspace_id": workspace_id,
        "creator_id": creator_id,
    }


def create_workspace(
    connection: sqlite3.Connection, creator_id: int, name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The new workspace (its creator its admin) and its `general` channel."""
    at = now_iso()
    workspace_id = connection.execute(
        "INSERT INTO workspaces (name, creator_id, created_at) VALUES (?, ?, ?)",
        (name, creator_id, at),
    ).lastrowid
    assert workspace_id is not None
    connection.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (?, ?, 'admin')",
        (workspace_id, creator_id),
    )
    general = create_channel(connection, workspace_id, creator_id, "general", private=False)
    workspace = {"id": workspace_id, "name": name, "creator_id": creator_id, "created_at": at}
    return workspace, general


def role_of(connection: sqlite3.Connection, workspace_id: int, user_id: int) -> str | None:
    row = connection.execute(
        "SELECT role FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
        (workspace_id, user_id),
    ).fetchone()
    return str(row[0]) if row else None


def workspace_exists(connection: sqlite3.Connection, workspace_id: int) -> bool:
    row = connection.execute("SELECT 1 FROM workspaces WHERE id = ?", (workspace_id,)).fetchone()
    return row is not None


def user_exists(connection: sqlite3.Connection, user_id: int) -> bool:
    return connection.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None


def create_channel(
    connection: sqlite3.Connection, workspace_id: int, creator_id: int, name: str, *, private: bool
) -> dict[str, Any]:
    try:
        channel_id = connection.execute(
            "INSERT INTO channels (workspace_id, name, is_private, creator_id, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (workspace_id, name, int(private), creator_id, now_iso()),
        ).lastrowid
    except sqlite3.IntegrityError as error:
        if "UNIQUE" in str(error):
            raise NameTaken(name) from None
        raise
    if private:
        connection.execute(
            "INSERT INTO channel_members (channel_id, user_id) VALUES (?, ?)",
            (channel_id, creator_id),
        )
    return channel_view((channel_id, name, private, workspace_id, creator_id))


def add_member(connection: sqlite3.Connection, workspace_id: int, user_id: int, role: str) -> None:
    connection.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (?, ?, ?)"
        " ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
        (workspace_id, user_id, role),
    )


def audience(connection: sqlite3.Connection, channel: dict[str, Any]) -> list[int]:
    """The users who can see `channel`."""
    if channel["is_private"]:
        query = "SELECT user_id FROM channel_members WHERE channel_id = ?"
        key = channel["id"]
    else:
        query = "SELECT user_id FROM workspace_members WHERE workspace_id = ?"
        key = channel["workspace_id"]
    return [user_id for (user_id,) in connection.execute(query, (key,))]
