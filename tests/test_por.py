"""Partial-order reduction: the reduced search answers as the full one, with shortest traces."""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmrcheck.engines.explicit import por
from nmrcheck.engines.explicit.checker import check
from nmrcheck.engines.explicit.liveness import without_liveness
from nmrcheck.engines.explicit.por import Reducer
from nmrcheck.engines.explicit.search import explore
from nmrcheck.ir import INVARIANT, REACHABLE, Action, Property, Slot, TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.nmr.load import load
from nmrcheck.traces.replay import check_replays
from tests.ahead import ahead, selected
from tests.support import ROOT, model_params, sweep_slow
from tests.test_codegen import designs

CATALOGUE = sorted((ROOT / "models").rglob("*.nmr"))
BENCH = sorted(
    p for p in (ROOT / "bench" / "models").glob("*.nmr") if p.stem.endswith(("-1", "-2"))
)


def _load(path) -> TransitionSystem:
    if path.parent.name == "models" and path.parent.parent.name == "bench":
        ts = load(str(path), [str(ROOT / "bench" / "safety.spec")], bundled=False)
    else:
        ts = load(str(path))
    return without_liveness(ts)


def _answers(result):
    return {
        r.property: (r.verdict, None if r.trace is None else len(r.trace))
        for r in result.results
    }


def _slow(path) -> bool:
    """The reduced search (stubborn sets, in Python) costs 4 to 13 s on a large design, 0.5 to
    2 s on the other heavy models and the 2-instance bench models: those, and the obligation
    models, are in the full suite only (``sweep_slow``); the seeds, bugs, liveness models,
    small designs (D5) and 1-instance bench models stand for them in the fast tier."""
    return sweep_slow(path) or path.stem.endswith("-2")


def reduced_and_full(path) -> dict:
    """The full and the reduced search of ``path``, what the test compares of them; run ahead
    in a worker process (tests/ahead.py: the reduced search of a large design takes 10 s)."""
    ts = _load(path)
    want, full = check(ts, hangs=False)
    got, ex = por.check(ts, hangs=False, por="on")
    note = got.stats["por"]
    return {"want": _answers(want), "got": _answers(got), "note": note,
            "full_states": len(full.states),
            # the exploration is the reduced one (no rerun): real states only
            "real": "rerun" in note or (ex.complete and set(ex.states) <= set(full.states)),
            "traces": [r.trace for r in got.results if r.trace is not None]}


@pytest.fixture(scope="module")
def searched(request):
    with ahead(reduced_and_full, {p: (p,) for p in selected(request)}) as work:
        yield work


@pytest.mark.parametrize("path", model_params(CATALOGUE + BENCH, slow=_slow))
def test_reduced_search_finds_what_the_full_one_finds(path, searched):
    run = searched.get(path)
    # what the user gets: the same verdicts, traces just as short, and they replay
    assert run["got"] == run["want"]
    note = run["note"]
    assert note["used"] and note["reduced_states"] <= run["full_states"]
    assert run["real"], "the reduced search stored a state the full one does not reach"
    ts = _load(path)
    for trace in run["traces"]:
        check_replays(ts, trace)


def test_off_with_hang_detection_and_on_request():
    ts = _load(ROOT / "models" / "seeds" / "provider-unload.nmr")
    result, _ = por.check(ts, hangs=True, por="auto")
    assert result.stats["por"]["used"] is False and "hang" in result.stats["por"]["reason"]
    result, _ = por.check(ts, hangs=False, por="off")
    assert "por" not in result.stats
    result, _ = por.check(ts, hangs=False, por="on")
    assert result.stats["por"]["used"] is True


def two_threads(watch_y: bool) -> TransitionSystem:
    """Two threads that each set their own flag; a property may read the second flag."""
    ts = TransitionSystem()
    x = ts.add_bool("x")
    y = ts.add_bool("y")
    ts.slots += [Slot("a", 0, 1), Slot("b", 1, 1)]
    ts.actions.append(Action("a: set x", E.not_(x), ((0, E.TRUE),), slot=0))
    ts.actions.append(Action("b: set y", E.not_(y), ((1, E.TRUE),), slot=1))
    watched = y if watch_y else x
    ts.properties.append(Property("watch", REACHABLE, E.and_(watched, E.not_(x if watch_y else y))))
    return ts


def test_independent_steps_are_interleaved_once():
    ts = TransitionSystem()
    x = ts.add_bool("x")
    y = ts.add_bool("y")
    ts.actions.append(Action("set x", E.not_(x), ((0, E.TRUE),)))
    ts.actions.append(Action("set y", E.not_(y), ((1, E.TRUE),)))
    full = explore(ts, keep_edges=False)
    reduced = explore(ts, keep_edges=False, reduce=Reducer(ts))
    assert len(full.states) == 4 and len(reduced.states) == 3


def test_a_property_reading_a_variable_makes_its_writers_visible():
    # "only y set" is reachable; a reduction that always ran x first would miss it
    ts = two_threads(watch_y=True)
    r = Reducer(ts)
    assert r.undo_of(1) == () and r.undo_of(0) != ()  # setting x may undo the goal, not y
    result, _ = por.check(ts, hangs=False, por="on")
    assert result.results[0].verdict == "witnessed"
    full = explore(ts, keep_edges=False)
    reduced = explore(ts, keep_edges=False, reduce=Reducer(ts))
    assert set(reduced.found) == set(full.found) == {0}


