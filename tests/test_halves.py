"""A search whose levels are split between two processes (engines/explicit/halves.py) gives the
one-process search's exploration exactly: the same states in the same order, parents,
actions, edges, instance mappings, counts, stops and properties found."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from nmrcheck.engines.common.checker import Limits
from nmrcheck.engines.explicit import forks, halves
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
pytestmark = pytest.mark.skipif(not forks.usable(), reason="needs os.fork and two cores")


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
    first one at different places (the next ones where the measured speeds say), and the
    twin's answers in messages of a few states."""
    monkeypatch.setattr(halves, "MIN_LEVEL", 2)
    monkeypatch.setattr(halves, "FIRST_SHARE", request.param)
    monkeypatch.setattr(halves, "PAUSE", 0)  # split every level, paying or not
    monkeypatch.setattr(halves, "BATCH", 5)  # the twin's answers in several messages


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


@pytest.fixture
def slow_twin(monkeypatch, small_levels):
    """A twin that pauses before each claim of two states, so this process, done with its
    own part first, takes back the end of the twin's; returns the parts taken back."""
    monkeypatch.setattr(halves, "CHUNK", 2)
    front = forks.Claims.front
    monkeypatch.setattr(forks.Claims, "front",
                        lambda self, n: time.sleep(0.001) or front(self, n))
    taken, side = [], halves._Half.side
    monkeypatch.setattr(halves._Half, "side",
                        lambda self, lo, hi: taken.append((lo, hi)) or side(self, lo, hi))
    return taken


@pytest.mark.parametrize("model", [MODELS[1], MODELS[4], MODELS[5]])
@pytest.mark.parametrize("edges", [True, False], ids=["edges", "states"])
def test_the_states_taken_back_from_the_twin_give_the_sequential_search(model, edges,
                                                                         slow_twin):
    one, two = _both(load(str(ROOT / model)), keep_edges=edges)
    assert one == two and slow_twin


@pytest.mark.parametrize("edges", [True, False], ids=["edges", "states"])
def test_a_stop_in_a_part_taken_back_cuts_where_one_process_cuts(edges, slow_twin):
    ts = load(str(ROOT / "models/bugs/ebpf-254-detach-while-classify.nmr"))
    one, two = _both(ts, keep_edges=edges, stop_at_violation=True)
    assert one == two
    for cap in (40, 150, 300):
        one, two = _both(ts, keep_edges=edges, limits=Limits(max_states=cap))
        assert len(one[0]) == cap and one == two
    assert slow_twin


def test_claims_from_both_ends_meet_without_overlap():
    claims = forks.Claims()
    claims.reset(10, 30)
    got = [claims.front(4), claims.back(3), claims.back(3), claims.front(4)]
    assert got == [(10, 14), (27, 30), (24, 27), (14, 18)]
    assert claims.back(100) == (18, 24) and claims.front(1) is None
    assert claims.back(1) is None and claims.split() == 18
    claims.close()


@pytest.mark.parametrize("model", [
    "models/seeds/detach-pending-never-completed.nmr",  # a hang
    "models/patterns/progcons-detach-count-then-flag.nmr",  # a hang, and liveness
    "bench/models/provider-clients-2.nmr",  # none, under symmetry
])
def test_atoms_and_hangs_beside_liveness_decide_what_one_process_decides(model, monkeypatch,
                                                                         small_levels):
    from nmrcheck.engines.explicit import checker

    monkeypatch.setattr(checker, "BESIDE_FROM", 0)  # every graph: atoms, hangs in a child
    started, start = [], forks.Child.start
    monkeypatch.setattr(forks.Child, "start", staticmethod(
        lambda work: started.append(1) or start(work)))
    ts = load(str(ROOT / model))
    one = checker.check(ts, symmetry="auto", cores=1)[0]
    assert not started
    two = checker.check(ts, symmetry="auto", cores=0)[0]
    assert started
    assert [(r.property, r.verdict, r.trace, r.stats) for r in one.results] == \
        [(r.property, r.verdict, r.trace, r.stats) for r in two.results]
    assert any(r.property == "no_hang" for r in one.results)


