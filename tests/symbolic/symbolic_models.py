"""Small transition systems for the symbolic-engine tests, a BFS oracle, and a hypothesis
strategy for random systems."""

from __future__ import annotations

from collections import deque

from hypothesis import strategies as st

from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import INVARIANT, REACHABLE, Action, Property, TransitionSystem
from nmrcheck.ir.walkers import evaluate

C = E.const


# -- the oracle -------------------------------------------------------------------------------


def bfs(ts: TransitionSystem) -> dict[tuple[int, ...], int]:
    """Every reachable state with its distance from the initial state (plain BFS with the
    reference interpreter)."""
    init = ts.initial_state()
    dist = {init: 0}
    queue = deque([init])
    while queue:
        s = queue.popleft()
        for a in ts.enabled(s):
            t = ts.fire(a, s)
            if t not in dist:
                dist[t] = dist[s] + 1
                queue.append(t)
    return dist


def goal_distance(ts: TransitionSystem, p: Property) -> int | None:
    """Length of a shortest run to a violation (invariant) or witness (reachable), or None."""
    dist = bfs(ts)
    hits = [d for s, d in dist.items() if bool(evaluate(p.expr, s)) == (p.kind == REACHABLE)]
    return min(hits) if hits else None


# -- hand-made systems --------------------------------------------------------------------------


def counter(n: int = 5) -> TransitionSystem:
    """x counts 0..n and stops."""
    ts = TransitionSystem()
    x = ts.add_var("x", 0, n, 0)
    ts.actions.append(Action("inc", E.lt(x, C(n)), ((0, E.add(x, C(1))),)))
    ts.properties += [
        Property("bounded", INVARIANT, E.le(x, C(n))),
        Property("never3", INVARIANT, E.ne(x, C(3))),
        Property("reach_top", REACHABLE, E.eq(x, C(n))),
        Property("reach_beyond", REACHABLE, E.eq(x, C(n + 1))),
    ]
    return ts


def peterson(buggy: bool) -> TransitionSystem:
    """Peterson's mutual exclusion for two processes; the buggy variant sets ``turn`` before
    raising its flag. pc: 0 idle, 1 and 2 entry protocol, 3 critical."""
    ts = TransitionSystem()
    flag = [ts.add_bool("flag0"), ts.add_bool("flag1")]
    turn = ts.add_var("turn", 0, 1, 0)
    pc = [
        ts.add_enum("pc0", ["idle", "e1", "e2", "crit"]),
        ts.add_enum("pc1", ["idle", "e1", "e2", "crit"]),
    ]
    fi = [ts.index("flag0"), ts.index("flag1")]
    ti = ts.index("turn")
    pi = [ts.index("pc0"), ts.index("pc1")]
    for i in (0, 1):
        j = 1 - i
        set_flag = (fi[i], C(1))
        give_turn = (ti, C(j))
        first, second = (give_turn, set_flag) if buggy else (set_flag, give_turn)
        ts.actions += [
            Action(f"p{i}.first", E.eq(pc[i], C(0)), (first, (pi[i], C(1))), slot=i),
            Action(f"p{i}.second", E.eq(pc[i], C(1)), (second, (pi[i], C(2))), slot=i),
            Action(
                f"p{i}.enter",
                E.and_(E.eq(pc[i], C(2)), E.or_(E.not_(flag[j]), E.eq(turn, C(i)))),
                ((pi[i], C(3)),),
                slot=i,
            ),
            Action(f"p{i}.leave", E.eq(pc[i], C(3)), ((fi[i], C(0)), (pi[i], C(0))), slot=i),
        ]
    ts.properties.append(
        Property("mutex", INVARIANT, E.not_(E.and_(E.eq(pc[0], C(3)), E.eq(pc[1], C(3)))))
    )
    ts.properties.append(
        Property("both_critical", REACHABLE, E.and_(E.eq(pc[0], C(3)), E.eq(pc[1], C(3))))
    )
    return ts


def crashing(halt: bool = True) -> TransitionSystem:
    """x counts to 3; at x == 2 the system may crash; a crashed state is halted, so the
    ``poison`` action it enables never fires and x never moves after a crash."""
    ts = TransitionSystem()
    crashed = ts.add_bool("crashed")
    x = ts.add_var("x", 0, 3, 0)
    bad = ts.add_bool("bad")
    ts.actions += [
        Action("inc", E.lt(x, C(3)), ((1, E.add(x, C(1))),)),
        Action("crash", E.eq(x, C(2)), ((0, C(1)),)),
        Action("poison", crashed, ((2, C(1)),)),
    ]
    if halt:
        ts.halted = crashed
    ts.properties += [
        Property("no_poison", INVARIANT, E.not_(bad)),
        Property("no_crash", INVARIANT, E.not_(crashed)),
        Property("crashed_at_3", REACHABLE, E.and_(crashed, E.eq(x, C(3)))),
    ]
    return ts


