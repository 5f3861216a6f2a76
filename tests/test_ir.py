"""The IR: interning, folding, walkers, and the explicit engine against the IR interpreter."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nmrcheck.engines.common.results import HOLDS, VIOLATED
from nmrcheck.engines.explicit.checker import check
from nmrcheck.engines.explicit.codegen import compile_system
from nmrcheck.engines.explicit.search import explore
from nmrcheck.ir import INVARIANT, Action, Property, Slot, TransitionSystem, evaluate, to_text
from nmrcheck.ir import expr as E


def test_interning_and_folding():
    a = E.var(0, E.INT)
    assert E.add(a, E.const(1)) is E.add(a, E.const(1))
    assert E.and_(E.TRUE, E.eq(a, E.const(2))) is E.eq(a, E.const(2))
    assert E.or_(E.eq(a, a), E.FALSE) is E.TRUE
    assert E.not_(E.not_(E.eq(a, E.const(1)))) is E.eq(a, E.const(1))
    assert E.ite(E.TRUE, a, E.const(3)) is a
    assert to_text(E.lt(a, E.const(3)), lambda i: "x") == "(x < 3)"


def counter(n: int, bad: int | None) -> TransitionSystem:
    ts = TransitionSystem()
    x = ts.add_var("x", 0, n, 0)
    ts.actions.append(Action("inc", E.lt(x, E.const(n)), ((0, E.add(x, E.const(1))),)))
    ts.actions.append(Action("reset", E.eq(x, E.const(n)), ((0, E.const(0)),)))
    if bad is not None:
        ts.properties.append(Property("small", INVARIANT, E.lt(x, E.const(bad))))
    return ts


def test_shortest_counterexample():
    result, ex = check(counter(5, 3), hangs=False)
    r = result.results[0]
    assert r.verdict == VIOLATED and len(r.trace) == 3
    assert [s[0] for s in r.trace.states] == [0, 1, 2, 3]
    assert ex.complete and len(ex.states) == 6


def test_holds_is_exhaustive():
    result, _ = check(counter(5, 9), hangs=False)
    assert result.results[0].verdict == HOLDS and result.stats["states"] == 6


def test_blocked_slot_is_a_hang_only_if_it_can_never_move():
    ts = TransitionSystem()
    pc = ts.add_var("t.pc", 0, 2, 1)
    flag = ts.add_bool("flag")
    ts.slots.append(Slot("t", 0, 0))
    # t waits for flag at pc 1; the environment may set flag or not (it may also stop forever)
    ts.actions.append(
        Action("t: await flag", E.and_(E.eq(pc, E.const(1)), flag), ((0, E.const(0)),), slot=0)
    )
    ts.actions.append(Action("env: set", E.not_(flag), ((1, E.TRUE),)))
    result, _ = check(ts)
    assert {r.property: r.verdict for r in result.results}["no_hang"] == HOLDS
    ts.actions.pop()  # now nobody sets the flag
    result, _ = check(ts)
    hang = {r.property: r for r in result.results}["no_hang"]
    assert hang.verdict == VIOLATED and hang.stats["blocked_slots"] == [0]


VARS = st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=3)


@st.composite
def systems(draw):
    his = draw(VARS)
    ts = TransitionSystem()
    vs = [ts.add_var(f"v{i}", 0, h, draw(st.integers(0, h))) for i, h in enumerate(his)]

    def term():
        return draw(st.one_of(st.sampled_from(vs), st.integers(0, 3).map(E.const)))

    def cond():
        a, b = term(), term()
        c = draw(st.sampled_from([E.eq, E.lt, E.le, E.ne]))(a, b)
        return E.not_(c) if draw(st.booleans()) else c

    for k in range(draw(st.integers(1, 5))):
        g = E.and_(*(cond() for _ in range(draw(st.integers(0, 2)))))
        targets = draw(st.sets(st.integers(0, len(vs) - 1), min_size=1, max_size=len(vs)))
        ups = []
        for t in sorted(targets):
            h = his[t]
            val = E.ite(cond(), E.const(draw(st.integers(0, h))), E.const(draw(st.integers(0, h))))
            ups.append((t, val))
        ts.actions.append(Action(f"a{k}", g, tuple(ups)))
    ts.properties.append(Property("p", INVARIANT, cond()))
    return ts


@settings(max_examples=150, deadline=None)
@given(systems())
def test_generated_successors_match_the_interpreter(ts):
    comp = compile_system(ts)
    ex = explore(ts, keep_edges=False)
    for s in ex.states:
        values = comp.layout.unpack(s)
        want = sorted((a, ts.fire(a, values)) for a in ts.enabled(values))
        got = sorted((a, comp.layout.unpack(t)) for a, t in comp.successors(s)[0])
        assert got == want
        assert comp.checks[0](s) == bool(evaluate(ts.properties[0].expr, values))
    # and the explored set is exactly what a plain interpreter BFS reaches
    seen = {ts.initial_state()}
    todo = [ts.initial_state()]
    while todo:
        s = todo.pop()
        for a in ts.enabled(s):
            t = ts.fire(a, s)
            if t not in seen:
                seen.add(t)
                todo.append(t)
    assert {comp.layout.unpack(s) for s in ex.states} == seen
