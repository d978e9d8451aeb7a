"""Real kernels for the tests, started as Jupyter Server starts a notebook's, and code run in them as a notebook
cell would be (not a test module)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel
from python_process import offline_env


@contextmanager
def notebook_kernels(folder: Path, *notebooks: str, **env: str) -> Iterator[list[Any]]:
    """A python3 kernel in `folder` for each of `notebooks`, each told its notebook the way Jupyter Server does
    (`JPY_SESSION_NAME`), offline (`offline_env`, and `env`); yields their clients and shuts the kernels down."""
    kernels: list[tuple[Any, Any]] = []
    try:
        for name in notebooks:
            session = offline_env(JPY_SESSION_NAME=str(folder / name), **env)
            kernels.append(start_new_kernel(kernel_name="python3", cwd=str(folder), env=session))
        yield [client for _, client in kernels]
    finally:
        for manager, client in kernels:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def execute(client: Any, code: str, timeout: float = 180, status: str = "ok") -> str:
    """Run `code` in the kernel of `client` and return what it printed (its streams, an error's traceback); the
    test fails unless the kernel's reply has `status` ("ok", or "error" for code that must fail)."""
    printed: list[str] = []

    def hook(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append("\n".join(message["content"]["traceback"]))

    reply = client.execute_interactive(code, timeout=timeout, output_hook=hook)
    assert reply["content"]["status"] == status, "".join(printed)
    return "".join(printed)
