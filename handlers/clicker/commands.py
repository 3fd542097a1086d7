"""Click & Cook's WebSocket commands: one function each, registered by name.

Every request's data carries `token` (checked by `Game.guard` before any of
these run); `upgrade_buy` also carries `id`, a number or a string of digits.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import msgspec

from handlers.clicker import rules
from handlers.clicker.game import Ctx, Game
from realtime.commands import Commands

commands: Commands[Game] = Commands()


class Authed(msgspec.Struct):
    """Every request's data carries the access token."""

    token: str = ""


UpgradeId = (
    Annotated[int, msgspec.Meta(ge=0, le=2**31)]
    | Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,10}$")]
)


class UpgradeChoice(Authed, kw_only=True):
    id: UpgradeId


@commands.command("session", Authed)
async def session(ctx: Ctx) -> Any:
    return await ctx.services.open_session(ctx)


@commands.command("cook", Authed)
async def cook(ctx: Ctx) -> Any:
    return await ctx.services.play(ctx, rules.cook)


@commands.command("sell", Authed)
async def sell(ctx: Ctx) -> Any:
    return await ctx.services.play(ctx, rules.sell)


@commands.command("upgrade_buy", UpgradeChoice)
async def upgrade_buy(ctx: Ctx) -> Any:
    buy = partial(rules.buy, catalogue=ctx.services.catalogue, upgrade_id=int(ctx.data.id))
    return await ctx.services.play(ctx, buy)


@commands.command("upgrade_list", Authed)
async def upgrade_list(ctx: Ctx) -> Any:
    return rules.upgrade_lists(ctx.services.progress_of(ctx), ctx.services.catalogue)


@commands.command("level_check", Authed)
async def level_check(ctx: Ctx) -> Any:
    return rules.level_check(ctx.services.progress_of(ctx), ctx.services.catalogue)


@commands.command("level_up", Authed)
async def level_up(ctx: Ctx) -> Any:
    return await ctx.services.play(ctx, partial(rules.level_up, catalogue=ctx.services.catalogue))


@commands.command("session_reset", Authed)
async def session_reset(ctx: Ctx) -> Any:
    return await ctx.services.play(ctx, partial(rules.reset, catalogue=ctx.services.catalogue))


@commands.command("passive", Authed)
async def passive(ctx: Ctx) -> Any:
    """A client's `passive` changes nothing: it gets the current passive snapshot."""
    return rules.passive_snapshot(ctx.services.progress_of(ctx))
