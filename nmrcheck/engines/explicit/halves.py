"""A breadth-first level expanded in two halves at once: the second by a forked child.

A level's states are expanded in index order; a sequential search numbers the new states in
the order it finds them. Here a child process, forked at the start of a large level, expands
the second half of the level on its copy of the store while this process expands the first
half. The child sends back what it appended (its new states with their parent and action,
and, with edges, its rows of edges); :func:`merge_states` and :func:`merge_rows` then store
its new states in its order, each one unless this process found it first, and renumber its
edges. The result is the sequential search's, state for state and edge for edge (the same
numbering, parents, edges and order), so verdicts and traces do not depend on the split.
:class:`Split` decides which levels are split, and where. (The checker also runs hang
detection in a :class:`Child`, beside the liveness check.)

Only where ``os.fork`` exists (not on Windows) and the machine has a second core.
"""

from __future__ import annotations

import gc
import marshal
import os
import signal
import struct
import time
import traceback
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nmrcheck import control
from nmrcheck.engines.explicit.arrays import renumber_edges, shifted
from nmrcheck.engines.explicit.codegen import Full
from nmrcheck.engines.explicit.frames import Frames
from nmrcheck.errors import InternalError


class _Store(Protocol):
    """What this module reads and sets of the search's store (``search._Store``)."""

    states: list[int]
    parent: array
    via: array
    index: dict[int, int] | None
    seen: set[int] | None
    found_in: Callable[[int, int], int]
    stop_mask: int
    cap: int

    def new(self, t: int, a: int, i: int, found: int = -1) -> int: ...


MIN_LEVEL = 4096  # smaller levels are expanded in one process (a fork costs about 1 ms)
FIRST_SHARE = 0.5  # the child's part of the first level split
PAUSE = 3  # levels not split after a split that did not pay


def usable(cores: int = 0) -> bool:
    """Whether a second process may work: ``cores`` (the user's ``--cores``; 0: as many as
    there are) is not 1, ``os.fork`` exists and the machine has a second core."""
    have = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores != 1 and hasattr(os, "fork") and (have or 1) >= 2


@dataclass
class Child:
    """A forked child doing part of the work; ``fd`` reads what it sends, ``seconds`` is
    how long its work took (known with its result)."""

    pid: int
    fd: int
    seconds: float = 0.0

    @staticmethod
    def start(work: Callable[[], bytes]) -> Child:
        """Fork a child that runs ``work`` and sends the bytes it returns."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                os.close(r)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                gc.disable()
                control.current().progress = None  # this process shows the progress
                t0 = time.perf_counter()
                try:
                    data, seconds = work(), time.perf_counter() - t0
                except control.Stopped as stop:  # a limit met in the child: sent as a stop
                    data, seconds = stop.reason.encode(), -1.0
                view = memoryview(data + struct.pack("<d", seconds))
                while view:
                    view = view[os.write(w, view):]
                code = 0
            except Exception:  # shown; this process then reports an internal error
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(w)
        return Child(pid, r)

    def result(self) -> bytes:
        """What the child sent, once it has exited; :class:`control.Stopped` when a signal
        (SIGINT, SIGTERM) ended it or its work raised it (a time or memory limit)."""
        chunks = []
        while chunk := os.read(self.fd, 1 << 20):
            chunks.append(chunk)
        os.close(self.fd)
        self.fd = -1
        _, status = os.waitpid(self.pid, 0)
        data = b"".join(chunks)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGINT, signal.SIGTERM):
            term = os.WTERMSIG(status) == signal.SIGTERM  # a Ctrl-C to the process group
            raise control.Stopped(control.TERMINATED if term else control.INTERRUPTED, True)
        if status != 0 or len(data) < 8:
            raise InternalError(f"the process expanding half a level failed (status {status})")
        self.seconds = struct.unpack("<d", data[-8:])[0]
        if self.seconds < 0:
            raise control.Stopped(data[:-8].decode())
        return data[:-8]

    def stop(self) -> None:
        """End the child without its result (nothing to do once its result was read)."""
        if self.fd < 0:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self.fd)
        os.waitpid(self.pid, 0)


class Split:
    """The levels of one search: which are split, where, and the child of the running one.

    The child's share of a level follows the two processes' measured speeds on the levels
    before (the child is slower while it copies the pages it writes, and either may share
    its core with other work), so that both halves end at about the same time. A split that
    took longer than this process alone would have (the second core busy with other work)
    stops the splitting for the next :data:`PAUSE` levels. No level is split once this
    process holds half of ``memory_mb`` (the child's copies of the pages it writes are not
    counted by the memory limit, which watches this process)."""

    def __init__(self, on: bool, memory_mb: int | None = None) -> None:
        self.on, self.share, self.pause = on, FIRST_SHARE, 0
        self.memory_mb = memory_mb
        self.child: Child | None = None
        self._merge: Callable[[], Any] | None = None
        self._lo = self._end = self._hi = 0
        self._t0 = 0.0

    def begin(self, lo: int, hi: int, start: Callable[[int, int], tuple[Child, Callable]]) -> int:
        """Where this process stops expanding the level ``lo..hi``: its end, or the start of
        the child's part, a child being started by ``start(mid, hi)`` (returning it and the
        function that merges its result)."""
        if not self.on or hi - lo < MIN_LEVEL:
            return hi
        if self.pause:
            self.pause -= 1
            return hi
        if self.memory_mb is not None and control.resident_mb() > self.memory_mb / 2:
            return hi
        mid = hi - min(hi - lo - 1, max(1, round((hi - lo) * self.share)))
        self.child, self._merge = start(mid, hi)
        self._lo, self._end, self._hi, self._t0 = lo, mid, hi, time.perf_counter()
        return mid

    def finish(self) -> Any:
        """The child's merged result (this process has expanded its part)."""
        mine = time.perf_counter() - self._t0
        child, merge = self.child, self._merge
        assert child is not None and merge is not None
        self.child = self._merge = None
        out = merge()
        if mine > 0 and child.seconds > 0:  # states per second, each process
            rp, rc = (self._end - self._lo) / mine, (self._hi - self._end) / child.seconds
            self.share = min(0.75, max(0.25, rc / (rp + rc)))
            if time.perf_counter() - self._t0 > (self._hi - self._lo) / rp:
                self.pause = PAUSE
        return out

    def stop(self) -> None:
        """End a running child (the search stops before its part is merged)."""
        if self.child is not None:
            self.child.stop()
            self.child = self._merge = None


