"""Z3 formula builders for a transition system, and the expression walker ``encode``.

Every state variable is a Z3 ``Int`` per frame (``var_at``). The encoding follows the reference
interpreter (``TransitionSystem.enabled``/``fire``) exactly: updates are not clipped to the
declared domains, so a model whose updates leave their domain is still checked faithfully.
``in_range`` states the domains; engines assume it only where ``escapes`` (an update leaving
a domain) has been ruled out, or prove it. Each step ``j -> k`` records the action that fired
in ``action_at(j)`` so a model can be read back into a trace.

Every builder takes an optional Z3 context; the engines use a fresh one per call, so results
do not depend on what ran earlier in the process.
"""

from __future__ import annotations

from collections.abc import Sequence

import z3

from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import TransitionSystem

# -- small helpers ------------------------------------------------------------------------


def mk_and(items: Sequence[z3.BoolRef], ctx: z3.Context | None = None) -> z3.BoolRef:
    """Conjunction that accepts zero or one items."""
    if not items:
        return z3.BoolVal(True, ctx)
    if len(items) == 1:
        return items[0]
    return _nary(z3.Z3_mk_and, items)


def mk_or(items: Sequence[z3.BoolRef], ctx: z3.Context | None = None) -> z3.BoolRef:
    """Disjunction that accepts zero or one items."""
    if not items:
        return z3.BoolVal(False, ctx)
    if len(items) == 1:
        return items[0]
    return _nary(z3.Z3_mk_or, items)


def _nary(fn, items: Sequence[z3.BoolRef]) -> z3.BoolRef:  # type: ignore[no-untyped-def]
    """``fn`` (``Z3_mk_and``/``Z3_mk_or``) straight through the C API: the Python layer's
    checks of every argument cost more than the solver on large formulas."""
    ctx = items[0].ctx
    arr = (z3.Ast * len(items))()
    for k, x in enumerate(items):
        if not isinstance(x, z3.BoolRef) or x.ctx is not ctx:
            raise z3.Z3Exception("mk_and/mk_or take Boolean terms of one context")
        arr[k] = x.as_ast()
    return z3.BoolRef(fn(ctx.ref(), len(items), arr), ctx)


# -- frames -------------------------------------------------------------------------------


def var_at(ts: TransitionSystem, i: int, k: int, ctx: z3.Context | None = None) -> z3.ArithRef:
    """The Z3 integer for variable ``i`` at frame ``k`` (named ``name@k``)."""
    return z3.Int(f"{ts.vars[i].name}@{k}", ctx)


def frame(ts: TransitionSystem, k: int, ctx: z3.Context | None = None) -> list[z3.ArithRef]:
    """All state variables at frame ``k``, by index."""
    return [var_at(ts, i, k, ctx) for i in range(len(ts.vars))]


def action_at(j: int, ctx: z3.Context | None = None) -> z3.ArithRef:
    """The selector recording which action fires from frame ``j`` (named ``action#j``)."""
    return z3.Int(f"action#{j}", ctx)


def in_range(ts: TransitionSystem, k: int, ctx: z3.Context | None = None) -> z3.BoolRef:
    """Every variable at frame ``k`` lies in its declared domain ``lo..hi``."""
    return range_of(ts, frame(ts, k, ctx), ctx)


def range_of(
    ts: TransitionSystem, state: Sequence[z3.ArithRef], ctx: z3.Context | None = None
) -> z3.BoolRef:
    """Every variable of ``state`` lies in its declared domain."""
    parts = []
    for v, x in zip(ts.vars, state, strict=True):
        parts += [x >= v.lo, x <= v.hi]
    return mk_and(parts, ctx)


def init_at(ts: TransitionSystem, k: int, ctx: z3.Context | None = None) -> z3.BoolRef:
    """Frame ``k`` is the (single) initial state."""
    return mk_and([var_at(ts, i, k, ctx) == v.init for i, v in enumerate(ts.vars)], ctx)


