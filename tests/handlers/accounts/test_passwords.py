"""bcrypt off the event loop; long and NUL-bearing passwords verified whole, never truncated
(by the hasher, and over the wire by every app that takes passwords)."""

from __future__ import annotations

import itertools
import os

import httpx
import pytest
import trio

from handlers.accounts.passwords import PasswordHasher, PasswordsBusy, password_problem
from server import PASSWORDS_BUSY


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(cost=4, key=b"k" * 32)


async def test_round_trip(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse")
    assert hashed.startswith("$2b$04$")
    assert await hasher.verify("correct horse", hashed)
    assert not await hasher.verify("correct horsf", hashed)


async def test_passwords_longer_than_72_bytes_count_every_byte(hasher: PasswordHasher) -> None:
    long = "x" * 72 + "tail one"
    hashed = await hasher.hash(long)
    assert await hasher.verify(long, hashed)
    assert not await hasher.verify("x" * 72 + "tail two", hashed)  # bcrypt alone would accept
    assert not await hasher.verify("x" * 72, hashed)


async def test_multibyte_and_nul_passwords(hasher: PasswordHasher) -> None:
    cyrillic = "пароль-" * 20  # 260 bytes
    hashed = await hasher.hash(cyrillic)
    assert await hasher.verify(cyrillic, hashed)
    assert not await hasher.verify(cyrillic[:-1], hashed)
    nul = await hasher.hash("before\x00after")
    assert await hasher.verify("before\x00after", nul)
    assert not await hasher.verify("before\x00other", nul)


async def test_a_different_key_does_not_verify_long_passwords() -> None:
    long = "y" * 100
    hashed = await PasswordHasher(cost=4, key=b"a" * 32).hash(long)
    assert not await PasswordHasher(cost=4, key=b"b" * 32).verify(long, hashed)


async def test_no_hash_never_verifies(hasher: PasswordHasher) -> None:
    assert not await hasher.verify("not a password", None)


async def test_checks_past_the_queue_are_refused_at_once() -> None:
    """One worker and room for two to wait: of ten checks started together three run and
    seven are refused at once; once they are done there is room again."""
    hasher = PasswordHasher(cost=4, key=b"k" * 32, concurrency=1, max_waiting=2)
    hashed = await hasher.hash("correct horse")
    outcomes: list[object] = []

    async def check() -> None:
        try:
            outcomes.append(await hasher.verify("correct horse", hashed))
        except PasswordsBusy:
            outcomes.append("busy")

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(check)
    assert sorted(outcomes, key=str) == [True] * 3 + ["busy"] * 7
    assert await hasher.verify("correct horse", hashed)


def _login(app: str, n: int) -> str:
    return f"{7_200_000_000 + n}" if app == "parties" else f"busy{n}@example.com"


@pytest.mark.timeout(60)
@pytest.mark.settings(accounts={"bcrypt_cost": 13, "max_waiting_password_checks": 0})
@pytest.mark.parametrize("app", ["clicker", "parties"])  # Accounts.login_email; parties' own
async def test_sign_ins_past_the_queue_get_503_and_count_for_nothing(
    http: httpx.AsyncClient, app: str
) -> None:
    """While every bcrypt worker checks a made-up account (about half a second each at
    cost 13), six sign-ins to a real one, more than the throttle lets fail, answer 503
    at once; once the workers are free it signs in: the refusals were not counted."""
    login, password = _login(app, next(_accounts)), "correct horse"
    assert await _sign_up(http, app, login, password) is True
    workers = os.cpu_count() or 1

    async def blocker() -> None:
        assert not await _logs_in(http, app, _login(app, next(_accounts)), password)

    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(blocker)
        await trio.sleep(0.1)  # the blockers' checks are running
        route, form = {
            "parties": ("/api/v1/users/login", {"phone": login, "password": password}),
            "clicker": ("/auth", {"email": login, "password": password}),
        }[app]
        for _ in range(6):
            refused = await http.post(route, json=form)
            assert (refused.status_code, refused.headers["Retry-After"], refused.json()) == (
                503,
                "1",
                {"error": "Service Unavailable", "message": PASSWORDS_BUSY},
            )
    assert await _logs_in(http, app, login, password)


def test_policy() -> None:
    assert password_problem("short", min_length=8) == "password must be at least 8 characters"
    assert password_problem("password", min_length=8) == "password is too common"
    assert password_problem("Password1", min_length=8) == "password is too common"
    assert password_problem("correct horse", min_length=8) is None


# Over the wire, in every app that takes passwords: each byte counts, however long.
LONG = "пароль-" * 20  # 260 bytes
STRADDLE = "x" * 71 + "é" + "tail"  # "é" is bytes 72 and 73
EMOJI = "\N{FIRE}" * 8  # 8 characters, 32 bytes
WRONG = {
    LONG: [LONG[:-1], LONG + "-", LONG[:11]],  # 11 characters: its first 72 bytes
    STRADDLE: ["x" * 71 + "é", "x" * 71 + "ê" + "tail"],  # the same first 72 bytes
    "before\x00after!": ["before", "before\x00other!"],
    EMOJI: [EMOJI + "\N{FIRE}", "\N{FIRE}" * 7 + "x"],
}
SHORT_REFUSAL = {
    "clicker": (400, "password must be at least 8 characters"),
    "channels": (400, "password must be at least 8 characters"),
    "parties": ["PasswordLengthInvalid"],
}
_accounts = itertools.count(1)


async def _sign_up(http: httpx.AsyncClient, app: str, login: str, password: str) -> object:
    """Create an account: True, or the app's refusal."""
    if app == "parties":
        form = {"name": f"P{login}", "phone": login, "password": password}
        body = (
            await http.post("/api/v1/users/create", json=form | {"confirmPassword": password})
        ).json()
        return True if body["isSuccess"] else [error["errorCode"] for error in body["errors"]]
    if app == "clicker":
        response = await http.post("/reg", json={"email": login, "password": password})
    else:
        response = await http.post("/signup", json={"user": {"email": login, "password": password}})
    return True if response.is_success else (response.status_code, response.json()["message"])


async def _logs_in(http: httpx.AsyncClient, app: str, login: str, password: str) -> bool:
    if app == "parties":
        form = {"phone": login, "password": password}
        return bool((await http.post("/api/v1/users/login", json=form)).json()["isSuccess"])
    if app == "clicker":
        response = await http.post("/auth", json={"email": login, "password": password})
    else:
        response = await http.post(
            "/signin", json={"credentials": {"email": login, "password": password}}
        )
    return response.is_success


@pytest.mark.parametrize("app", ["clicker", "channels", "parties"])
async def test_long_unicode_and_nul_passwords_over_the_wire(
    http: httpx.AsyncClient, app: str
) -> None:
    """Passwords of 260 bytes, with a character across byte 72, with NUL, or of emoji sign
    up and log in; every near miss (the first 72 bytes, one character more or less, the
    part before a NUL) is refused. Length is counted in characters: 8 emoji pass, 7 get
    the app's policy answer."""
    for password, near_misses in WRONG.items():
        n = next(_accounts)
        login = f"{7_000_000_000 + n}" if app == "parties" else f"pw{n}@example.com"
        assert await _sign_up(http, app, login, password) is True
        assert await _logs_in(http, app, login, password)
        assert [await _logs_in(http, app, login, wrong) for wrong in near_misses] == [False] * len(
            near_misses
        )
    short = "\N{FIRE}" * 7
    login = f"{7_100_000_000 + next(_accounts)}" if app == "parties" else "short@example.com"
    assert await _sign_up(http, app, login, short) == SHORT_REFUSAL[app]
