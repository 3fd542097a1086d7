"""JSON Web Tokens: HS256, access and refresh kept apart.

Every token carries `typ` (access or refresh), `sub` (the user id), `iat`,
`exp`, `jti`, `iss` and `aud` (from config), plus whatever claims the issuing
app's clients read. Decoding pins the algorithm to HS256 (no `none`, no key
confusion), requires every one of those claims, and checks issuer and
audience exactly.

A logout raises its user's generation (`set_generation`): tokens carry the
generation they were issued in (`gen`, left out while it is 0), and one below
the user's current generation is refused.

A token that verified is remembered (the last `VERIFIED_KEPT`), so that the
next request bearing it skips the signature and claim checks (85 µs in process,
most of a REST request's own work); its expiry and its generation are still
checked every time.

Invariants: an access token never verifies as a refresh token or the other way
round: they are signed with different secrets and carry their `typ`. No token
issued before its user's last logout verifies.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt

TokenType = Literal["access", "refresh"]
ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["typ", "sub", "iat", "exp", "jti", "iss", "aud"]
DEFAULT_ISSUER = "hearth"
DEFAULT_AUDIENCE = "hearth-clients"
_USER_ID = re.compile(r"[1-9][0-9]{0,17}")
VERIFIED_KEPT = 4096  # tokens remembered as verified, the oldest forgotten first


class TokenError(Exception):
    """The token cannot be used."""


class TokenExpired(TokenError):
    pass


class TokenInvalid(TokenError):
    pass


@dataclass(frozen=True)
class Claims:
    user_id: int
    jti: str
    expires_at: int
    payload: Mapping[str, Any]
    generation: int  # `gen`: the user's logout generation it was issued in


@dataclass(frozen=True)
class Issued:
    token: str
    jti: str
    expires_at: int


class TokenCodec:
    def __init__(
        self,
        *,
        access_secret: str,
        refresh_secret: str,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
    ) -> None:
        self._secrets: dict[TokenType, bytes] = {
            "access": access_secret.encode(),
            "refresh": refresh_secret.encode(),
        }
        self._issuer = issuer
        self._audience = audience
        self._generations: dict[int, int] = {}  # users who logged out: their generation
        self._verified: dict[tuple[str, TokenType], Claims] = {}

    def set_generation(self, user_id: int, generation: int) -> None:
        """From now on, refuse the user's tokens issued in an earlier generation."""
        self._generations[user_id] = generation

    def issue(
        self, typ: TokenType, user_id: int, ttl: int, extra: Mapping[str, Any] | None = None
    ) -> Issued:
        now = int(time.time())
        jti = secrets.token_urlsafe(16)
        payload = {
            **(extra or {}),
            "typ": typ,
            "sub": str(user_id),
            "iat": now,
            "exp": now + ttl,
            "jti": jti,
            "iss": self._issuer,
            "aud": self._audience,
        }
        generation = self._generations.get(user_id, 0)
        if generation:
            payload["gen"] = generation
        return Issued(jwt.encode(payload, self._secrets[typ], algorithm=ALGORITHM), jti, now + ttl)

    def verify(self, token: str, typ: TokenType, *, allow_expired: bool = False) -> Claims:
        """The claims of a valid `typ` token; raises TokenExpired or TokenInvalid.

        `allow_expired` accepts an expired token (still signed by us, still with an
        `exp`): for proving who a refresh is for, never for access.
        """
        key = (token, typ)
        claims = None if allow_expired else self._verified.get(key)
        if claims is None:
            claims = self._decoded(token, typ, allow_expired)
            if not allow_expired:
                if len(self._verified) >= VERIFIED_KEPT:
                    del self._verified[next(iter(self._verified))]
                self._verified[key] = claims
        elif time.time() >= claims.expires_at:  # as PyJWT: valid while now < exp
            raise TokenExpired("token expired")
        if claims.generation < self._generations.get(claims.user_id, 0):
            raise TokenInvalid("token invalid")  # issued before a logout
        return claims

    def _decoded(self, token: str, typ: TokenType, allow_expired: bool) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self._secrets[typ],
                algorithms=[ALGORITHM],
                issuer=self._issuer,  # compared whole: a prefix of it is another issuer
                audience=self._audience,
                options={"require": REQUIRED_CLAIMS, "verify_exp": not allow_expired},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("token expired") from None
        except jwt.PyJWTError:
            raise TokenInvalid("token invalid") from None
        subject = payload["sub"]
        if payload["typ"] != typ or not isinstance(subject, str) or not _USER_ID.fullmatch(subject):
            raise TokenInvalid("token invalid")
        generation = payload.get("gen", 0)
        if type(generation) is not int:
            raise TokenInvalid("token invalid")
        return Claims(int(subject), str(payload["jti"]), int(payload["exp"]), payload, generation)
