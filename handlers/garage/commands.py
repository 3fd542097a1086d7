"""The garage's Socket.IO events: thirteen commands, under their seed names and the
original's event names, each one function receiving one context (seed 000's shape).

Every command's data carries the device `token` (except `register` and `status`), and
answers with `Emitted(event, data)`: the event, which is also the ack when one was asked.
Documented refusals are events of their own (`buy_car {success:false}`, `status
{status:"RELOAD"}`, `update_icon {_error:"RELOAD"}`, `_error {error:...}` for
`query` and `drop`); any other failure is `_error` with its message:
`NO_USER_TOKEN`, `NO_USER_WAS_FOUND`, or the data problem. Nothing changes then.
"""

from __future__ import annotations

import random
import secrets
from collections import OrderedDict
from functools import partial
from typing import Annotated, Any, Literal

import msgspec

from handlers.garage import store
from realtime.commands import CommandError, Commands, Context, Emitted
from storage import Database

Token = Annotated[str, msgspec.Meta(max_length=256)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**31)]
TOKEN_CACHE = 10_000  # device tokens remembered (token hash -> user id)


class Garage:
    """What the garage's commands need: storage, the settings they check, the drops' RNG."""

    def __init__(
        self, db: Database, *, max_grant: int, min_version: str, rng: random.Random
    ) -> None:
        self.db = db
        self.max_grant = max_grant
        self.min_version = _version(min_version)
        self.rng = rng
        self._users: OrderedDict[str, int] = OrderedDict()

    def user(self, token: str | None) -> int:
        """The player a device token names; raises NO_USER_TOKEN or NO_USER_WAS_FOUND."""
        if not token:
            raise CommandError("NO_USER_TOKEN")
        digest = store.token_hash(token)
        user_id = self._users.get(digest)
        if user_id is None:
            user_id = self.db.read_now(partial(store.user_of, digest=digest))
            if user_id is None:
                raise CommandError("NO_USER_WAS_FOUND")
            self._users[digest] = user_id  # tokens never change owner: safe to keep
            if len(self._users) > TOKEN_CACHE:
                self._users.popitem(last=False)
        return user_id

    def profile(self, user_id: int, token: str) -> msgspec.Raw:
        return self.db.read_now(partial(store.profile, user_id=user_id, token=token))


commands: Commands[Garage] = Commands()
Ctx = Context[Garage, Any]


def error_events(event: str, transaction: str | None, message: str) -> list[tuple[str, Any]]:
    return [("_error", message)]


class Authed(msgspec.Struct):
    token: Token | None = None


class Registration(msgspec.Struct):
    device: Literal["iOS", "android"]
    token: Token | None = None


@commands.command("register_command", Registration, aliases=("register",))
async def register(ctx: Ctx) -> Any:
    given = ctx.data.token
    chosen = given if given is not None and 32 <= len(given) <= 128 else None

    def create(connection: Any) -> tuple[int, str]:
        token = chosen
        if token is None or store.token_taken(connection, store.token_hash(token)):
            token = secrets.token_urlsafe(32)
        return store.register(connection, store.token_hash(token), ctx.data.device), token

    user_id, token = await ctx.db.write(create)
    return Emitted("profile", {"user": ctx.services.profile(user_id, token)})


