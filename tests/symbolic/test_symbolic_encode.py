"""The Z3 encoder is another walker: it must agree with ``walkers.evaluate`` everywhere."""

from __future__ import annotations

import z3
from hypothesis import given, settings
from hypothesis import strategies as st
from symbolic_models import _bool_expr, _int_expr, counter, peterson, systems

from nmrcheck.engines.symbolic.encode import (
    action_at,
    encode,
    frame,
    init_at,
    step,
    unrolling,
    var_at,
)
from nmrcheck.ir import expr as E
from nmrcheck.ir.walkers import evaluate

SETTINGS = settings(max_examples=150, deadline=None, database=None, derandomize=True)


def _value(x: z3.ExprRef) -> int:
    x = z3.simplify(x)
    if z3.is_true(x):
        return 1
    if z3.is_false(x):
        return 0
    return x.as_long()


@st.composite
def expr_and_state(draw):  # type: ignore[no-untyped-def]
    ts = draw(systems())
    kind = draw(st.sampled_from(["int", "bool"]))
    depth = draw(st.integers(0, 3))
    e = _int_expr(draw, ts, depth) if kind == "int" else _bool_expr(draw, ts, depth)
    # values also outside the declared domains: the encoding must not assume them
    state = tuple(draw(st.integers(-4, 4)) for _ in ts.vars)
    return ts, e, state


@SETTINGS
@given(expr_and_state())
def test_encode_agrees_with_evaluate(case) -> None:  # type: ignore[no-untyped-def]
    ts, e, state = case
    ctx = z3.Context()
    xs = frame(ts, 0, ctx)
    z = encode(e, xs, ctx)
    assert z3.is_bool(z) == (e.type == E.BOOL)
    ground = z3.substitute(z, *[(x, z3.IntVal(v, ctx)) for x, v in zip(xs, state, strict=True)])
    expected = evaluate(e, state)
    if e.type == E.BOOL:
        expected = int(bool(expected))
    assert _value(ground) == expected


def test_var_names_and_frames() -> None:
    ts = counter()
    ctx = z3.Context()
    assert str(var_at(ts, 0, 3, ctx)) == "x@3"
    assert str(action_at(2, ctx)) == "action#2"
    s = z3.Solver(ctx=ctx)
    s.add(init_at(ts, 0, ctx), step(ts, 0, 1, ctx))
    assert s.check() == z3.sat
    m = s.model()
    assert m.eval(var_at(ts, 0, 1, ctx)).as_long() == 1
    assert m.eval(action_at(0, ctx)).as_long() == 0


def test_unrolling_matches_interpreter_run_lengths() -> None:
    """counter(5) has a run of exactly k steps for k <= 5, and none longer."""
    ts = counter(5)
    for k in range(8):
        ctx = z3.Context()
        s = z3.Solver(ctx=ctx)
        s.add(unrolling(ts, k, ctx))
        assert (s.check() == z3.sat) == (k <= 5)


def test_step_selector_names_the_fired_action() -> None:
    ts = peterson(buggy=False)
    ctx = z3.Context()
    s = z3.Solver(ctx=ctx)
    s.add(init_at(ts, 0, ctx), step(ts, 0, 1, ctx), action_at(0, ctx) == 4)  # p1.first
    assert s.check() == z3.sat
    m = s.model()
    after = tuple(m.eval(x, model_completion=True).as_long() for x in frame(ts, 1, ctx))
    assert after == ts.fire(4, ts.initial_state())
    s = z3.Solver(ctx=ctx)
    s.add(init_at(ts, 0, ctx), step(ts, 0, 1, ctx), action_at(0, ctx) == 2)
    assert s.check() == z3.unsat  # p0.enter is not enabled initially