def from_bytes(code: str, data: bytes) -> array:
    """An array of type ``code`` holding ``data`` (what a child sent of one)."""
    out = array(code)
    out.frombytes(data)
    return out


def _nothing(t: int, seen: int) -> int:
    return 0


def quiet(store: _Store) -> Callable[[int, int], int]:
    """In the child: store new states without evaluating properties or stopping (where a
    stop falls is this process's to decide, when it stores the child's states); returns the
    store's own property check, for :func:`new_states`."""
    found = store.found_in
    store.found_in, store.stop_mask, store.cap = _nothing, 0, -1
    return found


def new_states(store: _Store, n0: int, found: Callable[[int, int], int]) -> bytes:
    """The child's new states (from index ``n0``) with their parents and actions, and the
    properties ``found`` at each (by position, where there are any): this process then
    stores them without evaluating a property."""
    states = store.states[n0:]
    hits = {k: m for k, t in enumerate(states) if (m := found(t, 0))}
    return marshal.dumps((states, store.parent[n0:].tobytes(), store.via[n0:].tobytes(),
                          hits))


def counted(counts: array, store: _Store, n0: int, found: Callable[[int, int], int]) -> bytes:
    """What a child of the search without edges sends: the transitions of each state it
    expanded, and its new states."""
    return marshal.dumps((counts.tobytes(), new_states(store, n0, found)))


def merge_counted(data: bytes, store: _Store, lo: int) -> tuple[int, int]:
    """Store the states of a child that expanded from state ``lo`` on (:func:`counted`);
    returns the transitions to count and the state cut off by a stop (or -1), whose own
    transitions are not counted, as the generated loop does."""
    counts_b, state_data = marshal.loads(data)
    counts = from_bytes("I", counts_b)
    full = merge_states(state_data, store)[1]
    return sum(counts[:full - lo] if full >= 0 else counts), full


def merge_states(data: bytes, store: _Store) -> tuple[list[int], int]:
    """Store the child's new states in its order, each unless already stored, with the
    properties it found at them; returns the index of each (0 past a stop) and the state
    whose expansion was cut off by a stop (``search.Full``), or -1."""
    states, par_b, via_b, hits = marshal.loads(data)
    par, via = from_bytes("i", par_b), from_bytes("i", via_b)
    index = [0] * len(states)
    look = store.index.get if store.index is not None else None
    new, seen, hit = store.new, store.seen, hits.get
    k = 0
    try:
        if look is not None:
            for k, t in enumerate(states):
                j = look(t)
                index[k] = new(t, via[k], par[k], hit(k, 0)) if j is None else j
        else:
            for k, t in enumerate(states):
                if t not in seen:
                    new(t, via[k], par[k], hit(k, 0))
    except Full:
        return index, par[k]
    return index, -1


def new_rows(store: _Store, n0: int, found: Callable[[int, int], int],
             rows: tuple[int, int, int, int], first: array, packed: array,
             masks: array | list, frames: Frames) -> bytes:
    """The child's new states and its rows of edges: what was appended to ``first``,
    ``packed``, ``masks`` and ``frames.maps`` past their lengths ``rows`` at the fork."""
    f0, e0, w0, m0 = rows
    tail = masks[w0:]
    return marshal.dumps((new_states(store, n0, found), first[f0:].tobytes(),
                          packed[e0:].tobytes(),
                          tail.tobytes() if isinstance(tail, array) else tail, frames.maps[m0:]))


def merge_rows(data: bytes, store: _Store, n0: int, rows: tuple[int, int, int, int],
               first: array, packed: array, masks: array | list, frames: Frames) -> int:
    """Store the child's states (:func:`merge_states`) and append its rows of edges,
    renumbered (states and instance mappings); returns the state cut off by a stop, or -1."""
    state_data, first_b, packed_b, tail, maps = marshal.loads(data)
    index, full = merge_states(state_data, store)
    f0, e0, w0, m0 = rows
    first.frombytes(shifted(first_b, len(packed) - e0))
    packed.frombytes(renumber_edges(packed_b, n0, index, m0,
                                    [frames.id_of(m) for m in maps]))
    if isinstance(masks, array):
        masks.frombytes(tail)
    else:
        masks.extend(tail)
    return full
