"""Swarm search: many small, differently randomised, bounded searches for a violated invariant.

SPIN's answer to designs too big to exhaust (swarm verification): instead of one search that
cannot finish, run many independent ones, each bounded in depth and states and each
randomised differently; any violation one of them meets is real, and what they cover grows
with the number of runs (and of machines). Three kinds, taken in turn by run index:

* ``dfs``: depth-first search with the successors in an order shuffled from the run's seed, no
  state deeper than the depth bound, at most a budget of stored states (a state met again at a
  smaller depth is searched again from there);
* ``walk``: random walks from the initial state, each at most the depth bound long, until a
  budget of steps is spent;
* ``bitstate``: depth-first search whose "seen" set is a bit array indexed by a hash seeded
  per run (SPIN's bitstate hashing: a collision prunes a state, so each hash seed leaves out
  different states).

A run is a pure function of (system, :class:`RunSpec`): the same seed gives the same run. The
states a run visits are counted in a HyperLogLog sketch, merged over runs to estimate the
distinct states the whole swarm covered. Nothing here is a proof: a swarm that finds nothing
says how much it searched, never that a property holds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nmrcheck import control
from nmrcheck.engines.common.results import PARTIAL, UNKNOWN, VIOLATED, CheckResult, PropertyResult
from nmrcheck.engines.explicit import probe
from nmrcheck.engines.explicit.probe import Target
from nmrcheck.engines.explicit.search import (
    STOPPED_AT_VIOLATION,
    Exploration,
    Limits,
    explore,
)
from nmrcheck.engines.explicit.symmetry import analyse as analyse_symmetry
from nmrcheck.ir import INVARIANT
from nmrcheck.ir.trace import Trace

KINDS = ("dfs", "walk", "bitstate")
KIND_WORDS = {"dfs": "random-order depth-first", "walk": "random walks",
              "bitstate": "bitstate (per-run hash seed)"}
RUN_STATES = 1 << 17  # states (steps, for walks) one run may visit
BITSTATE_BITS = 1 << 23  # bits of a bitstate run's table (1 MiB)
SKETCH_BITS = 14  # HyperLogLog: 2**14 registers, about 0.8 % standard error
SHORTEST_STATES = 1 << 20  # the breadth-first search that proves a trace shortest
SHORTEST_SECONDS = 10.0
_MASK64 = (1 << 64) - 1
_POLL = 1023  # a run looks at its deadline and the run control every 1,024 states


@dataclass(frozen=True)
class RunSpec:
    """One run of a swarm: its place, kind, seed and bounds."""

    index: int
    kind: str
    seed: int
    depth: int
    budget: int = RUN_STATES


@dataclass
class RunResult:
    """What one run did: the violation it met (if any), how many states it visited, a
    sketch of which, and why it stopped early ("" when it used its budget or ran out)."""

    index: int
    kind: str
    seed: int
    found: probe.Found | None
    visited: int
    sketch: bytes
    stopped: str = ""


def plan(runs: int, depth: int, seed: int, budget: int = RUN_STATES) -> list[RunSpec]:
    """The runs of a swarm of ``runs`` runs: kinds in turn, each seed derived from ``seed``
    and the run's index (the same ``seed`` gives the same runs)."""
    out = []
    for i in range(runs):
        derived = random.Random(f"nmrcheck-swarm:{seed}:{i}").getrandbits(63)
        out.append(RunSpec(i, KINDS[i % len(KINDS)], derived, depth, budget))
    return out


def run(target: Target, spec: RunSpec, deadline: float | None = None) -> RunResult:
    """Run ``spec`` on ``target``; ``deadline`` (``time.time()``) cuts it short."""
    sketch = Sketch()
    stop = _stopper(deadline)
    if spec.kind == "walk":
        found, visited, why = _walks(target, spec, sketch, stop)
    else:
        found, visited, why = _dfs(target, spec, sketch, stop, bitstate=spec.kind == "bitstate")
    return RunResult(spec.index, spec.kind, spec.seed, found, visited, sketch.dump(), why)