def transition(
    ts: TransitionSystem,
    cur: Sequence[z3.ArithRef],
    nxt: Sequence[z3.ArithRef],
    selector: z3.ArithRef | None = None,
    ctx: z3.Context | None = None,
) -> z3.BoolRef:
    """``cur -> nxt`` by one action: not halted, and for some action ``a`` (with
    ``selector == a`` when a selector is given) its guard holds, the updated variables take
    their new values and every other variable keeps its value."""
    memo: dict[tuple[int, bool], z3.ExprRef] = {}
    options = []
    for a_index, action in enumerate(ts.actions):
        updated = dict(action.updates)
        parts: list[z3.BoolRef] = []
        if selector is not None:
            parts.append(selector == a_index)
        parts.append(_bool(action.guard, cur, memo, ctx))
        for i in range(len(ts.vars)):
            if i in updated:
                parts.append(nxt[i] == _int(updated[i], cur, memo, ctx))
            else:
                parts.append(nxt[i] == cur[i])
        options.append(mk_and(parts, ctx))
    if not options:
        return z3.BoolVal(False, ctx)
    bounds = [] if selector is None else [selector >= 0, selector < len(ts.actions)]
    return mk_and([*bounds, z3.Not(_bool(ts.halted, cur, memo, ctx)), mk_or(options, ctx)], ctx)


def escapes(ts: TransitionSystem, k: int, ctx: z3.Context | None = None) -> z3.BoolRef:
    """From frame ``k`` some action leads out of the declared domains: it is enabled and one
    of its updates takes a value outside its variable's ``lo..hi``."""
    cur = frame(ts, k, ctx)
    memo: dict[tuple[int, bool], z3.ExprRef] = {}
    options = []
    for action in ts.actions:
        outside = []
        for i, e in action.updates:
            value, v = _int(e, cur, memo, ctx), ts.vars[i]
            outside.append(z3.Or(value < v.lo, value > v.hi))
        if outside:
            options.append(z3.And(_bool(action.guard, cur, memo, ctx), mk_or(outside, ctx)))
    return mk_and([z3.Not(_bool(ts.halted, cur, memo, ctx)), mk_or(options, ctx)], ctx)


def step(ts: TransitionSystem, j: int, k: int, ctx: z3.Context | None = None) -> z3.BoolRef:
    """One transition from frame ``j`` to frame ``k``; ``action_at(j)`` says which action."""
    return transition(ts, frame(ts, j, ctx), frame(ts, k, ctx), action_at(j, ctx), ctx)


def unrolling(ts: TransitionSystem, k: int, ctx: z3.Context | None = None) -> z3.BoolRef:
    """Runs of exactly ``k`` steps from the initial state: frames ``0..k``."""
    return mk_and([init_at(ts, 0, ctx)] + [step(ts, j, j + 1, ctx) for j in range(k)], ctx)


def distinct_states(
    ts: TransitionSystem, j: int, k: int, ctx: z3.Context | None = None
) -> z3.BoolRef:
    """Frames ``j`` and ``k`` hold different states (used for simple-path constraints)."""
    return mk_or([var_at(ts, i, j, ctx) != var_at(ts, i, k, ctx) for i in range(len(ts.vars))], ctx)


# -- the expression walker ----------------------------------------------------------------

_NATIVE_BOOL = frozenset({"not", "and", "or", "eq", "lt", "le"})


def encode(e: Expr, frame_vars: Sequence[z3.ArithRef], ctx: z3.Context | None = None) -> z3.ExprRef:
    """``e`` over ``frame_vars`` (one Z3 Int per variable index): a ``BoolRef`` for boolean
    expressions, an ``ArithRef`` for integer ones. Matches ``walkers.evaluate`` on every input,
    including out-of-domain values (truth is ``!= 0``, as in Python)."""
    if ctx is None and frame_vars:
        ctx = frame_vars[0].ctx
    memo: dict[tuple[int, bool], z3.ExprRef] = {}
    if e.type == E.BOOL:
        return _bool(e, frame_vars, memo, ctx)
    return _int(e, frame_vars, memo, ctx)


