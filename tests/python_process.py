"""A fresh Python process running a snippet, for tests of what another process sees: a file's lock, its
permissions. `without_root_override` runs it so that file permissions bind even when the tests run as root.
`offline_env` is the environment to give any child process (a kernel, nbconvert, a venv) that must not reach a
provider or read this shell's mastra_nb settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def offline_env(**extra: str) -> dict[str, str]:
    """This environment without provider keys or mastra_nb settings, and with `extra`."""
    env = {k: v for k, v in os.environ.items() if not (k.endswith("_API_KEY") or k.startswith("MASTRA_"))}
    return {**env, **extra}


def run_python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `code` (dedented) in a new Python that imports this checkout's mastra_nb; wait for it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def without_root_override(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a new Python that file permissions bind: as root, without the capabilities that let root read
    and write whatever the permissions say (dropped from the bounding set, which an `exec` then applies)."""
    if os.geteuid() != 0:
        return run_python(code)
    result = run_python(
        f"""
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2
        if any(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)):
            sys.exit(77)
        os.execv(sys.executable, [sys.executable, "-c", {textwrap.dedent(code)!r}])
        """
    )
    if result.returncode == 77:
        pytest.skip("runs as root, and cannot drop the capability that lets root write read-only files")
    return result