def _stopper(deadline: float | None) -> Callable[[], str]:
    """Why a run must stop now (its deadline, or the run control), or ""."""
    ctl = control.current()

    def why() -> str:
        if deadline is not None and time.time() >= deadline:
            return "time limit reached"
        return ctl.poll()

    return why


def _dfs(target: Target, spec: RunSpec, sketch: Sketch, stop: Callable[[], str],
         bitstate: bool) -> tuple[probe.Found | None, int, str]:
    """A random-order depth-first search bounded by ``spec.depth`` and ``spec.budget``."""
    rng = random.Random(spec.seed)
    succ, found_in, mask = target.comp.successors, target.comp.found, target.stop_mask
    s0 = target.initial
    sketch.add(s0)
    if found_in(s0, 0) & mask:
        return probe.Found([], [s0], found_in(s0, 0) & mask), 1, ""
    seen: _Bits | dict[int, int] = _Bits(spec.seed) if bitstate else {}
    _first_visit(seen, s0, 0)
    states, actions = [s0], []
    stack = [_shuffled(succ(s0)[0], rng)]
    visited = 1
    while stack:
        todo = stack[-1]
        if not todo:
            stack.pop()
            states.pop()
            if actions:
                actions.pop()
            continue
        a, t = todo.pop()
        d = len(states)
        if not _first_visit(seen, t, d):
            continue
        visited += 1
        sketch.add(t)
        if found_in(t, 0) & mask:
            return probe.Found(actions + [a], states + [t], found_in(t, 0) & mask), visited, ""
        if visited >= spec.budget:
            return None, visited, ""
        if visited & _POLL == 0 and (why := stop()):
            return None, visited, why
        if d < spec.depth:
            states.append(t)
            actions.append(a)
            stack.append(_shuffled(succ(t)[0], rng))
    return None, visited, ""


def _first_visit(seen: _Bits | dict[int, int], s: int, depth: int) -> bool:
    """Record ``s`` met at ``depth``; False when it was met before at most that deep (or,
    for a bitstate table, its bit was set already)."""
    if isinstance(seen, _Bits):
        return seen.mark(s)
    if seen.get(s, depth + 1) <= depth:
        return False
    seen[s] = depth
    return True


def _walks(target: Target, spec: RunSpec, sketch: Sketch,
           stop: Callable[[], str]) -> tuple[probe.Found | None, int, str]:
    """Random walks of at most ``spec.depth`` steps until ``spec.budget`` steps are taken."""
    rng = random.Random(spec.seed)
    succ, found_in, mask = target.comp.successors, target.comp.found, target.stop_mask
    s0 = target.initial
    sketch.add(s0)
    if found_in(s0, 0) & mask:
        return probe.Found([], [s0], found_in(s0, 0) & mask), 1, ""
    steps = 0
    while steps < spec.budget:
        s, states, actions = s0, [s0], []
        for _ in range(spec.depth):
            out = succ(s)[0]
            if not out:
                break
            a, s = out[rng.randrange(len(out))]
            states.append(s)
            actions.append(a)
            steps += 1
            sketch.add(s)
            if found_in(s, 0) & mask:
                return probe.Found(actions, states, found_in(s, 0) & mask), steps, ""
            if steps >= spec.budget:
                return None, steps, ""
            if steps & _POLL == 0 and (why := stop()):
                return None, steps, why
        if len(states) == 1:  # the initial state has no successor
            break
    return None, steps, ""


def _shuffled(out: list[tuple[int, int]], rng: random.Random) -> list[tuple[int, int]]:
    out = list(out)
    rng.shuffle(out)
    return out


