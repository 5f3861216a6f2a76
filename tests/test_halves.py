"""A search whose levels are split between two processes (engines/explicit/halves.py) gives the
one-process search's exploration exactly: the same states in the same order, parents,
actions, edges, instance mappings, counts, stops and properties found."""

from __future__ import annotations

import os
import signal

import pytest

from nmrcheck.engines.common.checker import Limits
from nmrcheck.engines.explicit import halves
from nmrcheck.engines.explicit.search import explore, safety_view
from nmrcheck.engines.explicit.symmetry import analyse
from nmrcheck.nmr.load import load
from tests.support import ROOT

MODELS = [
    "models/seeds/detach-pending.nmr",  # holds
    "models/bugs/ebpf-254-detach-while-classify.nmr",  # a violation
    "models/designs/d5-msquic-nmr.nmr",
    "models/liveness/progcons-both-unload.nmr",
    "bench/models/provider-clients-2.nmr",  # symmetry, with instance mappings on edges
    "bench/models/multi-npi-2.nmr",
]
pytestmark = pytest.mark.skipif(not halves.usable(), reason="needs os.fork and two cores")


def _exploration(ex) -> tuple:
    arrays = [ex.first, ex.dst, ex.act, ex.perm, ex.waiting.masks, ex.groups]
    return (list(ex.states), bytes(ex.parent), bytes(ex.via), ex.transitions, ex.max_depth,
            ex.expanded, ex.complete, ex.stop_reason, ex.stopped_at, dict(ex.found),
            [None if a is None else list(a) for a in arrays],
            [ex.frames.maps[p] for p in sorted(set(ex.perm or []))])


def _both(ts, **kw) -> tuple[tuple, tuple]:
    sym = analyse(ts if kw.get("keep_edges") else safety_view(ts))[0]
    return tuple(_exploration(explore(ts, symmetry=sym, split=split, **kw))
                 for split in (False, True))


@pytest.fixture(params=[0.5, pytest.param(0.1, marks=pytest.mark.slow),
                        pytest.param(0.9, marks=pytest.mark.slow)],
                ids=["half", "child-little", "child-most"])
def small_levels(monkeypatch, request):
    """Split every level of two states or more, so that small models are split too, the
    first one at different places (the next ones where the measured speeds say)."""
    monkeypatch.setattr(halves, "MIN_LEVEL", 2)
    monkeypatch.setattr(halves, "FIRST_SHARE", request.param)
    monkeypatch.setattr(halves, "PAUSE", 0)  # split every level, paying or not


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("edges", [True, False], ids=["edges", "states"])
def test_split_search_is_the_sequential_search(model, edges, small_levels):
    one, two = _both(load(str(ROOT / model)), keep_edges=edges)
    assert one == two


@pytest.mark.parametrize("edges", [True, False], ids=["edges", "states"])
def test_a_stop_inside_the_childs_half_cuts_where_one_process_cuts(edges, small_levels):
    ts = load(str(ROOT / "models/bugs/ebpf-254-detach-while-classify.nmr"))
    one, two = _both(ts, keep_edges=edges, stop_at_violation=True)
    assert one[6:9] == (False, "stopped at the first violation", one[8]) and one[8] > 0
    assert one == two
    for cap in (7, 40, 300):  # state limits falling in either half of a level
        one, two = _both(ts, keep_edges=edges, limits=Limits(max_states=cap))
        assert len(one[0]) == cap and one == two


@pytest.mark.parametrize("model", [
    "models/seeds/detach-pending-never-completed.nmr",  # a hang
    "models/patterns/progcons-detach-count-then-flag.nmr",  # a hang, and liveness
    "bench/models/provider-clients-2.nmr",  # none, under symmetry
])
def test_atoms_and_hangs_beside_liveness_decide_what_one_process_decides(model, monkeypatch):
    from nmrcheck.engines.explicit import checker

    monkeypatch.setattr(checker, "BESIDE_FROM", 0)  # every graph: atoms, hangs in a child
    started, start = [], halves.Child.start
    monkeypatch.setattr(halves.Child, "start", staticmethod(
        lambda work: started.append(1) or start(work)))
    ts = load(str(ROOT / model))
    one = checker.check(ts, symmetry="auto", cores=1)[0]
    assert not started
    two = checker.check(ts, symmetry="auto", cores=0)[0]
    assert started
    assert [(r.property, r.verdict, r.trace, r.stats) for r in one.results] == \
        [(r.property, r.verdict, r.trace, r.stats) for r in two.results]
    assert any(r.property == "no_hang" for r in one.results)


def test_no_level_is_split_once_this_process_holds_half_the_memory_limit():
    def start(lo, hi):
        raise AssertionError("a child was started")

    assert halves.Split(True, memory_mb=1).begin(0, 100_000, start) == 100_000
    started = []
    two = halves.Split(True, memory_mb=1 << 30)
    end = two.begin(0, 100_000, lambda lo, hi: started.append((lo, hi)) or (None, None))
    assert started == [(end, 100_000)] and 0 < end < 100_000


@pytest.mark.parametrize("signum, word", [(signal.SIGINT, "interrupted"),
                                          (signal.SIGTERM, "terminated")])
def test_a_child_ended_by_a_signal_is_a_stop_not_an_internal_error(signum, word):
    """A Ctrl-C reaches the whole process group: the child may die of it before this
    process has seen its own."""
    from nmrcheck import control

    child = halves.Child.start(lambda: os.kill(os.getpid(), signum) or b"")
    with pytest.raises(control.Stopped) as stop:
        child.result()
    assert stop.value.interrupted and stop.value.reason.startswith(word)
    child.stop()  # nothing left to do


def test_a_limit_met_in_a_child_is_the_same_stop_here():
    from nmrcheck import control

    def work() -> bytes:
        raise control.Stopped("time limit reached (5 s)")

    child = halves.Child.start(work)
    with pytest.raises(control.Stopped) as stop:
        child.result()
    assert stop.value.reason == "time limit reached (5 s)" and not stop.value.interrupted
