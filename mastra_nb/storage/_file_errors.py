"""What the file-backed stores say about a file they cannot use, in the same words: the command that moves a
damaged file (and the files its engine keeps beside it) aside, and the error for a read-only file or folder."""

from __future__ import annotations

import os
from pathlib import Path
from shlex import quote
from typing import Any

from ..errors import ErrorKind, MastraError

__all__ = ["move_aside", "not_writable"]


def move_aside(path: Path, companions: tuple[str, ...]) -> str:
    """The shell command that moves `path` and its `companions` (suffixes such as `.wal`: the engine's log of the
    file's last writes, which must go with it, never onto a new file) to `path.broken`, or `.broken2`, ... when an
    earlier one is there."""
    aside, n = Path(f"{path}.broken"), 1
    while aside.exists() or any(Path(f"{aside}{suffix}").exists() for suffix in companions):
        n += 1
        aside = Path(f"{path}.broken{n}")
    move = f"mv {quote(str(path))} {quote(str(aside))}"
    for suffix in companions:
        if Path(f"{path}{suffix}").exists():
            move += f" && mv {quote(f'{path}{suffix}')} {quote(f'{aside}{suffix}')}"
    return move


def not_writable(path: Path, engine: str, another_file: str, details: dict[str, Any]) -> MastraError:
    """`STORAGE_NOT_WRITABLE` for a read-only file, or for a folder `engine` cannot create its files in."""
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        problem = "is read-only: mastra_nb needs to read and write it"
        fix = f"make it writable (`chmod u+rw {quote(str(path))}`)"
    else:  # the file is missing, or the engine could not create its log beside it
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        problem = f"cannot be written: the folder {folder} is read-only ({engine} creates files there)"
        fix = f"make the folder writable (`chmod u+w {quote(str(folder))}`)"
    return MastraError(
        ErrorKind.SYSTEM,
        "STORAGE_NOT_WRITABLE",
        f"The storage file {path} {problem}. To fix it, {fix}, or use another file: {another_file}.",
        details=details,
    )
