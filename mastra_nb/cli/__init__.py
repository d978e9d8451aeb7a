"""The `mastra_nb` command (also `python -m mastra_nb`): `mastra_nb serve MODULE:ATTR` serves a hub over HTTP.

An outer layer, like the notebook and the server: it starts them, and the core never imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import serve

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: the process's); returns the exit status."""
    parser = argparse.ArgumentParser(prog="mastra_nb", description="mastra_nb: Mastra's agent framework, in Python.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except serve.CommandError as error:
        print(f"mastra_nb {args.command}: {error}", file=sys.stderr)
        return 2
