"""Retries with exponential backoff and jitter, shared by tools, workflow steps and model calls.

Only errors that say retrying can help are retried: a `MastraError` with `retryable=True`, except an open circuit
breaker's `CIRCUIT_OPEN`, which would refuse again until its reset time (later than any backoff here). Control-flow
signals and other exceptions pass straight through on the first attempt.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import ErrorKind, MastraError

__all__ = ["RetryPolicy", "as_policy", "retry_async"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Args:
        attempts: total tries, the first included (1 means no retry).
        base_delay: seconds before the first retry; each later one doubles it.
        max_delay: the cap on any one delay.
        jitter: the fraction of each delay drawn at random, so that many callers do not retry in step.
    """

    attempts: int = 1
    base_delay: float = 0.2
    max_delay: float = 10.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0 or not 0 <= self.jitter <= 1:
            raise MastraError(
                ErrorKind.VALIDATION,
                "RETRY_POLICY_INVALID",
                "`RetryPolicy` needs attempts >= 1, delays >= 0 and 0 <= jitter <= 1, "
                f"got attempts={self.attempts}, base_delay={self.base_delay}, "
                f"max_delay={self.max_delay}, jitter={self.jitter}.",
            )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return backoff * (1 - self.jitter) + backoff * self.jitter * random.random()


def as_policy(retries: RetryPolicy | int | None, code: str, subject: str) -> RetryPolicy:
    """The policy a `retries=` argument means: a `RetryPolicy` as is, an int n as n retries after the first
    attempt, None as no retry. Anything else raises a validation error with `code`, naming `subject`."""
    if retries is None:
        return RetryPolicy()
    if isinstance(retries, RetryPolicy):
        return retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise MastraError(
            ErrorKind.VALIDATION,
            code,
            f"{subject}: `retries` must be a `RetryPolicy` or a number of retries >= 0, got {retries!r}.",
        )
    return RetryPolicy(attempts=retries + 1)


async def retry_async(
    attempt: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[int, MastraError, float], None] | None = None,
) -> T:
    """Call `attempt(n)` for n = 1, 2, ... until it succeeds, fails for good, or attempts run out.

    `on_retry(n, error, delay)` is told about each failed attempt that will be retried.
    """
    for number in range(1, policy.attempts + 1):
        try:
            return await attempt(number)
        except MastraError as error:
            if not error.retryable or error.code == "CIRCUIT_OPEN" or number == policy.attempts:
                raise
            delay = policy.delay(number)
            if on_retry is not None:
                on_retry(number, error, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")
