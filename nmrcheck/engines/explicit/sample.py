"""The explicit engine's sampler of reachable states (:mod:`..common.sample`): its
generated breadth-first search, falling back to the reference one for a system it cannot
take."""

from __future__ import annotations

from nmrcheck.control import Stopped, current
from nmrcheck.engines.common.sample import Sample, bfs_sample
from nmrcheck.engines.explicit.search import Limits, explore
from nmrcheck.ir.system import TransitionSystem


def reachable_states(ts: TransitionSystem, max_states: int, seconds: float | None) -> Sample:
    """The reachable states of ``ts``, at most ``max_states`` of them and within ``seconds``.
    Needs closed domains."""
    try:
        with current().abortable():  # generated code: a stop cuts it short at once
            ex = explore(ts, Limits(max_states=max_states, timeout=seconds), keep_edges=False)
    except Stopped:  # the run must stop: not a system the explicit engine cannot take
        raise
    except Exception:  # the explicit engine cannot take this system: the reference search
        return bfs_sample(ts, max_states, seconds)
    unpack = ex.compiled.layout.unpack
    packed = ex.states
    return Sample(ts, len(packed), bool(ex.complete), ex.trace_to, dict(ex.found),
                  lambda: [unpack(s) for s in packed])
