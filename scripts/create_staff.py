"""Create or update a staff account of the orders app.

    python -m scripts.create_staff --email boss@example.com --role admin|ceo|manager \
        [--cities 1,2] [--password '...'] [--config FILE]...

Without --password it asks for one (so it stays out of the shell history and
the process list). A manager needs at least one city. Running it again for the same email sets
the new password, role and cities. The password must pass the same policy as
everyone's (config: accounts.min_password_length).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from functools import partial
from pathlib import Path

import trio

import settings as settings_module
from handlers.accounts import PasswordHasher
from handlers.accounts.passwords import password_problem
from handlers.orders import store
from storage import open_database


async def create(config: settings_module.Settings, args: argparse.Namespace) -> int:
    hasher = PasswordHasher(
        cost=config.accounts.bcrypt_cost, key=config.secrets.password_key.encode()
    )
    hashed = await hasher.hash(args.password)
    async with open_database(Path(config.storage.path)) as db:
        return await db.write(
            partial(
                store.make_staff,
                email=args.email.strip(),
                password_hash=hashed,
                role=args.role,
                cities=args.cities,
                now=int(time.time()),
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", help="asked for when not given")
    parser.add_argument("--role", required=True, choices=store.STAFF_ROLES)
    parser.add_argument(
        "--cities", default=[], type=lambda text: [int(c) for c in text.split(",") if c.strip()]
    )
    parser.add_argument("--config", action="append", type=Path, default=[])
    args = parser.parse_args(argv)
    config = settings_module.load(args.config)
    if args.password is None:
        args.password = getpass.getpass(f"password for {args.email}: ")
    problem = password_problem(args.password, min_length=config.accounts.min_password_length)
    if problem is not None:
        parser.error(problem)
    if args.role == "manager" and not args.cities:
        parser.error("a manager needs --cities")
    try:
        user_id = trio.run(create, config, args)
    except Exception as error:  # e.g. a city that does not exist
        print(f"create_staff: {error}", file=sys.stderr)
        return 1
    print(f"staff account {user_id}: {args.email} ({args.role}, cities {args.cities or 'all'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