def _mix(x: int) -> int:
    """splitmix64 of ``x`` (64 well-mixed bits from a Python hash)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class _Bits:
    """A bitstate table: one bit per hash value, the hash seeded per run."""

    def __init__(self, seed: int, bits: int = BITSTATE_BITS) -> None:
        self.table = bytearray(bits // 8)
        self.size = bits
        self.salt = _mix(seed)

    def mark(self, s: int) -> bool:
        """Set the bit of ``s``; False when it was set already (a state seen, or a
        collision)."""
        h = _mix(hash(s) ^ self.salt) % self.size
        byte, bit = h >> 3, 1 << (h & 7)
        if self.table[byte] & bit:
            return False
        self.table[byte] |= bit
        return True


@dataclass
class Sketch:
    """A HyperLogLog sketch of a set of packed states (mergeable by maximum)."""

    registers: bytearray = field(default_factory=lambda: bytearray(1 << SKETCH_BITS))

    def add(self, s: int) -> None:
        h = _mix(hash(s))
        i = h >> (64 - SKETCH_BITS)
        rest = (h << SKETCH_BITS) & _MASK64
        rank = 65 - rest.bit_length() if rest else 65 - SKETCH_BITS  # leading zeros + 1
        if rank > self.registers[i]:
            self.registers[i] = rank

    def dump(self) -> bytes:
        return bytes(self.registers)


def distinct_states(sketches: Sequence[bytes]) -> int:
    """The estimated number of distinct states in the union of ``sketches``."""
    if not sketches:
        return 0
    regs = np.max(np.frombuffer(b"".join(sketches), dtype=np.uint8)
                  .reshape(len(sketches), -1), axis=0).astype(np.float64)
    m = float(len(regs))
    alpha = 0.7213 / (1.0 + 1.079 / m)
    estimate = alpha * m * m / float(np.sum(np.exp2(-regs)))
    zeros = int(np.count_nonzero(regs == 0))
    if estimate <= 2.5 * m and zeros:
        estimate = m * np.log(m / zeros)  # linear counting for small sets
    return int(round(estimate))


def about(n: int) -> str:
    """``n`` to three significant figures, with thousands separators."""
    if n < 1000:
        return f"{n:,}"
    digits = len(str(n)) - 3
    return f"{round(n, -digits):,}"


# -- what the first violation becomes: shortened, proved shortest if possible, a result --------

def shortest(target: Target, found: probe.Found,
             seconds: float = SHORTEST_SECONDS) -> tuple[probe.Found, Exploration | None]:
    """``found`` shortened by delta debugging, then a breadth-first search (symmetry
    reduced where sound) that expands no state as deep as it is long: the violation it meets
    is a shortest one (returned with its exploration); when it outgrows
    :data:`SHORTEST_STATES` or ``seconds``, the shortened run stands (None)."""
    short = probe.shorten(target.comp, target.initial, found)
    ts = target.ts
    sym, _ = analyse_symmetry(ts)
    remaining = control.current().remaining()
    if remaining is not None:
        seconds = min(seconds, remaining)
    ex = explore(ts, Limits(SHORTEST_STATES, max(seconds, 0.1)), keep_edges=False,
                 symmetry=sym, stop_at_violation=True, max_depth=len(short.actions))
    return short, (ex if ex.stopped_at >= 0 else None)


def violation_result(target: Target, short: probe.Found, ex: Exploration | None,
                     names: Sequence[str], others: Mapping[str, str],
                     stats: dict) -> CheckResult:
    """The answer of a swarm that met a violation, in ``check``'s terms: the invariants
    broken (with the shortest trace the bounded search found, or else the shortened one,
    marked not proved shortest) violated; the other safety properties ``names`` unknown (not
    checked), and each of ``others`` unknown for its reason."""
    broken: dict[str, Trace] = {}
    props = target.ts.properties
    if ex is not None:
        for pi, j in sorted(ex.found.items()):
            if props[pi].kind == INVARIANT:
                broken[props[pi].name] = ex.trace_to(j)
    else:
        unpack = target.comp.layout.unpack
        trace = Trace(tuple(unpack(x) for x in short.states), tuple(short.actions))
        broken = {p.name: trace for pi, p in enumerate(props) if short.broken >> pi & 1}
    why = f"not checked: the swarm {STOPPED_AT_VIOLATION}"
    results = []
    for name in names:
        if name in broken:
            r = PropertyResult(name, VIOLATED, "swarm", PARTIAL, trace=broken[name])
            r.stats["shortest"] = ex is not None
            results.append(r)
        else:
            results.append(PropertyResult(name, UNKNOWN, "swarm", PARTIAL, reason=why))
    results += [PropertyResult(n, UNKNOWN, "swarm", PARTIAL, reason=r) for n, r in others.items()]
    return CheckResult(results, "swarm", stats)