def ladder(top: int = 10, bad: int = 8, wrap: bool = False) -> TransitionSystem:
    """x climbs 0..3 from the initial state (and, with ``wrap``, goes back from 3 to 0, so
    that runs never stop); an unreachable second rung 4..top climbs too. ``x != bad`` holds
    but is only (bad - 3)-inductive (4 -> ... -> bad are unreachable)."""
    ts = TransitionSystem()
    x = ts.add_var("x", 0, top, 0)
    climb = E.or_(E.lt(x, C(3)), E.and_(E.le(C(4), x), E.lt(x, C(top))))
    ts.actions.append(Action("climb", climb, ((0, E.add(x, C(1))),)))
    if wrap:
        ts.actions.append(Action("wrap", E.eq(x, C(3)), ((0, C(0)),)))
    ts.properties.append(Property(f"not{bad}", INVARIANT, E.ne(x, C(bad))))
    return ts


def shift() -> TransitionSystem:
    """a takes the value of b; b never changes from 0: ``a == 0`` is 2- but not 1-inductive."""
    ts = TransitionSystem()
    ts.add_bool("a")
    b = ts.add_bool("b")
    ts.actions.append(Action("shift", E.TRUE, ((0, b),)))
    ts.properties.append(Property("a_low", INVARIANT, E.not_(ts.var_expr("a"))))
    return ts


def leaky() -> TransitionSystem:
    """x is declared 0..2 but its update leaves the domain (the encoders must stay faithful)."""
    ts = TransitionSystem()
    x = ts.add_var("x", 0, 2, 0)
    ts.actions.append(Action("inc", E.lt(x, C(5)), ((0, E.add(x, C(1))),)))
    ts.properties += [
        Property("le4", INVARIANT, E.le(x, C(4))),
        Property("le9", INVARIANT, E.le(x, C(9))),
    ]
    return ts


