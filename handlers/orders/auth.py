"""Who is calling the orders app: Telegram customers, staff, and the tokens they carry.

Customers log in with the Telegram login widget: its `hash` is the
HMAC-SHA256 of the other fields (sorted `key=value` lines) keyed by the
SHA-256 of the bot token, and `auth_date` must be recent. Staff log in with
email and password. Tokens carry `id`, `role` and `cities` (what the
original's clients read); a request is authorised from the database, not
from those claims, so a changed role takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from handlers.accounts import Claims, TokenCodec, TokenError
from handlers.orders import store


def telegram_problem(
    fields: Mapping[str, Any], bot_token: str, now: int, max_age: int
) -> str | None:
    """Why these login-widget fields are not a genuine, recent Telegram login (None: they are)."""
    given = fields.get("hash")
    if not isinstance(given, str) or "id" not in fields or "auth_date" not in fields:
        return "id, auth_date and hash are required"
    expected = telegram_signature(fields, bot_token)
    if not hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace")):
        return "Invalid Telegram login"
    try:
        age = now - int(fields["auth_date"])
    except (TypeError, ValueError):
        return "Invalid Telegram login"
    if age > max_age:
        return "Telegram login is too old"
    return None


def telegram_signature(fields: Mapping[str, Any], bot_token: str) -> str:
    """The `hash` Telegram puts on these login-widget fields (any `hash` among them is skipped)."""
    check = "\n".join(
        f"{key}={_text(value)}"
        for key, value in sorted(fields.items())
        if key != "hash" and value is not None
    )
    secret = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()


def _text(value: Any) -> str:
    """A field as Telegram wrote it into the signed text (JSON booleans as true/false)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def issue(tokens: TokenCodec, person: store.Person, ttl: int) -> str:
    claims = {"id": person.id, "role": person.role, "cities": list(person.cities)}
    return tokens.issue("access", person.id, ttl, claims).token


def claims_of(tokens: TokenCodec, token: str) -> Claims | None:
    """The claims of a valid access token, or None."""
    try:
        return tokens.verify(token, "access")
    except TokenError:
        return None


def user_id_of(tokens: TokenCodec, token: str) -> int | None:
    """The user a valid access token names, or None."""
    claims = claims_of(tokens, token)
    return claims.user_id if claims is not None else None
