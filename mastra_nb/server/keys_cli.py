"""`mastra_nb keys create|list|revoke MODULE:ATTR ...`: the API keys of a served hub, in its storage.

A key is printed once, when it is made; the hub keeps only a salted hash of it (`server/keys.py`).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

from .._target import CommandError, hub_of

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    about = "The API keys of the hub MODULE:ATTR names (its storage keeps them)."
    parser = commands.add_parser("keys", help="Create, list and revoke the API keys of a hub.", description=about)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="Make a key; it is printed once.")
    create.add_argument("target", metavar="MODULE:ATTR")
    create.add_argument("--owner", required=True, help="the user id the key acts as")
    create.add_argument("--role", action="append", default=[], help="a role of the key (repeat for several)")
    create.add_argument("--resource", help="the memory resource (tenant) the key is confined to")
    create.add_argument("--expires-days", type=float, help="days until the key stops working")
    listing = actions.add_parser("list", help="List the keys (never their secrets).")
    listing.add_argument("target", metavar="MODULE:ATTR")
    revoke = actions.add_parser("revoke", help="Revoke a key at once.")
    revoke.add_argument("target", metavar="MODULE:ATTR")
    revoke.add_argument("key_id", metavar="KEY_ID")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    hub = await hub_of(args.target)
    try:
        keys = _keys()(hub)
        if args.action == "create":
            if args.expires_days is not None and args.expires_days <= 0:
                raise CommandError(f"--expires-days must be more than 0, got {args.expires_days}.")
            expires = (datetime.now(timezone.utc) + timedelta(days=args.expires_days)) if args.expires_days else None
            key, info = await keys.create(args.owner, roles=args.role, resource_id=args.resource, expires_at=expires)
            print(key)
            print(f"key {info.key_id} for {info.owner}: keep it now, it is not shown again", flush=True)
        elif args.action == "list":
            for info in await keys.list():
                state = "active" if info.active else ("revoked" if info.revoked_at else "expired")
                expiry = info.expires_at.isoformat() if info.expires_at else "never"
                print(f"{info.key_id}  {info.owner}  roles={','.join(info.roles) or '-'}  "
                      f"resource={info.resource_id or '-'}  expires={expiry}  {state}")  # fmt: skip
        elif not await keys.revoke(args.key_id):
            raise CommandError(f"no working key `{args.key_id}` (see `mastra_nb keys list {args.target}`).")
        else:
            print(f"key {args.key_id} revoked")
        return 0
    finally:
        await hub.shutdown()


def _keys() -> Any:
    """`APIKeys`, which needs the server extra (its keys authenticate requests)."""
    try:
        from .keys import APIKeys
    except ImportError as error:
        raise CommandError(
            f"`mastra_nb keys` needs the server extra: pip install 'mastra_nb[server]' ({error})."
        ) from None
    return APIKeys
