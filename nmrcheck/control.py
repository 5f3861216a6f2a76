"""One run's limits, seen by every phase: a deadline, a memory bound, and a stop request
(Ctrl-C or SIGTERM).

Every phase of a run (loading, set-up, search, hang detection, liveness, proof) counts
against the same :class:`Control`:

* loops poll :meth:`Control.poll` every so often and end with a partial result;
* code that cannot poll (parsing, symmetry set-up, code generation) runs inside
  :meth:`Control.abortable`, where a stop raises :class:`Stopped` at once;
* a solver call registers its interrupt with :meth:`Control.on_stop` (Z3's
  ``Context.interrupt``), which a watchdog thread calls within a tenth of a second of the
  deadline, of the memory bound, or of a signal, even while the main thread is inside C code.

:func:`current` is the control of the running check (a limitless one outside any), so that
deep code needs no extra parameter to honour it.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator

from nmrcheck.errors import NmrcheckError

INTERRUPTED = "interrupted (Ctrl-C)"
TERMINATED = "terminated (SIGTERM)"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
WATCH_SECONDS = 0.1  # how often the watchdog looks at the clock and the memory


class Stopped(NmrcheckError):
    """The run must stop now: a limit was reached or the user interrupted it."""

    def __init__(self, reason: str, interrupted: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.interrupted = interrupted


def resident_mb() -> float:
    """The resident memory of this process now, in MiB (0 where it cannot be read)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def default_memory_mb() -> int:
    """The memory bound of a run that sets none: 80 % of this machine's memory (a search
    that outgrows it stops with its partial answers instead of swapping)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * _PAGE
    except (ValueError, OSError, AttributeError):
        return 8192
    return max(256, int(total * 0.8 / 2**20))


def check_limit_seconds(value: float) -> float:
    """``value`` if it is a usable number of seconds; raises ValueError otherwise."""
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise ValueError(value)
    return value


class Control:
    """The limits and stop state of one run.

    Parameters
    ----------
    timeout : float, optional
        Seconds from now until the run stops (every phase included).
    max_memory_mb : int, optional
        The resident memory, in MiB, at which the run stops.
    """

    def __init__(self, timeout: float | None = None, max_memory_mb: int | None = None) -> None:
        self.start = time.monotonic()
        self.timeout = timeout
        self.deadline = None if timeout is None else self.start + timeout
        self.max_memory_mb = max_memory_mb
        self.reason = ""  # why the run stops; empty while it goes on
        self.interrupted = False  # stopped by Ctrl-C or SIGTERM (exit 130)
        self.phase = ""  # the phase running now, for the progress line
        self.phases: dict[str, float] = {}  # phase -> seconds spent in it
        self.progress: Callable[[dict], None] | None = None  # the progress display
        self._next_report = 0.0
        self._hooks: list[Callable[[], None]] = []
        self._abortable = 0
        self._lock = threading.RLock()  # a signal handler may stop() inside on_stop()

    # -- asking --------------------------------------------------------------------------
    def poll(self) -> str:
        """Why the run must stop (a limit or a signal), or "" to go on."""
        if not self.reason:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self.stop(f"time limit {self.timeout:g} s reached")
            elif self.max_memory_mb is not None and resident_mb() > self.max_memory_mb:
                self.stop(f"memory limit {self.max_memory_mb} MiB reached")
        return self.reason

    def check(self) -> None:
        """Raise :class:`Stopped` when the run must stop."""
        if self.poll():
            raise Stopped(self.reason, self.interrupted)

    def tick(self, **figures: object) -> str:
        """:meth:`poll`, and show ``figures`` of the running phase on the progress display
        (at most once a second)."""
        why = self.poll()
        if self.progress is not None:
            now = time.monotonic()
            if now >= self._next_report:
                self._next_report = now + 1.0
                self.progress({"phase": self.phase, "elapsed": now - self.start, **figures})
        return why

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    # -- stopping ------------------------------------------------------------------------
    def stop(self, reason: str, interrupted: bool = False) -> None:
        """Ask every phase to stop (the first reason is kept); interrupts solver calls."""
        with self._lock:
            if interrupted:
                self.interrupted = True
                if self.reason and not self.reason.startswith(("interrupted", "terminated")):
                    self.reason = ""  # a signal outranks a limit in the report
            if self.reason:
                return
            self.reason = reason
            hooks = list(self._hooks)
        for hook in hooks:
            with contextlib.suppress(Exception):
                hook()

    @contextlib.contextmanager
    def on_stop(self, hook: Callable[[], None]) -> Iterator[None]:
        """Call ``hook`` (from any thread) if the run stops while the block runs."""
        with self._lock:
            self._hooks.append(hook)
            pending = bool(self.reason)
        if pending:
            hook()
        try:
            yield
        finally:
            with self._lock:
                self._hooks.remove(hook)

    @contextlib.contextmanager
    def abortable(self) -> Iterator[None]:
        """A block that a stop may cut short by raising :class:`Stopped` inside it."""
        self.check()
        self._abortable += 1
        try:
            yield
        finally:
            self._abortable -= 1

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Run a phase (``search``, ``hangs``, ``liveness``, ``proof``...) and add its time."""
        outer, self.phase = self.phase, phase
        t0 = time.monotonic()
        self._next_report = 0.0  # a new phase shows at once
        try:
            yield
        finally:
            self.phases[phase] = self.phases.get(phase, 0.0) + time.monotonic() - t0
            self.phase = outer

    # -- signals and the watchdog --------------------------------------------------------
    def _on_signal(self, signum: int, frame: object) -> None:
        if signum == signal.SIGALRM:  # the watchdog's nudge: a limit was reached
            if self._abortable and self.reason:
                raise Stopped(self.reason, self.interrupted)
            return
        self.stop(TERMINATED if signum == signal.SIGTERM else INTERRUPTED, interrupted=True)
        if self._abortable:
            raise Stopped(self.reason, True)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Control]:
        """Make this the current control, handle SIGINT and SIGTERM, and watch the limits.

        Signal handling and the watchdog are set up only in the main thread (elsewhere this
        only makes the control current)."""
        token = _CURRENT.set(self)
        if threading.current_thread() is not threading.main_thread():
            try:
                yield self
            finally:
                _CURRENT.reset(token)
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        os.set_blocking(read_fd, False)
        old = {s: signal.signal(s, self._on_signal)
               for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
        old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        done = threading.Event()
        watcher = threading.Thread(
            target=self._watch, args=(read_fd, done), name="nmrcheck-watchdog", daemon=True
        )
        watcher.start()
        try:
            yield self
        finally:
            done.set()
            with contextlib.suppress(OSError):  # wake the watchdog now, not at its next tick
                os.write(write_fd, b"\0")
            watcher.join()
            signal.set_wakeup_fd(old_fd)
            for s, h in old.items():
                signal.signal(s, h)
            os.close(read_fd)
            os.close(write_fd)
            _CURRENT.reset(token)

    def _watch(self, read_fd: int, done: threading.Event) -> None:
        """The watchdog: reacts to signals while the main thread is inside C code (solver
        calls), and to the deadline and the memory bound while it cannot poll."""
        nudged = False
        while not done.is_set():
            ready, _, _ = select.select([read_fd], [], [], WATCH_SECONDS)
            if ready:
                with contextlib.suppress(OSError):
                    for b in os.read(read_fd, 64):
                        if b == signal.SIGINT:
                            self.stop(INTERRUPTED, interrupted=True)
                        elif b == signal.SIGTERM:
                            self.stop(TERMINATED, interrupted=True)
            if self.poll() and self._abortable and not nudged and not done.is_set():
                nudged = True
                signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)


_UNLIMITED = Control()
_CURRENT: contextvars.ContextVar[Control] = contextvars.ContextVar("nmrcheck_control")


def current() -> Control:
    """The control of the running check (one without limits when none is installed)."""
    return _CURRENT.get(_UNLIMITED)
