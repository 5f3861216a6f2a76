"""The finite-domain (one-hot) encoding, slicing and partial-order reduction behind BMC."""

from __future__ import annotations

import itertools

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st
from symbolic_models import _bool_expr, _int_expr, bfs, counter, leaky, peterson, systems

from nmrcheck.engines.common.results import HOLDS_BOUNDED, VIOLATED, WITNESSED
from nmrcheck.engines.symbolic import bmc
from nmrcheck.engines.symbolic.bmc import Unrolling, unrolling_for
from nmrcheck.engines.symbolic.budget import Budget
from nmrcheck.engines.symbolic.finite import (
    Encoder,
    Frames,
    domains_closed,
    independence,
)
from nmrcheck.engines.symbolic.finite import Unrolling as FiniteUnrolling
from nmrcheck.engines.symbolic.slicing import Slice, cone, lift
from nmrcheck.ir import expr as E
from nmrcheck.ir.system import INVARIANT, REACHABLE, Action, Property, TransitionSystem
from nmrcheck.ir.walkers import evaluate

C = E.const


@st.composite
def expr_and_state(draw):  # type: ignore[no-untyped-def]
    ts = draw(systems())
    kind = draw(st.sampled_from(["int", "bool"]))
    depth = draw(st.integers(0, 3))
    e = _int_expr(draw, ts, depth) if kind == "int" else _bool_expr(draw, ts, depth)
    # the one-hot encoding only represents in-domain states
    state = tuple(draw(st.integers(v.lo, v.hi)) for v in ts.vars)
    return ts, e, state


# 150 random expressions, 2 to 3 s: full suite only (tests/symbolic/test_symbolic_encode.py
# compares the encoding with the interpreter in the fast tier)
@pytest.mark.slow
@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(expr_and_state())
def test_value_distributions_agree_with_evaluate(case) -> None:  # type: ignore[no-untyped-def]
    ts, e, state = case
    ctx = z3.Context()
    frame, atoms, cons = Frames(ts, everything(ts), ctx).make(0)
    enc = Encoder(frame, ctx)
    s = z3.Solver(ctx=ctx)
    s.add(*cons, *(frame[i][x] for i, x in enumerate(state)))
    expected = evaluate(e, state)
    if e.type == E.BOOL:
        s.add(z3.Not(enc.truth(e)) if expected else enc.truth(e))
        assert s.check() == z3.unsat
    else:
        values = enc.values(e)
        assert expected in values
        s.add(z3.Not(values[expected]))
        assert s.check() == z3.unsat
        s = z3.Solver(ctx=ctx)
        s.add(*cons, *(frame[i][x] for i, x in enumerate(state)))
        s.add(z3.Not(enc.truth(e)) if expected else enc.truth(e))
        assert s.check() == z3.unsat


def everything(ts: TransitionSystem) -> Slice:
    return Slice(tuple(range(len(ts.vars))), tuple(range(len(ts.actions))))


def two_counters(extra: bool = True) -> TransitionSystem:
    """x and y count to 3 independently; z (when ``extra``) is a toggle nobody reads."""
    ts = TransitionSystem()
    x = ts.add_var("x", 0, 3, 0)
    y = ts.add_var("y", 0, 3, 0)
    ts.actions += [
        Action("x+1", E.lt(x, C(3)), ((0, E.add(x, C(1))),)),
        Action("y+1", E.lt(y, C(3)), ((1, E.add(y, C(1))),)),
    ]
    if extra:
        z = ts.add_bool("z")
        ts.actions.append(Action("flip", E.TRUE, ((2, E.not_(z)),)))
    ts.properties += [
        Property("not_both_top", INVARIANT, E.not_(E.and_(E.eq(x, C(3)), E.eq(y, C(3))))),
        Property("x2_y1", REACHABLE, E.and_(E.eq(x, C(2)), E.eq(y, C(1)))),
    ]
    return ts


