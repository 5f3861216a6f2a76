"""A breadth-first level expanded in two parts at once: the second by a twin process.

A level's states are expanded in index order; a sequential search numbers the new states in
the order it finds them. Here a twin process (:class:`forks.Twin`, forked at the first large
level and kept for the whole search) expands the second part of each large level on its copy
of the store while this process expands the first part. The twin sends back what it
appended (its new states with their parent and action, and, with edges, its rows of edges);
:func:`merge_states` and :class:`EdgeHalf` then store its new states in its order, each one
unless this process found it first, and renumber its edges. The result is the sequential
search's, state for state and edge for edge (the same numbering, parents, edges and order),
so verdicts and traces do not depend on the split. :class:`Split` decides which levels are
split, and where.

The twin keeps its copy of the store in step: each request brings the states this process
stored since the last one (the merged level), and once it has answered, the twin drops the
states it added itself. A child forked anew for each level would be simpler, but every page
either process writes after a fork is copied again (a dict lookup writes the reference count
of the key it finds): at 1.7 M states that cost about a third of the second core's gain.
"""

from __future__ import annotations

import marshal
import time
from array import array
from collections.abc import Callable
from typing import Any, Protocol

from nmrcheck import control
from nmrcheck.engines.explicit.arrays import from_bytes, renumber_edges, shifted
from nmrcheck.engines.explicit.codegen import Full
from nmrcheck.engines.explicit.forks import Served, Twin
from nmrcheck.engines.explicit.frames import Frames


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


MIN_LEVEL = 4096  # smaller levels are expanded in one process
FIRST_SHARE = 0.5  # the twin's part of the first level split
PAUSE = 3  # levels not split after a split that did not pay


IDLE_BLOCK = 2048  # states of the twin's work between two looks for a request


class Beside(Protocol):
    """Work on the stored states in index order that the twin does while it would wait:
    ``done`` states so far, ``extend(hi)`` does them up to ``hi``, ``dump()`` sends what it
    made."""

    @property
    def done(self) -> int: ...

    def extend(self, hi: int) -> None: ...

    def dump(self) -> bytes: ...


class Part(Served, Protocol):
    """One loop's split of a level: this process's side (``fork`` just before the twin is
    forked, ``ask`` for the twin's part ``mid..hi``, ``merge`` its answer) and the twin's
    (:class:`forks.Served`)."""

    def fork(self) -> None: ...

    def ask(self, mid: int, hi: int) -> bytes: ...

    def merge(self, answer: memoryview) -> Any: ...

    @property
    def gathers(self) -> bool: ...


class Split:
    """The levels of one search: which are split, where, and the twin that expands its part.

    The twin's share of a level follows the two processes' speeds measured on the levels
    before (each level's figures weigh as much as all the earlier ones together: either
    process may share its core with other work), so that both parts end at about the same
    time. While this process waits for the twin, ``meanwhile()`` does what it will need
    later (once: it returns True when done). A split that took a tenth longer than this
    process alone would have (the second core busy with other work) stops the splitting
    for the next :data:`PAUSE` levels; not the twin's first, which is slow while its pages
    are copied. No level is split once this process holds half of ``memory_mb``, and the
    twin then ends (its memory, at most about this process's, is not counted by the memory
    limit, which watches this process)."""

    def __init__(self, on: bool, memory_mb: int | None = None, part: Part | None = None,
                 meanwhile: Callable[[], bool] | None = None) -> None:
        self.on, self.share, self.pause = on and part is not None, FIRST_SHARE, 0
        self.memory_mb, self.part, self.meanwhile = memory_mb, part, meanwhile
        self.twin: Twin | None = None
        self._lo = self._end = self._hi = 0
        self._t0 = 0.0
        self._speeds = [0.0, 0.0, 0.0, 0.0]  # states and seconds, this process and the twin

    def begin(self, lo: int, hi: int) -> int:
        """Where this process stops expanding the level ``lo..hi``: its end, or the start of
        the twin's part, which the twin is then asked to expand."""
        if not self.on or hi - lo < MIN_LEVEL:
            return hi
        if self.pause:
            self.pause -= 1
            return hi
        if self.memory_mb is not None and control.resident_mb() > self.memory_mb / 2:
            self.on = False
            self.stop()
            return hi
        assert self.part is not None
        mid = hi - min(hi - lo - 1, max(1, round((hi - lo) * self.share)))
        if self.twin is None:
            self.part.fork()
            self.twin = Twin.start(self.part)
        self.twin.ask(self.part.ask(mid, hi))
        self._lo, self._end, self._hi, self._t0 = lo, mid, hi, time.perf_counter()
        return mid

    def finish(self) -> Any:
        """The twin's merged answer (this process has expanded its part)."""
        mine = time.perf_counter() - self._t0
        assert self.twin is not None and self.part is not None
        if self.meanwhile is not None and not self.twin.ready() and self.meanwhile():
            self.meanwhile = None
        out = self.part.merge(self.twin.answer())
        if mine > 0 and self.twin.seconds > 0:
            first = not self._speeds[1]
            sp = self._speeds = [x / 2 for x in self._speeds]
            for k, x in enumerate((self._end - self._lo, mine,
                                   self._hi - self._end, self.twin.seconds)):
                sp[k] += x
            rp, rc = sp[0] / sp[1], sp[2] / sp[3]  # states per second, each process
            self.share = min(0.75, max(0.25, rc / (rp + rc)))
            took = time.perf_counter() - self._t0
            if not first and took > 1.1 * (self._hi - self._lo) / rp:
                self.pause = PAUSE
        return out

    def gather(self) -> memoryview | None:
        """What the twin's work beside made of every stored state (the search is complete),
        or None when no twin ran."""
        if self.twin is None or self.part is None or not self.part.gathers:
            return None
        self.twin.ask(self.part.ask(-1, -1))
        return self.twin.answer()

    def stop(self) -> None:
        """End the twin (the search is over, or stops before its part is merged)."""
        if self.twin is not None:
            self.twin.stop()
            self.twin = None