@commands.command("login_command", Authed, aliases=("super_event",))
async def login(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    return Emitted("profile", {"user": ctx.services.profile(user_id, ctx.data.token)})


@commands.command("profile", Authed)
async def profile(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    return Emitted("profile", {"user": ctx.services.profile(user_id, ctx.data.token)})


@commands.command("user_cars", Authed)
async def user_cars(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    cars = ctx.db.read_now(partial(store.cars, user_id=user_id))
    return Emitted("user_cars", {"cars": cars})


class CurrencyGrant(Authed, kw_only=True):
    type: Literal["money", "gold", "event"]
    amount: int | float


@commands.command("add_currency", CurrencyGrant)
async def add_currency(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    amount = ctx.data.amount
    if not float(amount).is_integer() or not 0 < amount <= ctx.services.max_grant:
        raise CommandError(f"amount must be a whole number from 1 to {ctx.services.max_grant}")
    await ctx.db.write(
        partial(store.add_currency, user_id=user_id, kind=ctx.data.type, amount=int(amount))
    )
    return Emitted("profile", "CURRENCY_ADDED")


class CarChoice(Authed, kw_only=True):
    car_id: Id


@commands.command("buy_car", CarChoice)
async def buy_car(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    answer = await ctx.db.write(partial(store.buy_car, user_id=user_id, car_id=ctx.data.car_id))
    return Emitted("buy_car", answer)


class CarUpgrade(CarChoice, kw_only=True):
    upgrade_type: Literal["engine", "suspension", "grip", "downforce"]


@commands.command("car_upgrade", CarUpgrade, aliases=("car_upgraded",))
async def car_upgrade(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    done = await ctx.db.write(
        partial(
            store.upgrade_car, user_id=user_id, car_id=ctx.data.car_id, part=ctx.data.upgrade_type
        )
    )
    return Emitted("status", {"status": "CAR_UPGRADED" if done else "RELOAD"})


class SkinChoice(CarChoice, kw_only=True):
    skin_id: Id


@commands.command("car_skin_changed", SkinChoice)
async def car_skin_changed(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    done = await ctx.db.write(
        partial(
            store.change_skin, user_id=user_id, car_id=ctx.data.car_id, skin_id=ctx.data.skin_id
        )
    )
    return Emitted("status", {"status": "SKIN_CHANGED" if done else "RELOAD"})


class IconChoice(Authed, kw_only=True):
    icon_id: Id


@commands.command("icon_changed", IconChoice)
async def icon_changed(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    done = await ctx.db.write(partial(store.change_icon, user_id=user_id, icon_id=ctx.data.icon_id))
    return Emitted("update_icon", {"icons": "ICON_CHANGED"} if done else {"_error": "RELOAD"})


class FinishedLevel(Authed, kw_only=True):
    stars: Annotated[int, msgspec.Meta(ge=0, le=3)]
    time: Annotated[float, msgspec.Meta(gt=0, le=10**7)]
    level_number: Annotated[int, msgspec.Meta(ge=1, le=10**6)]
    level_type: Annotated[str, msgspec.Meta(max_length=64)] | int = "adventure"


@commands.command("adventure_level_finished", FinishedLevel, aliases=("level_finished",))
async def level_finished(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    data = ctx.data
    level = await ctx.db.write(
        partial(
            store.finish_level,
            user_id=user_id,
            number=data.level_number,
            kind=str(data.level_type),
            stars=data.stars,
            seconds=data.time,
        )
    )
    return Emitted("adventure_level", {"level": level})


class Query(msgspec.Struct):
    model: Annotated[str, msgspec.Meta(max_length=64)]
    attributes: (
        Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=32)]
        | None
    ) = None
    token: Token | None = None


@commands.command("query_command", Query, aliases=("query",))
async def query(ctx: Ctx) -> Any:
    model = ctx.data.model
    columns = store.PUBLIC_MODELS.get(model)
    if columns is None:
        refusal = "REJECTED_MODEL" if model in store.PRIVATE_MODELS else "MODEL_NOT_FOUND"
        return Emitted("_error", {"error": refusal})
    attributes = tuple(ctx.data.attributes or columns)
    if not set(attributes) <= set(columns):
        return Emitted("_error", {"error": "ATTRIBUTE_NOT_FOUND"})
    rows = await ctx.db.read(partial(store.query, model=model, attributes=attributes))
    return Emitted("query", {"model": model, "attributes": list(attributes), model: rows})


class ContainerChoice(Authed, kw_only=True):
    container_id: Id


@commands.command("drop", ContainerChoice)
async def drop(ctx: Ctx) -> Any:
    user_id = ctx.services.user(ctx.data.token)
    opened = await ctx.db.write(
        partial(
            store.open_container,
            user_id=user_id,
            container_type=ctx.data.container_id,
            rng=ctx.services.rng,
        )
    )
    if opened is None:
        return Emitted("_error", {"error": "NO_READY_CONTAINER"})
    return Emitted("drop", opened)


class ClientVersion(msgspec.Struct):
    version: Annotated[str, msgspec.Meta(pattern=r"^\d{1,6}(\.\d{1,6}){0,3}$")]


@commands.command("status", ClientVersion)
async def status(ctx: Ctx) -> Any:
    fresh = _version(ctx.data.version) >= ctx.services.min_version
    return Emitted("status", {"status": "CORRECT_VERSION" if fresh else "LOW_VERSION"})


def _version(text: str) -> tuple[int, ...]:
    """ "1.10.2" -> (1, 10, 2, 0): compared part by part, missing parts zero."""
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (4 - len(parts)))
