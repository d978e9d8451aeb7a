"""The `mastra_nb` command (also `python -m mastra_nb`): `mastra_nb serve MODULE:ATTR` serves a hub over HTTP,
`mastra_nb keys create|list|revoke MODULE:ATTR` manages its API keys, `mastra_nb mcp MODULE:ATTR` serves it as an MCP
server over stdio.

An outer layer, like the notebook and the server: it starts them, and the core never imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import MastraError
from . import keys, mcp_command, serve

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: the process's); returns the exit status."""
    parser = argparse.ArgumentParser(prog="mastra_nb", description="mastra_nb: Mastra's agent framework, in Python.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_parser(commands)
    keys.add_parser(commands)
    mcp_command.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (serve.CommandError, MastraError) as error:  # a refusal says what to do; no traceback
        message = error.message if isinstance(error, MastraError) else str(error)
        print(f"mastra_nb {args.command}: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