def test_halting_actions_are_never_left_out():
    ts = TransitionSystem()
    fault = ts.add_var("fault", 0, 1, 0)
    x = ts.add_bool("x")
    ts.halted = E.not_(E.eq(fault, E.const(0)))
    ts.actions.append(Action("set x", E.not_(x), ((1, E.TRUE),)))
    ts.actions.append(Action("crash", E.eq(fault, E.const(0)), ((0, E.const(1)),)))
    ts.properties.append(Property("no crash", INVARIANT, E.eq(fault, E.const(0))))
    r = Reducer(ts)
    assert r.halts == [False, True]
    result, _ = por.check(ts, hangs=False, por="on")
    assert result.results[0].verdict == "violated" and len(result.results[0].trace) == 1


def test_proviso_uses_the_state_that_is_looked_up():
    # a canonical map that sends every state to the initial one: every successor is "seen",
    # so the proviso must expand fully
    ts = TransitionSystem()
    x = ts.add_bool("x")
    y = ts.add_bool("y")
    ts.actions.append(Action("set x", E.not_(x), ((0, E.TRUE),)))
    ts.actions.append(Action("set y", E.not_(y), ((1, E.TRUE),)))
    r = Reducer(ts)
    from nmrcheck.engines.explicit.codegen import compile_system

    comp = compile_system(ts)
    out, _ = comp.successors(0)
    assert len(r(0, out, {5}, None)) == 1  # nothing seen: one of the two is enough
    assert len(r(0, out, {0}, lambda s: 0)) == 2  # the representative was expanded already


@st.composite
def systems(draw):
    """Small random systems of a few threads with program counters and shared variables."""
    ts = TransitionSystem()
    nshared = draw(st.integers(1, 3))
    shared = [ts.add_var(f"g{i}", 0, 2, 0) for i in range(nshared)]
    nthreads = draw(st.integers(1, 3))
    pcs = []
    for k in range(nthreads):
        pcs.append(ts.add_var(f"t{k}.pc", 0, 3, 1))
        ts.slots.append(Slot(f"t{k}", nshared + k, 0))
    for k, pc in enumerate(pcs):
        for step in range(draw(st.integers(1, 4))):
            at = draw(st.integers(1, 3))
            to = draw(st.integers(0, 3))
            guard = [E.eq(pc, E.const(at))]
            if draw(st.booleans()):
                g = draw(st.sampled_from(shared))
                guard.append(E.eq(g, E.const(draw(st.integers(0, 2)))))
            ups = [(nshared + k, E.const(to))]
            if draw(st.booleans()):
                w = draw(st.integers(0, nshared - 1))
                ups.append((w, E.const(draw(st.integers(0, 2)))))
            ts.actions.append(Action(f"t{k}.{step}", E.and_(*guard), tuple(ups), slot=k))
    for q in range(draw(st.integers(1, 2))):
        v = draw(st.sampled_from(shared + pcs))
        c = E.eq(v, E.const(draw(st.integers(0, 2))))
        kind = draw(st.sampled_from([INVARIANT, REACHABLE]))
        ts.properties.append(Property(f"p{q}", kind, E.not_(c) if kind == INVARIANT else c))
    return ts


@settings(max_examples=200, deadline=None)
@given(systems())
def test_random_systems_reduced_and_full_agree(ts):
    full = explore(ts, keep_edges=False)
    reduced = explore(ts, keep_edges=False, reduce=Reducer(ts))
    assert set(reduced.found) == set(full.found)
    assert set(reduced.states) <= set(full.states)
    want, _ = check(ts, hangs=False)
    got, _ = check(ts, hangs=False, explorer=partial(explore, reduce=Reducer(ts)))
    assert {r.property: r.verdict for r in got.results} == {
        r.property: r.verdict for r in want.results
    }


@pytest.mark.parametrize("name", ["provider-unload.nmr", "provider-unload-no-wait.nmr"])
def test_with_symmetry_reduction(name):
    ts = _load(ROOT / "models" / "seeds" / name)
    want, _ = check(ts, hangs=False, symmetry="auto")
    got, _ = por.check(ts, hangs=False, por="on", symmetry="auto")
    assert got.stats["symmetry"]["used"] and got.stats["por"]["used"]
    assert _answers(got) == _answers(want)
    for r in got.results:
        if r.trace is not None:
            check_replays(ts, r.trace)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(designs())
def test_random_designs_reduced_and_full_agree(ts):
    # design-shaped: program counters, a fault that halts, counters, implications
    full = explore(ts, keep_edges=False)
    reduced = explore(ts, keep_edges=False, reduce=Reducer(ts))
    assert set(reduced.found) == set(full.found)
    assert set(reduced.states) <= set(full.states)
    want, _ = check(ts, hangs=False)
    got, _ = por.check(ts, hangs=False, por="on")
    assert _answers(got) == _answers(want)
