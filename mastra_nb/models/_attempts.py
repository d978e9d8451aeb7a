"""The one path of a model call, which `Model.complete` and `Model.stream` both walk, so they cannot drift apart.

`Call.replayed()` answers from a recording when there is one; otherwise `Call.attempts()` yields one `Attempt` per
try, model by model (the model, then each fallback) and attempt by attempt:

    async with call.attempts() as attempts:
        async for attempt in attempts:
            with attempt:
                attempt.response = await attempt.model._send(attempt.kwargs)
    await call.record(attempts.response, deltas)

Before each try the model's circuit breaker is asked for leave: an open breaker skips to the next model at once,
sending nothing. After a failed try the iterator decides: a retryable error is retried after a backoff with jitter,
any other error (or retries spent) moves on to the next fallback, and the last model's error is raised. A streamed
try that has given text deltas cannot be taken back: its failure is raised as is (`Attempt.committed`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..circuit import Permit, report
from ..errors import ErrorKind, MastraError
from ..redaction import guard
from ..telemetry import spans
from .recording import Recorder, Recording, normalized, request_key
from .types import ModelRequest, ModelResponse

if TYPE_CHECKING:
    from .model import Model

__all__ = ["Attempt", "Attempts", "Call"]

logger = guard(logging.getLogger("mastra_nb.models"))


class Attempt:
    """One try of one model: the consumer sends `kwargs`, sets `response`, and leaves the `with` block; an error
    raised inside is kept (`error`) for the iterator to decide on, and settles the model's circuit breaker."""

    def __init__(self, model: Model, number: int, kwargs: dict[str, Any], permit: Permit | None, hub: Any) -> None:
        self.model = model
        self.number = number
        self.kwargs = kwargs
        self.response: ModelResponse | None = None
        self.error: MastraError | None = None
        self.committed = False  # a streamed try gave deltas: its failure can no longer be retried or replaced
        self._permit = permit
        self._hub = hub

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, raised: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if isinstance(raised, MastraError):
            error = self.error = self.model._refine(raised)
            self._settle(error)
            if not self.committed:
                return True  # kept for the iterator: retry, fall back or raise
            if error is not raised:
                raise error from raised
            return False  # deltas already given cannot be taken back
        if raised is None and self.response is None:
            self.error = MastraError(
                ErrorKind.EXECUTION, "MODEL_CALL_FAILED",
                f"Model `{self.model.name}` ended its answer without a response.", details={"model": self.model.name},
            )  # fmt: skip
        self._settle(raised if raised is not None else self.error)
        return False

    def _settle(self, outcome: BaseException | None) -> None:
        breaker = self.model.circuit_breaker
        if breaker is None or self._permit is None:
            return
        changed = breaker.settle(self._permit, outcome)
        report(changed, breaker, "model", self.model.name, self._hub, api_base=self.model.api_base)


class Attempts:
    """The tries of one call (see the module docstring); `response` is the answer once iteration ends."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.response: ModelResponse | None = None
        self._tries: AsyncGenerator[Attempt, None] = self._walk()

    async def __aenter__(self) -> Attempts:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._tries.aclose()

    def __aiter__(self) -> AsyncIterator[Attempt]:
        return self._tries

    async def _walk(self) -> AsyncGenerator[Attempt, None]:
        call = self.call
        chain = (call.model, *call.model.fallbacks)
        error: MastraError | None = None
        for position, model in enumerate(chain):
            if position:
                _log_fallback(chain[position - 1], error, model)
            for number in range(1, model.retries.attempts + 1):
                if number > 1:
                    delay = model.retries.delay(number - 1)
                    _log_retry(model, number - 1, error, delay)
                    await asyncio.sleep(delay)
                permit: Permit | None = None
                if model.circuit_breaker is not None:
                    try:
                        permit = await model.circuit_breaker.acquire(f"Model `{model.name}`")
                    except MastraError as refused:  # open: the next model, at once
                        error = refused
                        break
                    report(permit.changed, model.circuit_breaker, "model", model.name, call.hub,
                           api_base=model.api_base)  # fmt: skip
                attempt = Attempt(model, number, model._kwargs(call.request, call.timeout), permit, call.hub)
                yield attempt
                if attempt.response is not None:
                    self.response = attempt.response
                    return
                error = attempt.error
                if error is None or not error.retryable:
                    break
        assert error is not None, "a model chain has at least one model"
        raise error


class Call:
    """One call of `model` for `request`: its recording key, its replay and record, its attempts."""

    def __init__(
        self, model: Model, request: ModelRequest, timeout: float | None, recorder: Recorder | None, span: Any
    ) -> None:
        self.model = model
        self.request = request
        self.timeout = timeout
        self.recorder = recorder if recorder is not None and recorder.mode != "off" else None
        # The hub the call runs in (the one its span reports to): state changes of breakers are announced there.
        self.hub = span.telemetry.hub
        self.key: str | None = None
        self.request_json: dict[str, Any] = {}
        if self.recorder is not None:
            self.request_json = normalized(model.name, model.options, request)
            self.key = request_key(self.request_json)

    async def replayed(self) -> Recording | None:
        """The recording to answer with, if the recorder replays and has one.

        Raises:
            MastraError: `MODEL_RECORDING_MISSING` in replay mode when there is none.
        """
        recorder = self.recorder
        if recorder is None or self.key is None or not recorder.replays:
            return None
        recording = await recorder.lookup(self.key)
        if recording is None and recorder.mode == "replay":
            raise recorder.missing(self.key, self.request_json)
        return recording

    def attempts(self) -> Attempts:
        return Attempts(self)

    async def record(self, response: ModelResponse, deltas: Sequence[str] | None) -> None:
        """Store the answer, when the recorder records."""
        if self.recorder is not None and self.key is not None and self.recorder.records:
            await self.recorder.save(
                self.key, self.request_json, response, list(deltas) if deltas is not None else None
            )


def _log_retry(model: Model, number: int, error: MastraError | None, delay: float) -> None:
    logger.warning("Model `%s` attempt %d failed (%s); retrying in %.2f s.", model.name, number, error, delay)
    spans.event("retry", model=model.name, attempt=number, error=str(error), delay_s=delay)


def _log_fallback(model: Model, error: MastraError | None, to: Model) -> None:
    logger.warning("Model `%s` failed (%s); falling back to `%s`.", model.name, error, to.name)
    spans.event("fallback", model=model.name, to=to.name, error=str(error))