def _nothing(t: int, seen: int) -> int:
    return 0


def quiet(store: _Store) -> Callable[[int, int], int]:
    """In the twin: store new states without evaluating properties or stopping (where a
    stop falls is this process's to decide, when it stores the twin's states); returns the
    store's own property check, for :func:`new_states`."""
    found = store.found_in
    store.found_in, store.stop_mask, store.cap = _nothing, 0, -1
    return found


class _Half:
    """What both loops' parts share: keeping the twin's store in step with this process's
    (the twin holds ``states[:known]`` and their index or set after each request's sync),
    and the twin's new states, sent with the properties found at them."""

    def __init__(self, store: _Store) -> None:
        self.store = store
        self.known = self.n0 = self.mid = 0
        self.found: Callable[[int, int], int] = _nothing

    # -- this process ----------------------------------------------------------------
    def fork(self) -> None:
        self.known = len(self.store.states)

    def ask(self, mid: int, hi: int) -> bytes:
        states = self.store.states
        self.n0, self.mid = len(states), mid
        sync, self.known = states[self.known:], self.n0
        return marshal.dumps((mid, hi, sync))

    # -- the twin ----------------------------------------------------------------------
    def enter(self) -> None:
        self.found = quiet(self.store)
        self.n0 = self.known

    def sync(self, request: bytearray) -> tuple[int, int]:
        """Store the states of the request (this process's since the last one), then start
        this level's parents and actions anew; returns the part to expand."""
        mid, hi, sync = marshal.loads(request)
        store, states = self.store, self.store.states
        if store.index is not None:
            store.index.update(zip(sync, range(len(states), len(states) + len(sync))))
        else:
            store.seen.update(sync)  # type: ignore[union-attr]
        states += sync
        self.n0 = len(states)
        store.parent, store.via = array("i"), array("i")
        return mid, hi

    def new_states(self) -> bytes:
        """The twin's new states with their parents and actions, and the properties found at
        each (by position, where there are any): this process then stores them without
        evaluating a property."""
        store, found = self.store, self.found
        states = store.states[self.n0:]
        hits = {k: m for k, t in enumerate(states) if (m := found(t, 0))}
        return marshal.dumps((states, store.parent.tobytes(), store.via.tobytes(), hits))

    def idle(self) -> bool:
        """Work beside, while the twin waits for a request: False, nothing to do."""
        return False

    @property
    def gathers(self) -> bool:
        """Whether the twin works beside (:meth:`Split.gather`)."""
        return False

    def tidy(self) -> None:
        """Drop the twin's new states: the next request brings them, merged, in order."""
        store, n0 = self.store, self.n0
        states = store.states
        if store.index is not None:
            index = store.index
            for t in states[n0:]:
                del index[t]
        else:
            store.seen.difference_update(states[n0:])  # type: ignore[union-attr]
        del states[n0:]


