"""JWTs: pinned HS256, required claims, access and refresh never interchangeable."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from handlers.accounts import TokenCodec, TokenExpired, TokenInvalid
from handlers.accounts.tokens import TokenType

ACCESS = "access-secret-0123456789abcdef0123"
REFRESH = "refresh-secret-0123456789abcdef012"


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(access_secret=ACCESS, refresh_secret=REFRESH)


def _unsigned(payload: dict[str, object], header: dict[str, str]) -> str:
    def part(data: dict[str, object] | dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}."


def test_issued_tokens_carry_the_common_claims(codec: TokenCodec) -> None:
    issued = codec.issue("access", 42, 900, {"id": "42"})
    claims = codec.verify(issued.token, "access")
    assert claims.user_id == 42
    assert claims.jti == issued.jti
    assert set(claims.payload) == {"typ", "sub", "iat", "exp", "jti", "iss", "aud", "id"}
    assert (claims.payload["iss"], claims.payload["aud"]) == ("hearth", "hearth-clients")
    assert claims.payload["typ"] == "access" and claims.payload["sub"] == "42"
    assert claims.payload["exp"] - claims.payload["iat"] == 900
    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"


def test_access_and_refresh_are_not_interchangeable(codec: TokenCodec) -> None:
    access = codec.issue("access", 1, 900).token
    refresh = codec.issue("refresh", 1, 900).token
    with pytest.raises(TokenInvalid):
        codec.verify(refresh, "access")
    with pytest.raises(TokenInvalid):
        codec.verify(access, "refresh")
    # Even signed with the right secret, the wrong `typ` is refused.
    forged = jwt.encode(
        {"typ": "refresh", "sub": "1", "iat": 1, "exp": int(time.time()) + 60, "jti": "x"}, ACCESS
    )
    with pytest.raises(TokenInvalid):
        codec.verify(forged, "access")


def test_expired(codec: TokenCodec) -> None:
    token = codec.issue("access", 1, -1).token
    with pytest.raises(TokenExpired):
        codec.verify(token, "access")


def test_wrong_signature(codec: TokenCodec) -> None:
    other = TokenCodec(access_secret="x" * 32, refresh_secret="y" * 32)
    with pytest.raises(TokenInvalid):
        codec.verify(other.issue("access", 1, 900).token, "access")
    header, payload, signature = codec.issue("access", 1, 900).token.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["sub"] = "2"
    body = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        codec.verify(f"{header}.{body}.{signature}", "access")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_alg_none_and_other_algorithms_are_refused(codec: TokenCodec) -> None:
    payload = {"typ": "access", "sub": "1", "iat": 1, "exp": int(time.time()) + 60, "jti": "j"}
    for alg in ("none", "None", "NONE"):
        with pytest.raises(TokenInvalid):
            codec.verify(_unsigned(payload, {"alg": alg, "typ": "JWT"}), "access")
    hs512 = jwt.encode(payload, ACCESS, algorithm="HS512")
    with pytest.raises(TokenInvalid):
        codec.verify(hs512, "access")


@pytest.mark.parametrize("missing", ["typ", "sub", "iat", "exp", "jti"])
def test_every_common_claim_is_required(codec: TokenCodec, missing: str) -> None:
    payload: dict[str, object] = {
        "typ": "access",
        "sub": "1",
        "iat": 1,
        "exp": int(time.time()) + 60,
        "jti": "j",
    }
    del payload[missing]
    with pytest.raises(TokenInvalid):
        codec.verify(jwt.encode(payload, ACCESS), "access")


ARABIC_INDIC_ONE = "\u0661"  # int() reads it as 1; a user id must be ASCII digits


@pytest.mark.parametrize("subject", ["abc", "0", "-1", "1.5", ARABIC_INDIC_ONE, "9" * 30, ""])
def test_subject_must_be_a_user_id(codec: TokenCodec, subject: str) -> None:
    payload = {"typ": "access", "sub": subject, "iat": 1, "exp": int(time.time()) + 60, "jti": "j"}
    with pytest.raises(TokenInvalid):
        codec.verify(jwt.encode(payload, ACCESS), "access")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 5000, "eyJ.eyJ.sig"])
def test_garbage_is_invalid(codec: TokenCodec, garbage: str) -> None:
    with pytest.raises(TokenInvalid):
        codec.verify(garbage, "access")


@pytest.mark.parametrize(
    ("issuer", "audience"),
    [
        ("hear", "hearth-clients"),  # a prefix of the real issuer
        ("hearth-evil", "hearth-clients"),
        ("", "hearth-clients"),
        ("hearth", "hearth-client"),
        ("hearth", "someone-else"),
        ("hearth", ["someone-else"]),
    ],
)
def test_issuer_and_audience_must_match_exactly(
    codec: TokenCodec, issuer: str, audience: object
) -> None:
    payload = {
        "typ": "access",
        "sub": "1",
        "iat": 1,
        "exp": int(time.time()) + 60,
        "jti": "j",
        "iss": issuer,
        "aud": audience,
    }
    with pytest.raises(TokenInvalid):
        codec.verify(jwt.encode(payload, ACCESS), "access")
    good = payload | {"iss": "hearth", "aud": "hearth-clients"}
    assert codec.verify(jwt.encode(good, ACCESS), "access").user_id == 1


def test_a_new_generation_refuses_the_earlier_tokens(codec: TokenCodec) -> None:
    """A logout (set_generation) refuses every token of that user issued before it, of both
    types; tokens issued after it carry the generation; other users are not affected."""
    types: tuple[TokenType, ...] = ("access", "refresh")
    before = [codec.issue(typ, 7, 900).token for typ in types]
    other = codec.issue("access", 8, 900).token
    codec.set_generation(7, 1)
    for token, typ in zip(before, types, strict=True):
        with pytest.raises(TokenInvalid):
            codec.verify(token, typ)
    after = codec.issue("access", 7, 900).token
    assert codec.verify(after, "access").payload["gen"] == 1
    assert codec.verify(other, "access").user_id == 8
    assert "gen" not in codec.verify(other, "access").payload
    codec.set_generation(7, 2)
    with pytest.raises(TokenInvalid):
        codec.verify(after, "access")


def test_a_verified_token_is_remembered_but_still_expires(
    codec: TokenCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second verification of a token skips the signature (no `jwt.decode`), and
    still refuses it once it has expired."""
    issued = codec.issue("access", 5, 60)
    assert codec.verify(issued.token, "access").user_id == 5
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: object, **kwargs: object) -> object:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert codec.verify(issued.token, "access").jti == issued.jti
    assert decoded == []
    with pytest.raises(TokenInvalid):  # remembered as an access token only
        codec.verify(issued.token, "refresh")
    assert decoded == [issued.token]
    monkeypatch.setattr(time, "time", lambda: float(issued.expires_at))
    with pytest.raises(TokenExpired):
        codec.verify(issued.token, "access")
