"""`python -m mastra_nb ...` and the `mastra_nb` command: `serve` and `keys` (the server layer), `mcp` (the MCP layer).

An entry point, like the package's `__init__`: the one place that gathers the outer layers' commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._target import CommandError
from .errors import MastraError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: the process's); returns the exit status."""
    from .mcp import cli as mcp_cli
    from .server import keys_cli, serve_cli

    parser = argparse.ArgumentParser(prog="mastra_nb", description="mastra_nb: Mastra's agent framework, in Python.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_cli.add_parser(commands)
    keys_cli.add_parser(commands)
    mcp_cli.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (CommandError, MastraError) as error:  # a refusal says what to do; no traceback
        message = error.message if isinstance(error, MastraError) else str(error)
        print(f"mastra_nb {args.command}: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
