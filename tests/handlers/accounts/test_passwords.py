"""bcrypt off the event loop; long and NUL-bearing passwords verified whole, never truncated."""

from __future__ import annotations

import pytest

from handlers.accounts.passwords import PasswordHasher, password_problem


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


def test_policy() -> None:
    assert password_problem("short", min_length=8) == "password must be at least 8 characters"
    assert password_problem("password", min_length=8) == "password is too common"
    assert password_problem("Password1", min_length=8) == "password is too common"
    assert password_problem("correct horse", min_length=8) is None
