"""The generated successor and property functions against the IR interpreter, on systems
shaped like compiled designs: program counters pinned by guards, a fault variable that halts,
offsets (``lo``), counters updated by deltas, conjuncts shared by consecutive actions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmrcheck.engines.explicit.codegen import compile_system
from nmrcheck.engines.explicit.search import explore, safety_view
from nmrcheck.ir import INVARIANT, REACHABLE, Action, Property, Slot, TransitionSystem, evaluate
from nmrcheck.ir import expr as E


@st.composite
def designs(draw):
    ts = TransitionSystem()
    fault = ts.add_var("fault", 0, 3, 0)
    ts.halted = E.not_(E.eq(fault, E.const(0)))
    los = draw(st.lists(st.integers(-2, 2), min_size=1, max_size=3))
    shared = []
    for i, lo in enumerate(los):
        hi = lo + draw(st.integers(1, 4))
        shared.append(ts.add_var(f"g{i}", lo, hi, draw(st.integers(lo, hi))))
    flag = ts.add_bool("flag", draw(st.booleans()))
    vals = [(v, ts.vars[v.val]) for v in shared]
    # a variable no action writes takes no bits and folds; tests still read it
    k0 = ts.add_var("k", 0, 2, 0)
    readable = vals + [(k0, ts.vars[k0.val])]
    pcs = []
    for k in range(draw(st.integers(1, 3))):
        pcs.append(ts.add_var(f"t{k}.pc", 0, 3, draw(st.integers(0, 3))))
        ts.slots.append(Slot(f"t{k}", len(ts.vars) - 1, draw(st.sampled_from([0, 0, 2]))))

    def atom():
        kind = draw(st.integers(0, 4))
        v, var = draw(st.sampled_from(readable))
        c = E.const(draw(st.integers(var.lo - 1, var.hi + 1)))
        if kind == 0:
            return E.eq(v, c)
        if kind == 1:
            return E.not_(E.eq(v, c))
        if kind == 2:
            return E.lt(v, c)
        if kind == 3:
            return flag if draw(st.booleans()) else E.not_(flag)
        return E.in_(v, draw(st.sets(st.integers(var.lo, var.hi), min_size=1, max_size=3)))

    common = [atom() for _ in range(2)]
    for k, pc in enumerate(pcs):
        for step in range(draw(st.integers(1, 5))):
            guard = [E.eq(pc, E.const(draw(st.integers(0, 3)))), E.eq(fault, E.const(0))]
            guard += draw(st.lists(st.sampled_from(common + [atom(), atom()]), max_size=3))
            ups: dict[int, E.Expr] = {pc.val: E.const(draw(st.integers(0, 3)))}
            v, var = draw(st.sampled_from(vals))
            choice = draw(st.integers(0, 3))
            if choice == 0:  # a counter step, kept in range by its guard
                guard.append(E.lt(v, E.const(var.hi)))
                ups[v.val] = E.add(v, E.const(1))
            elif choice == 1:
                guard.append(E.lt(E.const(var.lo), v))
                ups[v.val] = E.sub(v, E.const(1))
            elif choice == 2:
                ups[v.val] = E.const(draw(st.integers(var.lo, var.hi)))
            if draw(st.integers(0, 5)) == 0:
                ups[fault.val] = E.const(draw(st.integers(1, 3)))
            if draw(st.booleans()):
                ups[flag.val] = E.ite(atom(), E.TRUE, flag)
            ts.actions.append(
                Action(f"t{k}.{step}", E.and_(*guard), tuple(sorted(ups.items())), slot=k)
            )
    ts.actions.append(Action("env", E.and_(atom(), atom()), ((flag.val, E.not_(flag)),)))
    ts.properties.append(Property("no fault", INVARIANT, E.eq(fault, E.const(0))))
    ts.properties.append(Property("p", INVARIANT, E.or_(atom(), atom())))
    ts.properties.append(Property("q", REACHABLE, E.and_(atom(), atom())))
    # nested: pins tested together inside each disjunct, locals that only one branch reads
    ts.properties.append(Property("r", INVARIANT, E.or_(
        E.and_(atom(), atom(), atom()), E.and_(atom(), atom(), atom()), atom())))
    return ts


# 200 random designs, 3 to 5 s: full suite only (tests/test_ir.py compares the generated
# successors with the interpreter in the fast tier)
@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(designs())
def test_generated_functions_match_the_interpreter(ts):
    comp = compile_system(ts)
    ex = explore(ts, keep_edges=False)
    for s in ex.states:
        values = comp.layout.unpack(s)
        out, en = comp.successors(s)
        busy = sum(1 << k for k, sl in enumerate(ts.slots) if values[sl.pc] != sl.idle)
        assert comp.busy(s) == busy
        if evaluate(ts.halted, values):
            assert out == [] and en == -1
            continue
        want = [(a, ts.fire(a, values)) for a in ts.enabled(values)]
        got = [(a, comp.layout.unpack(t)) for a, t in out]
        assert sorted(got) == sorted(want)
        assert en == sum({1 << ts.actions[a].slot for a, _ in want if ts.actions[a].slot >= 0})
        holds = [bool(evaluate(p.expr, values)) for p in ts.properties]
        assert [c(s) for c in comp.checks] == holds
        found = sum(
            1 << k
            for k, p in enumerate(ts.properties)
            if holds[k] != (p.kind == INVARIANT)
        )
        assert comp.found(s, 0) == found
        assert comp.found(s, 1) == found & ~1


def test_successor_order_is_the_grouped_guard_order():
    # actions pinned on the same variable come out in (variable, value, action) order, the
    # others after them in action order: the search order does not depend on the optimiser
    ts = TransitionSystem()
    a = ts.add_var("a", 0, 2, 1)
    b = ts.add_var("b", 0, 2, 1)
    ts.actions.append(Action("b1", E.eq(b, E.const(1)), ((0, E.const(0)),)))
    ts.actions.append(Action("free", E.lt(a, E.const(2)), ((1, E.const(2)),)))
    ts.actions.append(Action("a1", E.eq(a, E.const(1)), ((1, E.const(0)),)))
    ts.actions.append(Action("a1'", E.and_(E.eq(a, E.const(1)), E.eq(b, E.const(1))), ()))
    comp = compile_system(ts)
    s = comp.layout.pack(ts.initial_state())
    assert [x for x, _ in comp.successors(s)[0]] == [2, 3, 0, 1]


def test_wide_field_is_not_enumerated():
    # a field of more than 8 bits is never gone through value by value at compile time
    ts = TransitionSystem()
    x = ts.add_var("x", 0, 70000, 0)
    f = ts.add_bool("f", False)
    ts.actions.append(Action("inc", E.lt(x, E.const(5)), ((0, E.add(x, E.const(1))),)))
    ts.actions.append(Action("hit", E.and_(E.eq(x, E.const(3)), E.not_(f)), ((1, E.TRUE),)))
    ts.actions.append(Action("miss", E.not_(E.lt(x, E.const(5))), ((1, E.FALSE),)))
    ts.properties.append(Property("p", INVARIANT, E.lt(x, E.const(6))))
    comp = compile_system(ts)
    ex = explore(ts, keep_edges=False)
    assert len(ex.states) == 9 and ex.found == {}  # x = 0..5, and f set from x = 3 on
    for s in ex.states:
        values = comp.layout.unpack(s)
        want = sorted((a, ts.fire(a, values)) for a in ts.enabled(values))
        assert sorted((a, comp.layout.unpack(t)) for a, t in comp.successors(s)[0]) == want


def test_the_probe_and_the_search_share_one_decision_tree(monkeypatch):
    from support import ROOT

    from nmrcheck.engines.explicit import checker, codegen
    from nmrcheck.nmr.load import load

    emitted = []
    real = codegen._emit_tree
    monkeypatch.setattr(codegen, "_emit_tree", lambda gen: emitted.append(1) or real(gen))
    ts = load(str(ROOT / "models/seeds/detach-pending.nmr"))
    checker.check(ts, cores=1)
    assert len(emitted) == 1  # the probe's successors and the search's expander
    # the same system with one more action: a new tree, which has it
    ts.actions.append(Action("env: idle", E.TRUE, ()))
    view = safety_view(ts)  # what the probe compiles: remembered, and so is its code
    assert "env: idle" in compile_system(view).source and len(emitted) == 2
    checker.check(ts, cores=1)
    assert len(emitted) == 2