def encode_bool(
    e: Expr,
    frame_vars: Sequence[z3.ArithRef],
    ctx: z3.Context | None = None,
    memo: dict | None = None,
) -> z3.BoolRef:
    """The truth of ``e`` (non-zero) over ``frame_vars``, whatever its declared type;
    ``memo`` shares the encodings of common subexpressions between calls (same frame)."""
    if ctx is None and frame_vars:
        ctx = frame_vars[0].ctx
    return _bool(e, frame_vars, {} if memo is None else memo, ctx)


def encode_int(
    e: Expr,
    frame_vars: Sequence[z3.ArithRef],
    ctx: z3.Context | None = None,
    memo: dict | None = None,
) -> z3.ArithRef:
    """The integer value of ``e`` over ``frame_vars`` (0/1 for comparisons and connectives);
    ``memo`` as for :func:`encode_bool`."""
    if ctx is None and frame_vars:
        ctx = frame_vars[0].ctx
    return _int(e, frame_vars, {} if memo is None else memo, ctx)


def _bool(e: Expr, fv: Sequence[z3.ArithRef], memo: dict, ctx: z3.Context | None) -> z3.BoolRef:
    key = (e.uid, True)
    r = memo.get(key)
    if r is not None:
        return r
    op, a = e.op, e.args
    if op == "const":
        r = z3.BoolVal(e.val != 0, ctx)
    elif op == "not":
        r = z3.Not(_bool(a[0], fv, memo, ctx))
    elif op == "and":
        r = mk_and([_bool(x, fv, memo, ctx) for x in a], ctx)
    elif op == "or":
        r = mk_or([_bool(x, fv, memo, ctx) for x in a], ctx)
    elif op == "eq":
        if all(x.op in _NATIVE_BOOL for x in a):  # both 0/1-valued: compare truths
            r = _bool(a[0], fv, memo, ctx) == _bool(a[1], fv, memo, ctx)
        else:
            r = _int(a[0], fv, memo, ctx) == _int(a[1], fv, memo, ctx)
    elif op == "lt":
        r = _int(a[0], fv, memo, ctx) < _int(a[1], fv, memo, ctx)
    elif op == "le":
        r = _int(a[0], fv, memo, ctx) <= _int(a[1], fv, memo, ctx)
    elif op == "ite":
        r = z3.If(
            _bool(a[0], fv, memo, ctx), _bool(a[1], fv, memo, ctx), _bool(a[2], fv, memo, ctx)
        )
    elif op in ("var", "add", "sub"):
        r = _int(e, fv, memo, ctx) != 0
    else:
        raise ValueError(f"unknown expression kind {op!r}")
    memo[key] = r
    return r


def _int(e: Expr, fv: Sequence[z3.ArithRef], memo: dict, ctx: z3.Context | None) -> z3.ArithRef:
    key = (e.uid, False)
    r = memo.get(key)
    if r is not None:
        return r
    op, a = e.op, e.args
    if op == "const":
        r = z3.IntVal(e.val, ctx)
    elif op == "var":
        r = fv[e.val]
    elif op == "add":
        r = _int(a[0], fv, memo, ctx) + _int(a[1], fv, memo, ctx)
    elif op == "sub":
        r = _int(a[0], fv, memo, ctx) - _int(a[1], fv, memo, ctx)
    elif op == "ite":
        r = z3.If(_bool(a[0], fv, memo, ctx), _int(a[1], fv, memo, ctx), _int(a[2], fv, memo, ctx))
    elif op in _NATIVE_BOOL:
        r = z3.If(_bool(e, fv, memo, ctx), z3.IntVal(1, ctx), z3.IntVal(0, ctx))
    else:
        raise ValueError(f"unknown expression kind {op!r}")
    memo[key] = r
    return r
