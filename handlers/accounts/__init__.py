"""Accounts shared by every app: users, password hashing, tokens, refresh rotation."""

from handlers.accounts.passwords import PasswordHasher, PasswordsBusy
from handlers.accounts.service import (
    AccountError,
    Accounts,
    EmailTaken,
    Lifetimes,
    RefreshRefused,
    TokenPair,
)
from handlers.accounts.throttle import SignInThrottle, SignInThrottled
from handlers.accounts.tokens import Claims, TokenCodec, TokenError, TokenExpired, TokenInvalid

__all__ = [
    "AccountError",
    "Accounts",
    "Claims",
    "EmailTaken",
    "Lifetimes",
    "PasswordHasher",
    "PasswordsBusy",
    "RefreshRefused",
    "SignInThrottle",
    "SignInThrottled",
    "TokenCodec",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenPair",
]
