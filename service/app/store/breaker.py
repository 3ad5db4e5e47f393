"""A circuit breaker: after `threshold` consecutive failures a dependency is not called for `open_seconds`.

While open, callers fail at once instead of each waiting out a timeout on a dead or hung server. When the time
is up, one call (and only one, however many requests are in flight) tries again: success closes the breaker,
failure opens it for another `open_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        threshold: int,
        open_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.threshold = threshold
        self.open_seconds = open_seconds
        self._clock = clock
        self._on_change = on_change
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.state: BreakerState = "closed"

    def allow(self) -> bool:
        """Whether to call the dependency now; a True while half-open makes the caller the one probe."""
        if self.state == "closed":
            return True
        if self.state == "open" and self._clock() - self._opened_at >= self.open_seconds:
            self._set("half_open")
        if self.state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def seconds_until_retry(self) -> float:
        return max(0.0, self._opened_at + self.open_seconds - self._clock()) if self.state == "open" else 0.0

    def succeeded(self) -> None:
        self._failures, self._probing = 0, False
        self._set("closed")

    def abandoned(self) -> None:
        """The call was cancelled before it learnt anything: another caller may probe."""
        self._probing = False

    def failed(self) -> None:
        self._failures += 1
        self._probing = False
        if self.state == "half_open" or self._failures >= self.threshold:
            self._opened_at = self._clock()
            self._set("open")

    def _set(self, state: BreakerState) -> None:
        if state != self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(state)
