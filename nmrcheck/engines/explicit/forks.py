"""Forked processes that work beside this one: a :class:`Child` does one piece of work and
exits; a :class:`Twin` serves requests for a whole search.

Both are forked, so they start with this process's memory as it is (copied page by page as
either process writes it), and send back bytes through a pipe. A signal that ends one
(a Ctrl-C reaches the whole process group) is the same stop here; a limit met in its work
(:class:`control.Stopped`) is sent back as that stop. Only where ``os.fork`` exists (not on
Windows).
"""

from __future__ import annotations

import gc
import mmap
import os
import select
import signal
import struct
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from nmrcheck import control
from nmrcheck.errors import InternalError


def usable(cores: int = 0) -> bool:
    """Whether a second process may work: ``cores`` (the user's ``--cores``; 0: as many as
    there are) is not 1, ``os.fork`` exists and the machine has a second core."""
    have = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores != 1 and hasattr(os, "fork") and (have or 1) >= 2


def _in_child() -> None:
    """What a forked process sets first: signals end it, no collector, no progress line."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.disable()
    control.current().progress = None  # this process shows the progress


def _timed(work: Callable[[], bytes]) -> bytes:
    """``work``'s bytes followed by the seconds it took, or a stop's reason and -1."""
    return next(_timed_parts(work))


def _timed_parts(work: Callable[[], bytes | Iterator[bytes]]) -> Iterator[bytes]:
    """Each of the messages ``work`` makes (its bytes, or each that it yields) followed by
    the seconds taken until then, or a stop's reason and -1."""
    t0 = time.perf_counter()
    try:
        out = work()
        for data in (out,) if isinstance(out, (bytes, bytearray)) else out:
            yield data + struct.pack("<d", time.perf_counter() - t0)
    except control.Stopped as stop:  # a limit met in the child: sent as a stop
        yield stop.reason.encode() + struct.pack("<d", -1.0)


def _untimed(data: bytes | bytearray) -> tuple[memoryview, float]:
    """The bytes (a view, not a copy: answers run to tens of MB) and seconds of
    :func:`_timed`; raises the stop it sent."""
    seconds = struct.unpack("<d", data[-8:])[0]
    view = memoryview(data)[:-8]
    if seconds < 0:
        raise control.Stopped(bytes(view).decode())
    return view, seconds


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read(fd: int, n: int) -> bytearray | None:
    """``n`` bytes from ``fd``, or None when it ends first."""
    buf, got = bytearray(n), 0
    view = memoryview(buf)
    while got < n:
        k = os.readv(fd, [view[got:]])
        if not k:
            return None
        got += k
    return buf


def _ended(status: int, what: str) -> Exception:
    """Why a forked process that sent too little ended (its ``waitpid`` status): a stop for
    SIGINT and SIGTERM, else an internal error."""
    # a Ctrl-C reaches the whole process group: the child may die of it first
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGINT, signal.SIGTERM):
        term = os.WTERMSIG(status) == signal.SIGTERM
        return control.Stopped(control.TERMINATED if term else control.INTERRUPTED, True)
    return InternalError(f"the process {what} failed (status {status})")


def _fork(body: Callable[[], None], *close: int) -> int:
    """Fork a process that closes the descriptors ``close``, runs ``body`` and exits (with
    status 1 when ``body`` raised: shown, and this process then reports an internal
    error); returns its pid here."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for fd in close:
            os.close(fd)
        _in_child()
        body()
        code = 0
    except BrokenPipeError:  # this process has gone
        code = 0
    except Exception:
        traceback.print_exc()
    finally:
        os._exit(code)


def _send(fd: int, data: bytes) -> None:
    """One message: its length, then its bytes (:func:`_message` reads it)."""
    _write(fd, struct.pack("<Q", len(data)))
    _write(fd, data)


def _kill(pid: int, *fds: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for fd in fds:
        os.close(fd)
    os.waitpid(pid, 0)


@dataclass
class Child:
    """A forked child doing one piece of work; ``fd`` reads what it sends, ``seconds`` is
    how long its work took (known with its result)."""

    pid: int
    fd: int
    seconds: float = 0.0

    @staticmethod
    def start(work: Callable[[], bytes]) -> Child:
        """Fork a child that runs ``work`` and sends the bytes it returns."""
        r, w = os.pipe()
        pid = _fork(lambda: _write(w, _timed(work)), r)
        os.close(w)
        return Child(pid, r)

    def result(self) -> memoryview:
        """What the child sent, once it has exited; :class:`control.Stopped` when a signal
        (SIGINT, SIGTERM) ended it or its work raised it (a time or memory limit)."""
        chunks = []
        while chunk := os.read(self.fd, 1 << 20):
            chunks.append(chunk)
        os.close(self.fd)
        self.fd = -1
        data = b"".join(chunks)
        _, status = os.waitpid(self.pid, 0)
        if status != 0 or len(data) < 8:
            raise _ended(status, "working beside this one")
        out, self.seconds = _untimed(data)
        return out

    def stop(self) -> None:
        """End the child without its result (nothing to do once its result was read)."""
        if self.fd >= 0:
            _kill(self.pid, self.fd)
            self.fd = -1


class Served(Protocol):
    """What a :class:`Twin` does: ``enter()`` once, in the twin, after the fork; then for
    each request, ``serve(request)`` returns the answer (or yields it in several messages,
    each read by one :meth:`Twin.answer`), and ``tidy()`` runs once it is sent (while this
    process reads it). While no request waits, ``idle()`` does a little
    work of its own (a few milliseconds), until it returns False: nothing left to do."""

    def enter(self) -> None: ...

    def serve(self, request: bytearray) -> bytes | Iterator[bytes]: ...

    def tidy(self) -> None: ...

    def idle(self) -> bool: ...


@dataclass
class Twin:
    """A forked process that serves requests (:class:`Served`) until this process closes
    its pipe: forked once, so each page of memory is copied at most once, where a child
    forked for each request would copy again every page either process writes."""

    pid: int
    ask_fd: int
    answer_fd: int
    seconds: float = 0.0  # how long the last request's work took

    @staticmethod
    def start(served: Served) -> Twin:
        ask_r, ask_w = os.pipe()
        ans_r, ans_w = os.pipe()
        _widen(ans_w)

        def body() -> None:
            served.enter()
            busy = True
            while True:
                if busy and not select.select([ask_r], [], [], 0)[0]:
                    busy = served.idle()
                    continue
                request = _message(ask_r)
                if request is None:
                    break
                for data in _timed_parts(lambda: served.serve(request)):  # noqa: B023
                    _send(ans_w, data)
                served.tidy()
                busy = True

        pid = _fork(body, ask_w, ans_r)
        os.close(ask_r)
        os.close(ans_w)
        return Twin(pid, ask_w, ans_r)

    def ask(self, request: bytes) -> None:
        """Send a request (its answer comes from :meth:`answer`)."""
        try:
            _send(self.ask_fd, request)
        except BrokenPipeError:
            raise self._gone() from None

    def ready(self) -> bool:
        """Whether the answer to the last request has started to come."""
        return bool(select.select([self.answer_fd], [], [], 0)[0])

    def answer(self) -> memoryview:
        """The answer to the last request (its next message); :class:`control.Stopped` as
        for a :class:`Child`; ``seconds``: the twin's time on the request up to it."""
        data = _message(self.answer_fd)
        if data is None:
            raise self._gone()
        out, self.seconds = _untimed(data)
        return out

    def _gone(self) -> Exception:
        why = _ended(os.waitpid(self.pid, 0)[1], "expanding part of each level")
        os.close(self.ask_fd)
        os.close(self.answer_fd)
        self.ask_fd = self.answer_fd = -1
        return why

    def stop(self) -> None:
        """End the twin, whatever it is doing."""
        if self.ask_fd >= 0:
            _kill(self.pid, self.ask_fd, self.answer_fd)
            self.ask_fd = self.answer_fd = -1


