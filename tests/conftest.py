"""Shared fixtures: the OpenAI-compatible test server, and models pointed at it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from openai_server import OpenAIServer

from mastra_nb.circuit import reset_shared
from mastra_nb.models import Model, aclose_clients
from mastra_nb.retry import RetryPolicy

FAST_RETRIES = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.005, jitter=0)


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture
async def openai_server(_shared_server: OpenAIServer) -> AsyncIterator[OpenAIServer]:
    """The test server with an empty script and request log. Its clients are closed before the test's loop ends."""
    _shared_server.reset()
    yield _shared_server
    await aclose_clients()


@pytest.fixture(autouse=True)
def _no_default_hub_after_the_test() -> Iterator[None]:
    """A test that binds magics sets the kernel's default hub (the one unregistered workflows run on); it must not
    reach the next test, even when the test fails before its own clean-up."""
    yield
    from mastra_nb.mastra import set_default_hub

    set_default_hub(None)


@pytest.fixture(autouse=True)
def _breakers_closed_after_the_test() -> Iterator[None]:
    """Circuit breakers are shared process-wide by model endpoint and tool id (the test server's endpoint is one
    for the session): a breaker a test opened must not refuse the next test's calls."""
    yield
    reset_shared()


@pytest.fixture
def make_model(openai_server: OpenAIServer) -> Callable[..., Model]:
    """`make_model("gpt-test", **options)`: a `Model` reaching the test server, with fast retries."""

    def make(name: str = "gpt-test", **options: Any) -> Model:
        options.setdefault("retries", FAST_RETRIES)
        return Model(f"openai/{name}", api_base=openai_server.url, api_key="test-key", **options)

    return make


def pytest_configure(config: pytest.Config) -> None:
    # Warnings litellm itself causes, on every call or on first use of some of its types; not ours to fix, and
    # `filterwarnings = error` would turn them into failures inside litellm. (`models.load_litellm` silences
    # the same ones for users; pytest resets warning filters around each test, so they are repeated here.)
    config.addinivalue_line("filterwarnings", r"ignore::DeprecationWarning:litellm\..*")
    config.addinivalue_line(
        "filterwarnings", r"ignore:Items? '.*' on TypedDict class '.*' (is|are) using the `ReadOnly`:UserWarning"
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    # tests/test_run_properties.py: run the property suite with fresh random seeds for about this many seconds
    parser.addoption("--soak", default="0", help="seconds to soak the run property suite (default: a fixed budget)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # tests/test_fuzz.py tallies its calls and tests/test_secrets.py what it scanned: the figures their issue asks
    # for, printed where a person reads them
    scanned = getattr(sys.modules.get("test_secrets"), "SCANNED", None)
    if scanned:
        terminalreporter.write_line(
            f"secrets scan: {scanned['files']} files ({scanned['bytes']:,} bytes), {scanned['log_lines']} log lines "
            f"and {scanned['shown']} shown errors read, 0 hits (a hit fails its test)"
        )
    fuzz = sys.modules.get("test_fuzz")
    tally = getattr(fuzz, "TALLY", None)
    if tally:
        terminalreporter.write_line(
            f"fuzz: {tally['tried']} calls tried, {tally['refused cleanly']} refused cleanly, "
            f"{tally['accepted']} accepted, {tally['unclear']} unclear (an unclear outcome fails its test)"
        )