class CountHalf(_Half):
    """The split of the loop without edges: ``count(k)`` expands state ``k`` and returns
    its transitions. The twin sends the transitions of each state it expanded, and its new
    states."""

    def __init__(self, store: _Store, count: Callable[[int], int]) -> None:
        super().__init__(store)
        self.count = count

    def serve(self, request: bytearray) -> bytes:
        mid, hi = self.sync(request)
        counts = array("I", [self.count(k) for k in range(mid, hi)])
        return marshal.dumps((counts.tobytes(), self.new_states()))

    def merge(self, answer: memoryview) -> tuple[int, int]:
        """Store the twin's states; returns the transitions to count and the state cut off
        by a stop (or -1), whose own transitions are not counted, as the generated loop
        does."""
        counts_b, state_data = marshal.loads(answer)
        counts = from_bytes("I", counts_b)
        full = merge_states(state_data, self.store)[1]
        return sum(counts[:full - self.mid] if full >= 0 else counts), full


class EdgeHalf(_Half):
    """The split of the loop that keeps every edge: ``expand(lo, hi)`` expands states
    ``lo..hi``, appending to ``first``, ``packed``, ``masks`` and ``frames``. The twin sends
    its rows of edges (its arrays start empty for each level), and the instance mappings it
    met first; ``trans`` maps its mapping ids to this process's."""

    def __init__(self, store: _Store, expand: Callable[[int, int], int], first: array,
                 packed: array, masks: array | list, frames: Frames,
                 beside: Callable[[], Beside] | None = None) -> None:
        super().__init__(store)
        self.expand, self.first, self.packed, self.masks = expand, first, packed, masks
        self.frames, self.trans, self.sent = frames, [0], 0
        self.beside, self.work = beside, None

    def fork(self) -> None:
        super().fork()
        self.trans = list(range(len(self.frames.maps)))

    def enter(self) -> None:
        super().enter()
        self.sent = len(self.frames.maps)
        self._empty()
        self.work = self.beside() if self.beside is not None else None

    @property
    def gathers(self) -> bool:
        return self.beside is not None

    def idle(self) -> bool:
        """A block of the work beside (on the states of the last request), if any is left."""
        work, n = self.work, len(self.store.states)
        if work is None or work.done >= n:
            return False
        work.extend(min(n, work.done + IDLE_BLOCK))
        return work.done < n

    def _empty(self) -> None:
        del self.first[:]
        del self.packed[:]
        del self.masks[:]

    def serve(self, request: bytearray) -> bytes:
        """The twin's part of a level, or (``mid`` -1: the search is complete) what its work
        beside made of every state."""
        mid, hi = self.sync(request)
        if mid < 0:
            if self.work is None:
                return b""
            self.work.extend(len(self.store.states))
            return self.work.dump()
        self.expand(mid, hi)
        maps, self.sent = self.frames.maps[self.sent:], len(self.frames.maps)
        masks = self.masks
        return marshal.dumps((self.new_states(), self.first.tobytes(), self.packed.tobytes(),
                              masks.tobytes() if isinstance(masks, array) else masks, maps))

    def tidy(self) -> None:
        super().tidy()
        self._empty()

    def merge(self, answer: memoryview) -> int:
        """Store the twin's states (:func:`merge_states`) and append its rows of edges,
        renumbered (states and instance mappings); returns the state cut off by a stop, or
        -1."""
        state_data, first_b, packed_b, masks, maps = marshal.loads(answer)
        index, full = merge_states(state_data, self.store)
        self.trans += [self.frames.id_of(m) for m in maps]
        ident = all(k == m for k, m in enumerate(self.trans))
        first, packed = self.first, self.packed
        first.frombytes(shifted(first_b, len(packed)))
        packed.frombytes(renumber_edges(packed_b, self.n0, index, 1,
                                        [] if ident else self.trans[1:]))
        if isinstance(self.masks, array):
            self.masks.frombytes(masks)
        else:
            self.masks.extend(masks)
        return full


def merge_states(data: bytes, store: _Store) -> tuple[list[int], int]:
    """Store the twin's new states in its order, each unless already stored, with the
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
