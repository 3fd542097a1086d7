"""Accounts shared by every app: users, logins, token pairs and refresh rotation.

A login starts a refresh-token family. Refreshing spends the presented token
and issues the next of the same family, in one transaction. A spent token
presented again means it was stolen or replayed: the whole family is revoked,
so neither the thief nor the owner can refresh with it any more.

A logout ends every token of the user issued so far, access and refresh, in
every app: it raises the user's token generation (stored, so it holds across
restarts; see TokenCodec).

Invariants: a refresh token is spent at most once; a revoked family never
issues again; the access and refresh tokens of a pair name the same user.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.accounts.passwords import PasswordHasher, password_problem
from handlers.accounts.throttle import SignInThrottle
from handlers.accounts.tokens import TokenCodec, TokenError
from storage import Database

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")


class AccountError(Exception):
    """A documented refusal; `message` says what is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmailTaken(AccountError):
    pass


class RefreshRefused(AccountError):
    pass


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


@dataclass(frozen=True)
class Lifetimes:
    access: int
    refresh: int


class Accounts:
    def __init__(
        self,
        db: Database,
        hasher: PasswordHasher,
        tokens: TokenCodec,
        *,
        throttle: SignInThrottle,
        min_password_length: int,
    ) -> None:
        self.db = db
        self.hasher = hasher
        self.tokens = tokens
        self.throttle = throttle  # every app's sign-ins, by email or phone
        self._min_password_length = min_password_length

    async def load_logouts(self) -> None:
        """Give the token codec every user's generation (at startup)."""

        def generations(connection: sqlite3.Connection) -> list[tuple[int, int]]:
            rows: list[tuple[int, int]] = connection.execute(
                "SELECT user_id, generation FROM token_generations"
            ).fetchall()
            return rows

        for user_id, generation in await self.db.read(generations):
            self.tokens.set_generation(user_id, generation)

    async def logout(self, user_id: int) -> None:
        """End every token of `user_id` issued so far (access and refresh, every app)."""

        def bump(connection: sqlite3.Connection) -> int:
            generation: int = connection.execute(
                "INSERT INTO token_generations (user_id, generation) VALUES (?, 1)"
                " ON CONFLICT (user_id) DO UPDATE SET generation = generation + 1"
                " RETURNING generation",
                (user_id,),
            ).fetchone()[0]
            return generation

        self.tokens.set_generation(user_id, await self.db.write(bump))

    async def register_email(
        self,
        email: str,
        password: str,
        lifetimes: Lifetimes,
        claims_for: Callable[[int], Mapping[str, Any]] | None = None,
    ) -> tuple[int, TokenPair]:
        """Create a user and its first token pair (with `claims_for(user)`); raises
        AccountError (policy) or EmailTaken.

        The user and its refresh family are one transaction: a write that fails (a full
        disk) leaves no account behind that its client was told was not created.
        """
        address = _normal_email(email)
        if address is None:
            raise AccountError("invalid email")
        problem = password_problem(password, min_length=self._min_password_length)
        if problem is not None:
            raise AccountError(problem)
        hashed = await self.hasher.hash(password)

        def insert(connection: sqlite3.Connection) -> tuple[int, TokenPair] | None:
            cursor = connection.execute(
                "INSERT INTO users (email, password_hash, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (email) DO NOTHING",
                (address, hashed, int(time.time())),
            )
            if cursor.rowcount != 1 or cursor.lastrowid is None:
                return None
            user_id = cursor.lastrowid
            claims = claims_for(user_id) if claims_for is not None else None
            return user_id, self._start_family(connection, user_id, lifetimes, claims)

        created = await self.db.write(insert)
        if created is None:
            raise EmailTaken("this user already exist")
        return created

    async def login_email(self, email: str, password: str) -> int | None:
        """The user id for these credentials, or None (same time either way); raises
        SignInThrottled while the email's sign-ins must wait, and PasswordsBusy (counting
        nothing) when too many password checks wait already."""

        def find(connection: sqlite3.Connection) -> tuple[int, str | None] | None:
            row: tuple[int, str | None] | None = connection.execute(
                "SELECT id, password_hash FROM users WHERE email = ?", (email,)
            ).fetchone()
            return row

        email = _normal_email(email) or ""
        self.hasher.ensure_room()
        if email:
            self.throttle.attempt(email)
        row = self.db.read_now(find) if email else None
        matches = await self.hasher.verify(password, row[1] if row else None)
        if row and matches:
            self.throttle.succeeded(email)
            return row[0]
        return None

    async def issue_pair(
        self, user_id: int, lifetimes: Lifetimes, claims: Mapping[str, Any] | None = None
    ) -> TokenPair:
        """Start a refresh family for `user_id` and return its first pair."""
        return await self.db.write(
            lambda connection: self._start_family(connection, user_id, lifetimes, claims)
        )

    def _start_family(
        self,
        connection: sqlite3.Connection,
        user_id: int,
        lifetimes: Lifetimes,
        claims: Mapping[str, Any] | None,
    ) -> TokenPair:
        access = self.tokens.issue("access", user_id, lifetimes.access, claims)
        refresh = self.tokens.issue("refresh", user_id, lifetimes.refresh, claims)
        family = connection.execute(
            "INSERT INTO refresh_families (user_id, created_at) VALUES (?, ?)",
            (user_id, int(time.time())),
        ).lastrowid
        connection.execute(
            "INSERT INTO refresh_tokens (jti, family_id, expires_at) VALUES (?, ?, ?)",
            (refresh.jti, family, refresh.expires_at),
        )
        return TokenPair(access.token, refresh.token)

    async def refresh(
        self,
        refresh_token: str,
        lifetimes: Lifetimes,
        claims_for: Callable[[int], Mapping[str, Any]] | None = None,
    ) -> TokenPair:
        """Spend `refresh_token` and return the family's next pair (with `claims_for(user)`).

        Raises RefreshRefused; a reused token also revokes its family.
        """
        try:
            presented = self.tokens.verify(refresh_token, "refresh")
        except TokenError as error:
            raise RefreshRefused(str(error)) from None
        user_id = presented.user_id
        claims = claims_for(user_id) if claims_for is not None else None
        access = self.tokens.issue("access", user_id, lifetimes.access, claims)
        refresh = self.tokens.issue("refresh", user_id, lifetimes.refresh, claims)

        def rotate(connection: sqlite3.Connection) -> str | None:
            row = connection.execute(
                "SELECT t.spent, f.revoked, f.id, f.user_id FROM refresh_tokens AS t"
                " JOIN refresh_families AS f ON f.id = t.family_id WHERE t.jti = ?",
                (presented.jti,),
            ).fetchone()
            if row is None or row[3] != user_id:
                return "token invalid"
            spent, revoked, family = row[0], row[1], row[2]
            if revoked:
                return "token revoked"
            if spent:
                connection.execute(
                    "UPDATE refresh_families SET revoked = 1 WHERE id = ?", (family,)
                )
                return "token reused: every session of this login is revoked"
            connection.execute(
                "UPDATE refresh_tokens SET spent = 1 WHERE jti = ?", (presented.jti,)
            )
            connection.execute(
                "INSERT INTO refresh_tokens (jti, family_id, expires_at) VALUES (?, ?, ?)",
                (refresh.jti, family, refresh.expires_at),
            )
            return None

        refusal = await self.db.write(rotate)
        if refusal is not None:
            raise RefreshRefused(refusal)
        return TokenPair(access.token, refresh.token)


def _normal_email(email: str) -> str | None:
    """`email` without surrounding blanks, or None when it cannot be an address."""
    email = email.strip()
    if len(email) > 254 or not email.isprintable() or not _EMAIL.fullmatch(email):
        return None
    return email