class _Part:
    """A part that records what this process asks (no twin is forked: ``Twin.start`` is
    replaced)."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []
        self.taken: list[tuple[int, int]] = []

    def fork(self, claims) -> None:
        pass

    def side(self, lo: int, hi: int) -> bytes:
        self.taken.append((lo, hi))
        return b"side"

    def merge(self, answer, acc) -> tuple[int, int, bool]:
        return (1, -1, True)

    def ask(self, mid: int, hi: int) -> bytes:
        self.asked.append((mid, hi))
        return b""


def test_no_level_is_split_once_this_process_holds_half_the_memory_limit(monkeypatch):
    twins = []
    monkeypatch.setattr(halves.Twin, "start", staticmethod(
        lambda part: twins.append(part) or SimpleNamespace(ask=lambda data: None,
                                                            stop=lambda: None)))
    part = _Part()
    assert halves.Split(True, 1, part).begin(0, 100_000) == 100_000
    assert not twins and not part.asked
    two = halves.Split(True, 1 << 30, part)
    end = two.begin(0, 100_000)
    assert part.asked == [(end, 100_000)] and 0 < end < 100_000 and twins == [part]


def test_what_this_process_needs_later_is_done_once_while_it_waits_for_the_twin(monkeypatch):
    monkeypatch.setattr(halves.Twin, "start", staticmethod(lambda part: SimpleNamespace(
        ask=lambda data: None, ready=lambda: False, answer=lambda: b"", seconds=0.1,
        stop=lambda: None)))
    monkeypatch.setattr(halves, "PAUSE", 0)
    part = _Part()
    calls = []
    two = halves.Split(True, 1 << 30, part, lambda: calls.append(len(calls)) or len(calls) > 1)
    for _ in range(3):  # waits: not done yet; waits: done; then not asked again
        mid = two.begin(0, 100_000)
        assert two.finish()[1] == -1
        assert part.taken[-1][0] == mid  # it took back the twin's part before waiting
    assert calls == [0, 1]


def test_one_twin_serves_every_split_level_of_a_search(monkeypatch, small_levels):
    started, start = [], halves.Twin.start
    monkeypatch.setattr(halves.Twin, "start", staticmethod(
        lambda part: started.append(1) or start(part)))
    asked, ask = [], halves.Twin.ask
    monkeypatch.setattr(halves.Twin, "ask", lambda self, data: asked.append(1) or ask(self, data))
    ts = load(str(ROOT / "bench/models/multi-npi-2.nmr"))
    one, two = _both(ts, keep_edges=True)
    assert one == two and started == [1] and len(asked) > 10


@pytest.mark.parametrize("model", [
    "models/liveness/progcons-both-unload.nmr",
    "models/patterns/progcons-detach-count-then-flag.nmr",
    "bench/models/provider-clients-2.nmr",  # under symmetry
])
@pytest.mark.parametrize("block", [3, 1 << 20], ids=["shared", "one-side"])
def test_the_atoms_the_twin_makes_while_it_waits_are_every_states_atoms(model, block,
                                                                        small_levels,
                                                                        monkeypatch):
    """The twin makes them while it would wait; at the end it and this process share what
    is left (a few states at a time), or one of them does it all."""
    from nmrcheck.engines.explicit.liveness import AtomTable, liveness_properties

    monkeypatch.setattr(halves, "IDLE_BLOCK", block)
    ts = load(str(ROOT / model))
    live = liveness_properties(ts)
    assert live
    sym = analyse(ts)[0]
    ex = explore(ts, symmetry=sym, split=True, beside=lambda ex: AtomTable.of(ts, ex, live))
    assert ex.complete and ex.atoms is not None
    here = AtomTable.of(ts, ex, live)
    here.extend(len(ex.states))
    assert [list(a) for a in ex.atoms] == [list(here.trig), list(here.bad)]
    assert explore(ts, symmetry=sym, split=False).atoms is None
