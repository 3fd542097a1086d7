"""Sign-in throttling: the throttle's waits on the autojump clock, and every app's sign-in
answering it in its own way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
import trio.testing

import settings
from handlers.accounts import SignInThrottle, SignInThrottled
from tests.clients import register
from tests.orders_clients import make_staff


async def test_the_wait_doubles_past_the_free_failures_up_to_the_longest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    throttle = SignInThrottle(free=2, longest=5.0)
    for _ in range(3):  # two failures are free; the third makes the next sign-in wait
        throttle.attempt("a@example.com")
    waits = []
    for _ in range(5):
        with pytest.raises(SignInThrottled) as refused:
            throttle.attempt("a@example.com")
        waits.append(refused.value.seconds)
        await trio.sleep(refused.value.seconds)
        throttle.attempt("a@example.com")  # waited: this one may try, and fails
    assert waits == [1, 2, 4, 5, 5]
    throttle.attempt("b@example.com")  # other accounts do not wait
    await trio.sleep(5)
    throttle.attempt("a@example.com")
    throttle.succeeded("a@example.com")
    for _ in range(2):
        throttle.attempt("a@example.com")  # a success starts the count again


async def test_it_forgets_the_identifier_left_alone_longest_past_its_capacity() -> None:
    throttle = SignInThrottle(free=0, longest=60.0, capacity=2)
    for who in ("a", "b", "c"):
        throttle.attempt(who)
    throttle.attempt("a")  # forgotten: a first attempt again
    for who in ("c", "a"):
        with pytest.raises(SignInThrottled):
            throttle.attempt(who)


WRONG, RIGHT = "not my password", "correct horse"
TOO_MANY = "too many failed sign-ins; try again in 1 s"


# No worker threads: bcrypt runs on the loop, so the autojump clock waits for it.
@pytest.mark.settings(server={"worker_threads": False})
async def test_every_sign_in_answers_the_throttle(
    autojump_clock: trio.testing.MockClock, http: httpx.AsyncClient, config: settings.Settings
) -> None:
    """Six wrong passwords in a row (five are free, the sixth makes the next sign-in wait a
    second). Pass: each app answers the next sign-in, right password and all, with its own
    refusal, and signs in after the second."""
    await register(http, "clicker@example.com")
    await register(http, "channels@example.com")
    make_staff(config.storage.path, "staff@example.com", "admin")
    staff_password = "staff password"
    created = await http.post(
        "/api/v1/users/create",
        json={
            "name": "Guessed",
            "phone": "9111111111",
            "password": RIGHT,
            "confirmPassword": RIGHT,
        },
    )
    assert created.json()["isSuccess"]
    parties_refusal = {
        "isSuccess": False,
        "errors": [{"errorCode": "TooManyAttempts"}],
        "result": None,
    }
    cases: list[tuple[str, Any, str, int, Any, int]] = [
        (
            "/auth",
            {"email": "clicker@example.com"},
            RIGHT,
            401,
            {"status": "1", "message": TOO_MANY},
            429,
        ),
        (
            "/signin",
            {"email": "channels@example.com"},
            RIGHT,
            401,
            {"statusCode": 429, "message": TOO_MANY, "error": "Too Many Requests"},
            429,
        ),
        (
            "/api/auth/admin/login",
            {"email": "staff@example.com"},
            staff_password,
            401,
            {"error": TOO_MANY},
            429,
        ),
        ("/api/v1/users/login", {"phone": "9111111111"}, RIGHT, 200, parties_refusal, 200),
    ]
    for path, who, right, wrong_status, refusal, refusal_status in cases:

        async def sign_in(password: str, path: str = path, who: Any = who) -> httpx.Response:
            body = who | {"password": password}
            return await http.post(path, json={"credentials": body} if path == "/signin" else body)

        for _ in range(6):
            assert (await sign_in(WRONG)).status_code == wrong_status, path
        refused = await sign_in(right)
        assert (refused.status_code, refused.json()) == (refusal_status, refusal), path
        await trio.sleep(1)
        signed_in = await sign_in(right)
        assert signed_in.status_code == 200 and "errorCode" not in signed_in.text, path


async def test_sign_ins_sent_at_once_count_at_once(http: httpx.AsyncClient) -> None:
    """Ten wrong sign-ins to one account sent together, bcrypt in worker threads: none has
    failed when the next starts. Pass: the first six (five free, and the one that makes the
    next wait) are checked, the other four refused without bcrypt."""
    created = await http.post(
        "/api/v1/users/create",
        json={"name": "Rushed", "phone": "9222222222", "password": RIGHT, "confirmPassword": RIGHT},
    )
    assert created.json()["isSuccess"]
    codes: list[str] = []

    async def guess() -> None:
        answer = await http.post(
            "/api/v1/users/login", json={"phone": "9222222222", "password": WRONG}
        )
        codes.extend(error["errorCode"] for error in answer.json()["errors"])

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(guess)
    assert sorted(codes) == ["InvalidPassword"] * 6 + ["TooManyAttempts"] * 4