def test_cone_of_influence_and_lift() -> None:
    ts = two_counters()
    slc = cone(ts, [ts.properties[0].expr])
    assert slc.vars == (0, 1) and slc.actions == (0, 1)
    assert cone(ts, [E.eq(ts.var_expr("x"), C(1))]).vars == (0,)
    assert "2 of 3 variables" in slc.describe(ts)
    trace = lift(ts, [0, 1, 0])
    assert trace.states[-1] == (2, 1, 0)


def test_domains_closed() -> None:
    ts = two_counters()
    assert domains_closed(ts, everything(ts))
    assert not domains_closed(leaky(), cone(leaky(), [leaky().properties[0].expr]))
    # what the system says about itself is trusted
    flagged = leaky()
    flagged.meta["domains_closed"] = True
    assert domains_closed(flagged, cone(flagged, [flagged.properties[0].expr]))
    ts.meta["domains_closed"] = False
    assert not domains_closed(ts, everything(ts))
    # a system from the NMR compiler is closed by construction
    compiled = leaky()
    compiled.meta["compiler"] = object()
    assert domains_closed(compiled, everything(compiled))


def test_independence() -> None:
    ts = two_counters()
    slc = everything(ts)
    # every action reads and writes only its own variable: all pairs are independent
    assert independence(ts, slc) == [[], [0], [0, 1]]
    ts.halted = E.eq(ts.var_expr("x"), C(3))  # x then matters to every action
    assert independence(ts, slc) == [[], [], [1]]


def test_partial_order_reduction_keeps_shortest_runs() -> None:
    """Runs are sorted, but every state reachable in k steps still is, by a run of k steps."""
    ts = two_counters()
    dist = bfs(ts)
    budget = Budget(None)
    for target_state, d in dist.items():
        target = E.and_(*(E.eq(ts.var_expr(v.name), C(x)) for v, x in zip(ts.vars, target_state)))
        run = unrolling_for(ts, [target], budget)
        assert isinstance(run, FiniteUnrolling) and run.step.por_pairs == 3
        for _ in range(d):
            assert run.find(target, budget)[0] == z3.unsat
            run.extend(budget)
        r, trace, _ = run.find(target, budget)
        assert r == z3.sat and len(trace) == d and trace.states[-1] == target_state
        # in normal form: never a smaller action right after a larger independent one
        assert all(a <= b for a, b in itertools.pairwise(trace.actions))


def test_bmc_uses_the_finite_encoding_when_exact() -> None:
    ts = two_counters()
    r = {x.property: x for x in bmc(ts, depth=7)}
    assert r["not_both_top"].verdict == VIOLATED and len(r["not_both_top"].trace) == 6
    assert r["x2_y1"].verdict == WITNESSED and len(r["x2_y1"].trace) == 3
    assert r["x2_y1"].stats["encoding"].startswith("finite domains")
    assert "cone of influence: 2 of 3 variables" in r["x2_y1"].stats["encoding"]
    # domains not closed: integers
    (r,) = bmc(leaky(), ["le9"], depth=6)
    assert r.verdict == HOLDS_BOUNDED and r.stats["encoding"].startswith("finite domains") is False
    le9 = leaky().properties[1].expr
    assert isinstance(unrolling_for(leaky(), [E.not_(le9)], Budget(None)), Unrolling)


def test_one_query_answers_several_properties() -> None:
    """Properties whose goals the same shortest run reaches are answered together."""
    ts = peterson(buggy=True)
    r = bmc(ts, depth=8)
    assert [x.verdict for x in r] == [VIOLATED, WITNESSED]
    assert r[0].trace == r[1].trace and len(r[0].trace) == 6


def test_counter_bound_still_checked() -> None:
    r = {x.property: x for x in bmc(counter(5), depth=4)}
    assert r["never3"].verdict == VIOLATED and len(r["never3"].trace) == 3
    assert r["bounded"].verdict == HOLDS_BOUNDED and r["bounded"].bound == 4
