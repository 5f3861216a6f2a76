"""A wall-clock budget shared by all the solver calls of one engine run."""

from __future__ import annotations

import time
from typing import Any


class Budget:
    """``timeout`` seconds from now (``None``: no limit)."""

    def __init__(self, timeout: float | None) -> None:
        self.end = None if timeout is None else time.monotonic() + max(0.0, timeout)

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def millis(self) -> int | None:
        """Milliseconds left (at least 1), or ``None`` for no limit."""
        if self.end is None:
            return None
        return max(1, int((self.end - time.monotonic()) * 1000))

    def arm(self, solver: Any) -> None:
        """Give a Z3 ``Solver`` or ``Fixedpoint`` the time that is left."""
        ms = self.millis()
        if ms is not None:
            solver.set(timeout=ms)
