"""`CircuitBreaker`: stop calling a component that keeps failing, and try it again later.

A breaker guards one component (a model endpoint, a tool) and is shared process-wide by key (`shared`), so two
`Model` objects for the same endpoint see the same failures. Its states:

    closed --(failure_threshold retryable failures in a row)--> open --(reset_timeout)--> half_open
    half_open --(the one trial call succeeds)--> closed;   half_open --(it fails)--> open

Open, a call fails at once with `CIRCUIT_OPEN` and sends nothing. Half-open, one trial call goes through and the
others are refused until it answers. Only retryable failures (timeouts, rate limits, 5xx, lost connections) count:
a validation error or a refused key says nothing about the component's health, and neither does a cancelled call.

Closed but not trusted (no success since the last failure, or none yet), a breaker that holds back (models' do) lets
at most `failure_threshold - failures` calls be in flight at once, and further calls wait for one of them to answer:
so a burst of concurrent calls against a dead endpoint sends at most `failure_threshold` requests, while a healthy
endpoint, trusted after its first success, is never throttled. Tools' breakers do not hold back: a tool's calls may
wait on each other (two halves of a rendezvous), and holding one back could then hang both.

The breaker knows no hub: `acquire` and `settle` return the state change they caused, and the caller `report`s it
to the hub it runs in (a `circuit:*` event, a metric) and to the log. State is kept under a threading lock:
callers may run on two event loops (the kernel's and mastra_nb's private one).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from .errors import ErrorKind, MastraError
from .events import CIRCUIT_CLOSED, CIRCUIT_HALF_OPEN, CIRCUIT_OPENED
from .redaction import guard

__all__ = ["CircuitBreaker", "CircuitState", "Permit", "report", "reset_shared", "shared"]

logger = guard(logging.getLogger("mastra_nb.circuit"))


class CircuitState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_EVENTS = {CircuitState.OPEN: CIRCUIT_OPENED, CircuitState.HALF_OPEN: CIRCUIT_HALF_OPEN,
           CircuitState.CLOSED: CIRCUIT_CLOSED}  # fmt: skip


class Permit:
    """Leave to make one call: hand it back to `settle` with the outcome. `changed` is the state this admission
    moved the breaker to (half-open, for a trial call), if any."""

    __slots__ = ("changed", "trial")

    def __init__(self, trial: bool, changed: CircuitState | None = None) -> None:
        self.trial = trial
        self.changed = changed


class CircuitBreaker:
    """Opens after `failure_threshold` retryable failures in a row; lets one trial call through `reset_timeout`
    seconds later (see the module docstring).

    Args:
        failure_threshold: consecutive retryable failures that open the breaker.
        reset_timeout: seconds the breaker stays open before a trial call.
        hold_back: while not trusted, keep calls in flight below the failures still needed to open (see the
            module docstring); False for components whose calls may wait on each other.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        *,
        hold_back: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise _invalid(f"`failure_threshold` must be an int >= 1, got {failure_threshold!r}.")
        if isinstance(reset_timeout, bool) or not isinstance(reset_timeout, (int, float)) or reset_timeout < 0:
            raise _invalid(f"`reset_timeout` must be a number of seconds >= 0, got {reset_timeout!r}.")
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self.hold_back = hold_back
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._trusted = False  # a success since the last failure: calls are not held back
        self._in_flight = 0  # calls admitted while closed and not settled yet
        self._trial = False  # the half-open trial call is under way
        self._opened_at = 0.0
        self._last_error = ""
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    # -- reading -----------------------------------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The state now: open turns half-open once `reset_timeout` has passed, even before a call asks."""
        with self._lock:
            if self._state is CircuitState.OPEN and self._retry_in() <= 0:
                return CircuitState.HALF_OPEN
            return self._state

    @property
    def failures(self) -> int:
        """Retryable failures in a row so far."""
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when it would now)."""
        with self._lock:
            return max(0.0, self._retry_in()) if self._state is CircuitState.OPEN else 0.0

    def _retry_in(self) -> float:
        return self._opened_at + self.reset_timeout - self._clock()

    # -- calls -------------------------------------------------------------------------------------------------

    def try_acquire(self, component: str) -> Permit | None:
        """A permit, or None when the call must wait for calls in flight to answer (closed, not trusted).

        Raises:
            MastraError: `CIRCUIT_OPEN` (system, retryable) when the breaker is open, or half-open with its
                trial call under way.
        """
        with self._lock:
            state = self._state
            if state is CircuitState.CLOSED:
                if self.hold_back and not self._trusted and self._failures + self._in_flight >= self.failure_threshold:
                    return None
                self._in_flight += 1
                return Permit(trial=False)
            if state is CircuitState.OPEN and self._retry_in() <= 0:
                self._state, self._trial = CircuitState.HALF_OPEN, True
                return Permit(trial=True, changed=CircuitState.HALF_OPEN)
            if state is CircuitState.HALF_OPEN and not self._trial:
                self._trial = True
                return Permit(trial=True)
            raise self._refusal(component)

    async def acquire(self, component: str) -> Permit:
        """A permit, waiting while calls in flight decide whether the component works (see `try_acquire`)."""
        while True:
            permit = self.try_acquire(component)
            if permit is not None:
                return permit
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            with self._lock:
                self._waiters.append((loop, waiter))
            permit = self.try_acquire(component)  # a call may have settled between the first look and the wait
            if permit is not None:
                waiter.cancel()
                return permit
            await waiter

    def settle(self, permit: Permit, outcome: BaseException | None) -> CircuitState | None:
        """Hand a permit back with its call's outcome (None: success); returns the state it moved the breaker to.

        Only a `MastraError` with `retryable=True` counts as a failure; other errors and cancellations are
        neutral (a half-open breaker then lets the next call be its trial)."""
        failed = isinstance(outcome, MastraError) and outcome.retryable
        neutral = outcome is not None and not failed
        changed: CircuitState | None = None
        with self._lock:
            if not permit.trial:
                self._in_flight -= 1
                if self._state is CircuitState.CLOSED and not neutral:  # outcomes of older calls are history
                    changed = self._closed_outcome(failed, outcome)
            elif neutral:
                self._trial = False
            elif failed:
                self._open(outcome)
                changed = CircuitState.OPEN
            else:
                self._state, self._trial, self._failures, self._trusted = CircuitState.CLOSED, False, 0, True
                changed = CircuitState.CLOSED
            waiters = self._waiters
            if waiters:
                self._waiters = []
        for loop, waiter in waiters:
            try:
                loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # that loop is closed: its waiter is gone with it
                pass
        return changed

    def _closed_outcome(self, failed: bool, outcome: BaseException | None) -> CircuitState | None:
        if not failed:
            self._failures, self._trusted = 0, True
            return None
        self._failures += 1
        self._trusted = False
        if self._failures < self.failure_threshold:
            return None
        self._open(outcome)
        return CircuitState.OPEN

    def _open(self, error: BaseException | None) -> None:
        self._state, self._trial, self._opened_at = CircuitState.OPEN, False, self._clock()
        self._last_error = getattr(error, "code", "") or type(error).__name__

    def reset(self) -> None:
        """Close the breaker and forget its failures (after fixing the component by hand, say)."""
        with self._lock:
            self._state, self._failures, self._trusted, self._trial = CircuitState.CLOSED, 0, False, False

    def _refusal(self, component: str) -> MastraError:
        wait = max(0.0, self._retry_in()) if self._state is CircuitState.OPEN else 0.0
        at = datetime.now(timezone.utc) + timedelta(seconds=wait)
        if self._state is CircuitState.OPEN:
            when = f"until {at:%H:%M:%S} UTC (in {wait:.1f} s), when one trial call is let through"
        else:
            when = "until the trial call under way answers"
        return MastraError(
            ErrorKind.SYSTEM, "CIRCUIT_OPEN",
            f"{component} failed {self._failures} times in a row ({self._last_error}), so its circuit breaker is "
            f"open: calls fail at once, without being sent, {when}. Add fallbacks, or `reset()` the breaker once "
            "the component works again.",
            details={"component": component, "state": self._state.value, "failures": self._failures,
                     "last_error": self._last_error, "retry_at": at.isoformat(), "retry_in_s": round(wait, 3)},
            retryable=True,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker({self.state.value}, failures={self._failures}/{self.failure_threshold}, "
            f"reset_timeout={self.reset_timeout})"
        )


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _invalid(message: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, "CIRCUIT_BREAKER_INVALID", f"`CircuitBreaker`: {message}")


_SHARED: dict[Hashable, CircuitBreaker] = {}
_SHARED_LOCK = threading.Lock()


def shared(key: Hashable, *, hold_back: bool = True) -> CircuitBreaker:
    """The process's breaker for `key` (`("model", name, api_base)`, `("tool", id)`), made with the default
    threshold and timeout on first use. Process state by nature: the endpoint it guards is shared by every hub of
    the process."""
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = _SHARED[key] = CircuitBreaker(hold_back=hold_back)
        return found


def reset_shared() -> int:
    """Close every shared breaker of the process (and forget its failures); returns how many there were. For a
    notebook whose endpoint is fixed and should be tried again at once, and for tests, between cases."""
    with _SHARED_LOCK:
        breakers = list(_SHARED.values())
    for breaker in breakers:
        breaker.reset()
    return len(breakers)


def report(changed: CircuitState | None, breaker: CircuitBreaker, kind: str, name: str, hub: Any, **extra: Any) -> None:
    """Tell of a state change: a log line, and on `hub` (when the component runs in one) a `circuit:*` event and
    `mastra_circuit_state_changes_total{component,id,state}`."""
    if changed is None:
        return
    payload = {"component": kind, "name": name, "state": changed.value, "failures": breaker.failures,
               "threshold": breaker.failure_threshold, "reset_timeout": breaker.reset_timeout, **extra}  # fmt: skip
    if changed is CircuitState.OPEN:
        payload["retry_in_s"] = round(breaker.retry_in(), 3)
        logger.warning("The circuit breaker of %s `%s` opened after %d failures in a row; calls fail at once for "
                       "%.1f s.", kind, name, breaker.failures, breaker.reset_timeout)  # fmt: skip
    else:
        logger.info("The circuit breaker of %s `%s` is %s.", kind, name, changed.value.replace("_", "-"))
    if hub is None:
        return
    events = getattr(hub, "events", None)
    if events is not None:
        events.emit(_EVENTS[changed], payload)
    metrics = getattr(hub, "metrics", None)
    if metrics is not None:
        metrics.circuit_changes.labels(kind, name, changed.value).inc()
