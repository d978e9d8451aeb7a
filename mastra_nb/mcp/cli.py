"""`mastra_nb mcp MODULE:ATTR`: the hub as an MCP server over stdio, for MCP clients that launch their servers
(desktop assistants, IDEs). Its logs go to stderr: stdout carries the protocol. Such clients start their servers in
a folder of their own choosing, so `--dir FOLDER` says where the module (and the hub's relative paths) are."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from .._target import CommandError, hub_of
from ..telemetry.logs import configure_logging
from .server import MCPServer

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    about = "The hub's tools, agents and workflows as MCP tools, over stdio."
    parser = commands.add_parser("mcp", help="Serve a hub as an MCP server over stdio.", description=about)
    parser.add_argument("target", metavar="MODULE:ATTR", help="the hub: a `Mastra` object or a function returning one")
    parser.add_argument("--id", default="mastra", help="the server's id and name (default mastra)")
    parser.add_argument("--dir", metavar="FOLDER", help="the folder to import MODULE from and run in (default: here)")
    parser.add_argument("--log-level", default="WARNING", help="the least severe log level on stderr")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level.upper())  # to stderr, never stdout
    if args.dir:
        try:
            os.chdir(args.dir)
        except OSError as error:
            raise CommandError(f"--dir {args.dir}: {error.strerror}.") from None
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    hub = await hub_of(args.target)
    try:
        await MCPServer(hub, id=args.id).serve_stdio()
    finally:
        await hub.shutdown()
    return 0
