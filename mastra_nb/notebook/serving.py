"""`%mastra serve`: the kernel's own hub over HTTP, in the background, while the notebook goes on.

The server runs on mastra_nb's private event loop (`_async.background_loop`, a daemon thread), not on the
kernel's: so it answers while the kernel is idle, while a cell awaits, and while a cell runs blocking code too
(between the Python bytecodes that thread gets to run). It serves the hub's objects themselves: an agent defined in
a cell after `%mastra serve` is served at once, over Mastra's REST dialect and, with the `mcp` extra, as an MCP
server at `{prefix}/mcp/mastra/mcp` (so a prototype is reachable from any MCP client). Stopping it (or
`%mastra reset`, or the kernel's end) leaves the hub as it is: the notebook owns the hub, not the server.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._async import background_loop, submit
from ._errors import MagicError

if TYPE_CHECKING:
    import concurrent.futures

    from ..mastra import Mastra

__all__ = ["NotebookServer"]

_START_TIMEOUT = 15.0  # seconds


class NotebookServer:
    """A uvicorn server of one hub on the private loop; `url` once started."""

    def __init__(self, hub: Mastra, host: str, port: int, prefix: str = "/api") -> None:
        try:
            import uvicorn
        except ImportError:
            raise MagicError("`%mastra serve` needs the server extra: pip install 'mastra_nb[server]'.") from None
        from ..server import create_app

        self.hub, self.prefix = hub, prefix
        self.app = create_app(hub, prefix=prefix, mcp_servers=_mcp_servers(hub))
        config = uvicorn.Config(self.app, host=host, port=port, log_config=None, lifespan="on")

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # Ctrl+C and SIGTERM are the kernel's (an interrupted cell must not stop the server)

        self._server = Server(config)
        self._future: concurrent.futures.Future[None] | None = None
        self.url = ""

    def start(self) -> str:
        """Start serving; returns the base URL (`http://host:port`) once the socket listens.

        Raises:
            MagicError: the port is taken (or uvicorn could not start), with what uvicorn said.
        """
        self._future = submit(self._server.serve())
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if self._future.done() or time.monotonic() > deadline:
                error = self._future.exception() if self._future.done() else None
                self.stop()
                why = f": {error}" if error is not None else " (the port may be in use)"
                raise MagicError(f"The server did not start{why}. Try another port: `%mastra serve --port N`.")
            time.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving: open streams end with a last chunk, requests in flight get `timeout` seconds."""
        if self._future is None:
            return
        # On the private loop, where the draining event's waiters are (an asyncio event is not thread-safe).
        background_loop().call_soon_threadsafe(self.app.state.operations.draining.set)
        self._server.should_exit = True
        done = threading.Event()
        self._future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            self._server.force_exit = True
            done.wait(timeout)

    def describe(self) -> str:
        mcp = f"; MCP: {self.url}{self.prefix}/mcp/mastra/mcp" if self.app.state.mcp else ""
        return f"{self.url}{self.prefix} (docs: {self.url}{self.prefix}/docs{mcp})"

    def __repr__(self) -> str:
        return f"NotebookServer({self.describe() if self.running else 'stopped'})"


def _mcp_servers(hub: Mastra) -> list[Any]:
    """The kernel's hub as an MCP server too (`{prefix}/mcp/mastra/mcp`), when the `mcp` extra is installed."""
    try:
        import mcp  # noqa: F401 - only whether it is there
    except ImportError:
        return []
    from ..mcp import MCPServer

    return [MCPServer(hub)]


def serving_note(server: Any) -> str:
    """A line for `%mastra`'s overview: where the hub is served, or nothing."""
    return f"Served at {server.describe()}" if server is not None and server.running else ""