def wide(n: int = 100) -> TransitionSystem:
    """Two counters stepping by 2 and 3: hard for the integer encodings, used for timeouts."""
    ts = TransitionSystem()
    x = ts.add_var("x", 0, n, 0)
    y = ts.add_var("y", 0, n, 0)
    ts.actions += [
        Action("x+2", E.lt(x, C(n - 2)), ((0, E.add(x, C(2))),)),
        Action("y+3", E.lt(y, C(n - 3)), ((1, E.add(y, C(3))),)),
    ]
    ts.properties.append(Property("not_odd", INVARIANT, E.ne(E.add(x, y), C(n // 2 * 2 + 1))))
    return ts


# -- random systems ---------------------------------------------------------------------------


def _int_expr(draw, ts: TransitionSystem, depth: int) -> Expr:  # type: ignore[no-untyped-def]
    choices = ["const", "var"] + (["add", "sub", "ite"] if depth > 0 else [])
    kind = draw(st.sampled_from(choices))
    if kind == "const":
        return C(draw(st.integers(-2, 3)))
    if kind == "var":
        # int variables only: an ite takes the type of its first branch, and eq() folds a
        # "bool" compared with a constant as if it were 0/1 (see the report on the IR)
        ints = [v.name for v in ts.vars if v.type == E.INT]
        return ts.var_expr(draw(st.sampled_from(ints))) if ints else C(draw(st.integers(0, 1)))
    if kind == "ite":
        return E.ite(
            _bool_expr(draw, ts, depth - 1),
            _int_expr(draw, ts, depth - 1),
            _int_expr(draw, ts, depth - 1),
        )
    a, b = _int_expr(draw, ts, depth - 1), _int_expr(draw, ts, depth - 1)
    return E.add(a, b) if kind == "add" else E.sub(a, b)


def _bool_expr(draw, ts: TransitionSystem, depth: int) -> Expr:  # type: ignore[no-untyped-def]
    bools = [v.name for v in ts.vars if v.type == E.BOOL]
    choices = ["lt", "le", "eq"] + (["var"] if bools else []) + ["const"]
    if depth > 0:
        choices += ["not", "and", "or", "ite", "beq"]
    kind = draw(st.sampled_from(choices))
    if kind == "const":
        return C(draw(st.booleans()))
    if kind == "var":
        return ts.var_expr(draw(st.sampled_from(bools)))
    if kind in ("lt", "le", "eq"):
        d = max(depth - 1, 0)
        a, b = _int_expr(draw, ts, d), _int_expr(draw, ts, d)
        return {"lt": E.lt, "le": E.le, "eq": E.eq}[kind](a, b)
    if kind == "not":
        return E.not_(_bool_expr(draw, ts, depth - 1))
    if kind == "ite":
        return E.ite(*(_bool_expr(draw, ts, depth - 1) for _ in range(3)))
    a, b = _bool_expr(draw, ts, depth - 1), _bool_expr(draw, ts, depth - 1)
    return {"and": E.and_, "or": E.or_, "beq": E.eq}[kind](a, b)


def clamp(e: Expr, lo: int, hi: int) -> Expr:
    """``e`` forced into ``lo..hi`` (so random updates respect the declared domains)."""
    return E.ite(E.lt(e, C(lo)), C(lo), E.ite(E.lt(C(hi), e), C(hi), e))


def _atom(draw, ts: TransitionSystem) -> Expr:  # type: ignore[no-untyped-def]
    """A simple comparison of a variable with a constant or another variable."""
    v = ts.vars[draw(st.integers(0, len(ts.vars) - 1))]
    x = ts.var_expr(v.name)
    if draw(st.booleans()):
        y = C(draw(st.integers(v.lo, v.hi)))
    else:
        y = ts.var_expr(ts.vars[draw(st.integers(0, len(ts.vars) - 1))].name)
    return draw(st.sampled_from([E.eq, E.ne, E.lt, E.le]))(x, y)


def _guard(draw, ts: TransitionSystem) -> Expr:  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["true", "atom", "and", "or", "random"]))
    if kind == "true":
        return E.TRUE
    if kind == "atom":
        return _atom(draw, ts)
    if kind == "random":
        return _bool_expr(draw, ts, draw(st.integers(0, 2)))
    a, b = _atom(draw, ts), _atom(draw, ts)
    return E.and_(a, b) if kind == "and" else E.or_(a, b)


def _update(draw, ts: TransitionSystem, i: int, slack: int) -> Expr:  # type: ignore[no-untyped-def]
    """A new value for variable ``i``, at most ``slack`` outside its domain whenever every
    variable is inside."""
    v = ts.vars[i]
    x = ts.var_expr(v.name)
    kind = draw(st.sampled_from(["inc", "dec", "const", "copy", "random"]))
    if kind == "inc":
        return E.ite(E.lt(x, C(v.hi)), E.add(x, C(1)), C(v.lo))
    if kind == "dec":
        return E.ite(E.lt(C(v.lo), x), E.sub(x, C(1)), C(v.hi))
    if kind == "const":
        return C(draw(st.integers(v.lo, v.hi)))
    if v.type == E.BOOL:
        if kind == "copy":
            return E.not_(x) if draw(st.booleans()) else _atom(draw, ts)
        return _bool_expr(draw, ts, draw(st.integers(0, 2)))
    if kind == "copy":
        other = ts.var_expr(ts.vars[draw(st.integers(0, len(ts.vars) - 1))].name)
        return clamp(other, v.lo - slack, v.hi + slack)
    return clamp(_int_expr(draw, ts, draw(st.integers(0, 2))), v.lo - slack, v.hi + slack)


@st.composite
def systems(draw, max_vars: int = 4, slack: int = 0) -> TransitionSystem:  # type: ignore[no-untyped-def]
    """A random system: 2..max_vars variables with 2..4 values, 1..6 actions with random
    guards and updates (in-domain unless ``slack``: then they may overshoot by that much, yet
    the state space stays finite), sometimes a halted condition, and one property."""
    ts = TransitionSystem()
    for i in range(draw(st.integers(2, max_vars))):
        if draw(st.booleans()):
            ts.add_bool(f"b{i}", draw(st.booleans()))
        else:
            lo = draw(st.integers(-1, 1))
            hi = lo + draw(st.integers(1, 3))
            ts.add_var(f"v{i}", lo, hi, draw(st.integers(lo, hi)))
    for n in range(draw(st.integers(1, 6))):
        guard = _guard(draw, ts)
        targets = draw(
            st.lists(st.integers(0, len(ts.vars) - 1), min_size=1, max_size=2, unique=True)
        )
        updates = tuple((i, _update(draw, ts, i, slack)) for i in sorted(targets))
        ts.actions.append(Action(f"a{n}", guard, updates))
    if draw(st.integers(0, 3)) == 0:
        ts.halted = E.and_(_atom(draw, ts), _atom(draw, ts))
    kind = draw(st.sampled_from([INVARIANT, REACHABLE]))
    prop = _guard(draw, ts) if draw(st.booleans()) else E.not_(_guard(draw, ts))
    ts.properties.append(Property("p", kind, prop))
    ts.validate()
    return ts