class Claims:
    """A range of work items that this process and a forked twin claim from either end, a
    few at a time: the twin from the front, this process from the back, so that neither
    waits while the other has work left; and a flag this process raises when it starts
    reading what the twin sends (until then the twin keeps it: a pipe holds little). Three
    numbers in memory shared across the fork, and a lock (one byte in a pipe: whoever reads
    it holds the lock). Made before the fork."""

    def __init__(self) -> None:
        self._mem = mmap.mmap(-1, 24)
        self._r, self._w = os.pipe()
        os.write(self._w, b"x")
        self._owner = os.getpid()

    def reset(self, lo: int, hi: int) -> None:
        """The range ``lo..hi``, all unclaimed, the flag down (while the twin does not
        claim)."""
        struct.pack_into("<qqq", self._mem, 0, lo, hi, 0)

    def listen(self) -> None:
        """Raise the flag: this process reads what the twin sends from now on."""
        struct.pack_into("<q", self._mem, 16, 1)

    def listening(self) -> bool:
        """Whether the flag is up (the twin asks)."""
        return struct.unpack_from("<q", self._mem, 16)[0] == 1

    def front(self, n: int) -> tuple[int, int] | None:
        """Up to ``n`` items from the front (the twin), or None: every item is claimed."""
        return self._claim(n, True)

    def back(self, n: int) -> tuple[int, int] | None:
        """Up to ``n`` items from the back (this process), or None."""
        return self._claim(n, False)

    def split(self) -> int:
        """Where the front's claims end and the back's begin, once everything is claimed."""
        return struct.unpack_from("<q", self._mem, 0)[0]

    def _claim(self, n: int, front: bool) -> tuple[int, int] | None:
        # the lock: the pipe's byte; a twin whose parent died holding it ends (as when the
        # parent's end of a pipe closes)
        while not select.select([self._r], [], [], 1.0)[0]:
            if os.getpid() != self._owner and os.getppid() != self._owner:
                raise BrokenPipeError("the process that made these claims has gone")
        os.read(self._r, 1)
        try:
            lo, hi = struct.unpack_from("<qq", self._mem, 0)
            if lo >= hi:
                return None
            if front:
                got = (lo, min(hi, lo + n))
                struct.pack_into("<q", self._mem, 0, got[1])
            else:
                got = (max(lo, hi - n), hi)
                struct.pack_into("<q", self._mem, 8, got[0])
            return got
        finally:
            os.write(self._w, b"x")

    def close(self) -> None:
        for fd in (self._r, self._w):
            os.close(fd)
        self._mem.close()


PIPE_BYTES = 1 << 20  # a twin's answer pipe holds this much (Linux's default limit for a user)


def _widen(fd: int) -> None:
    """Let the pipe of ``fd`` hold :data:`PIPE_BYTES`, where the system allows, so a twin
    sending a message while this process is busy goes on working."""
    try:
        import fcntl  # not on Windows, where no twin is forked

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):
        pass


def _message(fd: int) -> bytearray | None:
    """One message (its length, then its bytes) from ``fd``; None when the pipe is closed."""
    head = _read(fd, 8)
    if head is None:
        return None
    return _read(fd, struct.unpack("<Q", head)[0])
