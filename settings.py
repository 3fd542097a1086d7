"""Hearth's settings: config.toml, the files laid over it, then the environment.

Invariant: a `Settings` value is complete and valid. config.toml next to this
module names every key with its default; overlays may only change keys that
exist there (a typo is an error, not a silently ignored setting), and every
value is converted to the type its field declares before the server sees it.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

# How often something runs, or how long it may take: zero or less would mean never or
# in a busy loop.
Seconds = Annotated[float, msgspec.Meta(gt=0)]

DEFAULTS_PATH = Path(__file__).resolve().parent / "config.toml"
MIN_SECRET_BYTES = 32

# Environment names the seed projects used, and the setting each one sets.
SEED_ALIASES: dict[str, tuple[str, str]] = {
    "SERVER_PORT": ("server", "http_port"),
    "ACCESS_TOKEN_SECRET": ("secrets", "access_token"),
    "REFRESH_TOKEN_SECRET": ("secrets", "refresh_token"),
    "JWT_KEY": ("secrets", "access_token"),
    "JWT_ISSUER": ("accounts", "token_issuer"),
    "JWT_AUDIENCE": ("accounts", "token_audience"),
    "JWT_LIFETIME_DAYS": ("parties", "token_lifetime_days"),
    "LOGGING_TRACE_REQUESTS": ("server", "trace_requests"),
}


class SettingsError(Exception):
    """The configuration cannot be used; the message says which key and why."""


class _Section(msgspec.Struct, forbid_unknown_fields=True):
    pass


class ServerSettings(_Section):
    host: str
    http_port: int
    ws_port: int
    shutdown_timeout: float
    max_body_bytes: int
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    worker_threads: bool
    trace_requests: bool


class StorageSettings(_Section):
    path: str
    synchronous: Literal["FULL", "NORMAL", "EXTRA"]
    readers: int
    max_batch: int
    busy_timeout_ms: int


class SecretSettings(_Section):
    access_token: str
    refresh_token: str
    password_key: str

    def __repr__(self) -> str:  # secrets never reach a log line
        return "SecretSettings(<redacted>)"


class AccountSettings(_Section):
    bcrypt_cost: int
    max_waiting_password_checks: int
    min_password_length: int
    sign_in_free_failures: int
    sign_in_longest_wait: Seconds
    token_issuer: str
    token_audience: str


class RealtimeSettings(_Section):
    max_message_bytes: int
    outbound_queue: int
    rate_per_second: float
    rate_burst: int
    max_connections_per_user: int
    ping_interval: Seconds
    idempotency_window: int
    allowed_origins: list[str]
    debug_echo: bool


class ClickerSettings(_Section):
    access_token_ttl: int
    refresh_token_ttl: int
    tick_interval: Seconds
    idle_eviction: float
    sweep_interval: Seconds


class OrdersSettings(_Section):
    telegram_bot_token: str
    telegram_auth_max_age: int
    customer_token_ttl: int
    staff_token_ttl: int
    bonus_spend_percent: int
    bonus_earn_percent: int
    bonus_earn_from: int
    pos_mode: Literal["mock", "http", "off"]
    pos_url: str
    pos_api_key: str
    pos_api_key_header: str
    pos_timeout: Seconds
    pos_attempts: int
    pos_backoff: float
    pos_mock_delay: float

    def __repr__(self) -> str:  # the bot token and API key never reach a log line
        return f"OrdersSettings(pos_mode={self.pos_mode!r}, <secrets redacted>)"


class ChannelsSettings(_Section):
    access_token_ttl: int
    refresh_token_ttl: int


class SocketIOSettings(_Section):
    ping_interval: Seconds
    ping_timeout: Seconds


class GarageSettings(_Section):
    max_currency_grant: int
    min_client_version: str
    drop_seed: int


class PartiesSettings(_Section):
    token_lifetime_days: int
    max_media_bytes: int
    media_keep_free_bytes: int
    media_types: list[str]
    max_event_media: int
    max_user_media: int
    max_user_media_bytes: int
    chat_max_length: int


class Settings(_Section):
    server: ServerSettings
    storage: StorageSettings
    secrets: SecretSettings
    accounts: AccountSettings
    realtime: RealtimeSettings
    clicker: ClickerSettings
    orders: OrdersSettings
    channels: ChannelsSettings
    socketio: SocketIOSettings
    garage: GarageSettings
    parties: PartiesSettings


def load(
    overlays: list[Path] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    require_secrets: bool = True,
) -> Settings:
    """Read config.toml, lay `overlays` (files) and `overrides` over it, then the environment.

    `require_secrets=False` is for tools that never sign or check a token.
    """
    tree = _read_toml(DEFAULTS_PATH)
    for path in overlays or []:
        _merge(tree, _read_toml(path), str(path))
    if overrides:
        _merge(tree, {k: dict(v) for k, v in overrides.items()}, "overrides")
    _apply_environment(tree, os.environ if environ is None else environ)
    try:
        settings = msgspec.convert(tree, Settings)
    except msgspec.ValidationError as error:
        raise SettingsError(f"invalid setting: {error}") from None
    if require_secrets:
        _check_secrets(settings.secrets)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"cannot read {path}: {error}") from None


def _merge(base: dict[str, Any], overlay: Mapping[str, Any], origin: str) -> None:
    for section, values in overlay.items():
        if section not in base or not isinstance(values, Mapping):
            raise SettingsError(f"{origin}: unknown section [{section}]")
        for key, value in values.items():
            if key not in base[section]:
                raise SettingsError(f"{origin}: unknown setting {section}.{key}")
            base[section][key] = value


def _apply_environment(tree: dict[str, Any], environ: Mapping[str, str]) -> None:
    targets = {
        f"HEARTH_{section}_{key}".upper(): (section, key)
        for section, values in tree.items()
        for key in values
    }
    targets.update(SEED_ALIASES)
    for name, (section, key) in targets.items():
        if name in environ:
            tree[section][key] = _parse_like(tree[section][key], environ[name], name)


def _parse_like(default: Any, text: str, name: str) -> Any:
    """Turn an environment string into the type the default has."""
    if isinstance(default, bool):
        if text.lower() in {"1", "true", "yes", "on"}:
            return True
        if text.lower() in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name}: expected true or false, got {text!r}")
    if isinstance(default, list):
        if text.lstrip().startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as error:
                raise SettingsError(f"{name}: invalid JSON list: {error}") from None
        return [item.strip() for item in text.split(",") if item.strip()]
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {text!r}") from None
    return text


def _check_secrets(secrets: SecretSettings) -> None:
    for field in ("access_token", "refresh_token", "password_key"):
        value: str = getattr(secrets, field)
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(
                f"secrets.{field} must be at least {MIN_SECRET_BYTES} bytes "
                f"(set it in a --config file or HEARTH_SECRETS_{field.upper()}; "
                "`make run` generates development secrets in data/dev-secrets.toml)"
            )
    if secrets.access_token == secrets.refresh_token:
        raise SettingsError("secrets.access_token and secrets.refresh_token must differ")
