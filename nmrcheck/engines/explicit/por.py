"""Partial-order reduction for the breadth-first search: stubborn sets with a cycle proviso.

In a state, the search may follow only the enabled actions of a *stubborn set* ``T`` instead
of all of them, when ``T`` satisfies (Valmari; Godefroid's persistent sets):

- C0: ``T`` holds an enabled action (whenever one is enabled);
- C1: for an enabled action of ``T``, every action dependent on it is in ``T``; for a disabled
  one, every action that writes a variable of one of its false guard conjuncts (a necessary
  enabling set) is in ``T``. Then no run of actions outside ``T`` can disable, enable or fail
  to commute with what ``T`` does;
- C2: no enabled action of ``T`` is visible: it writes no variable that a checked property
  or ``halted`` reads (so the fault flags of the obligations are visible);
- C3 (the proviso, for BFS): when a successor through ``T`` has been seen already, the state
  is expanded fully. Every cycle of the reduced graph has a state whose successor on the
  cycle was seen before it was expanded, so every cycle has a fully expanded state.

Together these preserve the reachability of every state predicate over visible variables:
invariants and reachable properties. They do not preserve hangs (a routine blocked forever),
liveness, or the full graph: :func:`reason_off` says when the reduction must stay off.

Two actions are dependent when one writes a variable the other reads or writes. The read set
of an action is its guard (without the conjuncts every non-halted state satisfies: halted
states are never expanded, and every action that can halt is visible) and its update
expressions; its write set, the variables it assigns.

The reduced search finds the same violations, but its paths need not be shortest:
:func:`check` re-runs the search without reduction when it finds one, so every reported
counterexample is a shortest one.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

from nmrcheck.engines.common.results import EXHAUSTIVE, HOLDS, UNKNOWN, UNREACHABLE, CheckResult
from nmrcheck.engines.explicit.codegen import Layout, _Gen, pin_of, running_facts
from nmrcheck.ir import INVARIANT, TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.walkers import free_vars, substitute

if TYPE_CHECKING:
    from nmrcheck.engines.explicit.search import Exploration, Limits

MODES = ("auto", "on", "off")
PROBE = 500  # states expanded before ``auto`` decides whether the reduction is worth it
BUDGET = 30  # cases tried before an action is taken as visible
GLOBALS: dict = {"__builtins__": {}}  # generated code sees no builtins
MAX_DISABLED = 400  # disabled actions closed in one stubborn set before giving up on it


def _disjuncts(e: Expr) -> tuple[Expr, ...]:
    return e.args if e.op == "or" else (e,)


def _may_undo(ts: TransitionSystem, guard: Expr, sub: dict[int, Expr], goal: Expr) -> bool:
    """Whether an action (``guard``, updates ``sub``) may turn a state where ``goal`` holds
    into one where it does not: a small search over the variables, by constant folding;
    True when it cannot tell within :data:`BUDGET` cases."""
    f = E.and_(guard, goal, E.not_(substitute(goal, sub)))
    budget = [BUDGET]

    def const_of(i: int, x: int) -> Expr:
        return E.const(bool(x)) if ts.vars[i].type == E.BOOL else E.const(x)

    def first_var(e: Expr) -> int:
        stack = [e]
        while stack:
            n = stack.pop()
            if n.op == "var":
                return n.val
            stack.extend(reversed(n.args))
        return -1

    def sat(e: Expr) -> bool:
        while True:  # put in the values that top-level conjuncts pin, until none is left
            if e.op == "const":
                return bool(e.val)
            pins: dict[int, Expr] = {}
            for c in E.conjuncts(e):
                pin = pin_of(c)
                if pin is not None:
                    const = const_of(*pin)
                    if pins.setdefault(pin[0], const) is not const:
                        return False
            if not pins:
                break
            e = substitute(e, pins)
        budget[0] -= 1
        if budget[0] < 0:
            return True
        i = first_var(e)
        v = ts.vars[i]
        return any(sat(substitute(e, {i: const_of(i, x)})) for x in range(v.lo, v.hi + 1))

    return sat(f)


def reason_off(hangs: bool, liveness: bool = False) -> str:
    """Why the reduction cannot be used for this check, or "" when it can."""
    if hangs:
        return "hang detection needs every interleaving; --no-hang allows it"
    if liveness:
        return "the liveness properties need every interleaving"
    return ""


class Reducer:
    """The stubborn-set chooser of one system: ``reducer(s, out, seen, canon)`` is the part
    of ``out`` (the successors ``(action, state)`` of ``s``) that the search follows.

    ``seen`` holds the states already discovered (canonical ones under symmetry: ``canon``
    maps a state to the one the search looks up, so the proviso checks that same state).
    """

    def __init__(self, ts: TransitionSystem, probe: int = 0, worth: float = 0.25) -> None:
        """``probe``: after this many states (0: never), stop reducing unless the reduction
        left out at least the fraction ``worth`` of the enabled transitions so far."""
        self.ts = ts
        self.probe, self.worth = probe, worth
        self.active = True
        self.expanded = self.enabled = self.followed = 0
        # the state -> representative map of a symmetry reduction, when the search has one
        # (set by check: the search may hand over an incremental form of it)
        self.canon: Callable[[int], int] | None = None
        self.next_level: set[int] = set()  # states found for the next BFS level
        n = len(ts.actions)
        facts = running_facts(ts)
        halted_vars = free_vars(ts.halted)
        reads: list[frozenset[int]] = []
        writes: list[frozenset[int]] = []
        conjs: list[list] = []
        self.dead = 0  # actions never enabled in a state that is expanded
        for ai, a in enumerate(ts.actions):
            parts = []
            dead = False
            for c in E.conjuncts(a.guard):
                pin = pin_of(c)
                if pin is not None and pin[0] in facts:
                    if facts[pin[0]] != pin[1]:
                        dead = True
                    continue
                parts.append(c)
            if dead:
                self.dead |= 1 << ai
            r: set[int] = set()
            for c in parts:
                r |= free_vars(c)
            w = set()
            for i, e in a.updates:
                r |= free_vars(e)
                if not (e.op == "var" and e.val == i):
                    w.add(i)
            reads.append(frozenset(r))
            writes.append(frozenset(w))
            conjs.append(parts)
        writer: dict[int, int] = {}
        reader: dict[int, int] = {}
        for ai in range(n):
            for v in writes[ai]:
                writer[v] = writer.get(v, 0) | (1 << ai)
            for v in reads[ai]:
                reader[v] = reader.get(v, 0) | (1 << ai)
        # C2: an enabled action of a stubborn set may not halt. Where it may undo a goal (turn
        # a state where a conjunct of an invariant fails, or a disjunct of a reachable
        # property holds, into one where it does not), the set must also hold the writers of
        # a false conjunct of that goal: then no run outside the set reaches the goal
        goals: list[Expr] = []
        for p in ts.properties:
            if p.kind == INVARIANT:
                goals += [E.not_(c) for c in E.conjuncts(p.expr)]
            else:
                goals += list(_disjuncts(p.expr))
        self.halts = [bool(writes[ai] & halted_vars) for ai in range(n)]
        # computed when first needed (a search that stops early needs few of them)
        self.goals, self.conjs, self.writer = goals, conjs, writer
        self.goal_vars = [free_vars(g) for g in goals]
        self.undo: list[tuple[int, ...] | None] = [None] * n
        self.nes: list[Callable[[int, int, int], int] | None] = [None] * n
        self.goal_nes: list[Callable[[int, int, int], int] | None] = [None] * len(goals)
        self.gen = _Gen(ts, Layout.of(ts))
        # actions whose guards pin a variable to different values are never enabled together,
        # so neither can run while the other is enabled: they are independent
        pinned: dict[int, int] = {}
        pinned_to: dict[tuple[int, int], int] = {}
        pins_of: list[dict[int, int]] = []
        for ai in range(n):
            pins = {}
            for c in conjs[ai]:
                pin = pin_of(c)
                if pin is not None:
                    pins.setdefault(pin[0], pin[1])
            pins_of.append(pins)
            for v, c in pins.items():
                pinned[v] = pinned.get(v, 0) | (1 << ai)
                pinned_to[v, c] = pinned_to.get((v, c), 0) | (1 << ai)
        # dep[a]: the actions that may be enabled with a and do not commute with it, or may
        # disable it or be disabled by it
        self.dep: list[int] = []
        for ai in range(n):
            m = 0
            for v in writes[ai]:
                m |= writer.get(v, 0) | reader.get(v, 0)
            for v in reads[ai]:
                m |= writer.get(v, 0)
            for v, c in pins_of[ai].items():
                m &= ~(pinned[v] & ~pinned_to[v, c])
            self.dep.append(m & ~(1 << ai) & ~self.dead)
        self.reads, self.writes = reads, writes

    def undo_of(self, ai: int) -> tuple[int, ...]:
        """The goals that action ``ai`` may undo (see C2 above)."""
        ks: list[int] = []
        if not self.halts[ai] and not self.dead >> ai & 1:
            a = self.ts.actions[ai]
            guard = E.and_(*self.conjs[ai])
            sub = {i: e for i, e in a.updates}
            for k, g in enumerate(self.goals):
                if self.writes[ai] & self.goal_vars[k] and _may_undo(self.ts, guard, sub, g):
                    ks.append(k)
        self.undo[ai] = out = tuple(ks)
        return out

    def nes_of(self, ai: int) -> Callable[[int, int, int], int]:
        """The enabling function of action ``ai`` (see :meth:`_enabling_function`)."""
        f = self.nes[ai] = self._enabling_function(self.conjs[ai], False)
        return f

    def goal_nes_of(self, k: int) -> Callable[[int, int, int], int]:
        """The enabling function of goal ``k``."""
        f = self.goal_nes[k] = self._enabling_function(list(E.conjuncts(self.goals[k])), True)
        return f

    def _enabling_function(self, parts: list[Expr], goal: bool) -> Callable[[int, int, int], int]:
        """A function ``f(s, enabled, t)`` of a state where the conjunction ``parts`` (a guard,
        a goal) may be false: the writers not in ``t`` of the variables of a false conjunct,
        the one that adds the fewest enabled actions (then the fewest actions). Where every
        conjunct holds: 0 for a goal (it is found there), every action for a guard."""
        ranked = []
        for c in parts:
            m = 0
            for v in free_vars(c):
                m |= self.writer.get(v, 0)
            ranked.append((m.bit_count(), m & ~self.dead, c))
        ranked.sort(key=lambda x: x[0])
        lines = ["def f(s, en, t):", "    best = -1", "    cost = 1 << 62"]
        for _, m, c in ranked:
            lines += [
                f"    if not {self.gen.py(c, {})}:",
                f"        m = {m} & ~t",
                "        if not m:",
                "            return 0",
                "        k = ((m & en).bit_count() << 20) + m.bit_count()",
                "        if k < cost:",
                "            best, cost = m, k",
            ]
        fallback = 0 if goal else ((1 << len(self.ts.actions)) - 1) & ~self.dead
        lines.append(f"    return best if best >= 0 else ({fallback} & ~t)")
        ns: dict[str, object] = {}
        exec(compile("\n".join(lines) + "\n", "<nmrcheck-por>", "exec"), GLOBALS, ns)
        return ns["f"]  # type: ignore[return-value]

    def stubborn(self, s: int, enabled: int, seed: int, limit: int) -> int:
        """The enabled actions of the stubborn set grown from action ``seed`` in state ``s``,
        or 0 when it holds a visible enabled action, at least ``limit`` enabled ones, or
        more than :data:`MAX_DISABLED` disabled ones (then no reduction is worth its cost).

        Enabled actions are closed first: they decide early whether the set is worth it.
        """
        dep, nes, halts, undo, goal_nes = self.dep, self.nes, self.halts, self.undo, self.goal_nes
        t = 1 << seed
        on = t & enabled  # enabled members not yet closed
        off = t & ~enabled  # disabled members not yet closed
        count = 0
        budget = MAX_DISABLED
        while on or off:
            if on:
                low = on & -on
                on ^= low
                x = low.bit_length() - 1
                if halts[x]:
                    return 0
                count += 1
                if count >= limit:
                    return 0
                add = dep[x] & ~t
                u = undo[x]
                for k in self.undo_of(x) if u is None else u:
                    g = goal_nes[k] or self.goal_nes_of(k)
                    add |= g(s, enabled, t | add)
            else:
                budget -= 1
                if budget < 0:
                    return 0
                low = off & -off
                off ^= low
                x = low.bit_length() - 1
                add = (nes[x] or self.nes_of(x))(s, enabled, t)
            if add:
                t |= add
                on |= add & enabled
                off |= add & ~enabled
        return t & enabled

    def __call__(
        self,
        s: int,
        out: list[tuple[int, int]],
        seen: Container[int],
        canon: Callable[[int], int] | None = None,
    ) -> list[tuple[int, int]]:
        """The successors of ``s`` that the reduced search follows (``out`` when all)."""
        if not self.active:
            return out
        if self.canon is not None:
            canon = self.canon
        nxt = self.next_level
        if s in nxt:  # the search has started on the next level of the BFS
            nxt = self.next_level = set()
        ample = self.choose(s, out)
        keys = [canon(t) if canon is not None else t for _, t in ample]
        if ample is not out:
            # C3: a successor expanded already (not one waiting on the next level) may close
            # a cycle of the reduced graph: expand fully
            if any(k in seen and k not in nxt for k in keys):
                ample = out
                keys = [canon(t) if canon is not None else t for _, t in out]
        for k in keys:
            if k not in seen:
                nxt.add(k)
        self.expanded += 1
        self.enabled += len(out)
        self.followed += len(ample)
        if self.expanded == self.probe and self.followed > (1 - self.worth) * self.enabled:
            # not worth its cost here: from now on every state is expanded fully (always sound)
            self.active = False
            self.next_level = set()
        return ample

    def summary(self) -> dict:
        """What the reduction did: states expanded through it, transitions enabled there and
        followed, and whether it stopped after its probe."""
        return {
            "expanded": self.expanded,
            "enabled": self.enabled,
            "followed": self.followed,
            "stopped": not self.active,
        }

    def choose(self, s: int, out: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The successors through the smallest stubborn set found (``out`` when none is
        smaller)."""
        if len(out) < 2:
            return out
        enabled = 0
        for a, _ in out:
            enabled |= 1 << a
        best = 0
        limit = len(out)
        tried = 0
        for a, _ in out:
            if tried >> a & 1:
                continue
            t = self.stubborn(s, enabled, a, limit)
            if t:
                best, limit = t, t.bit_count()
                tried |= t
                if limit == 1:
                    break
            else:
                tried |= 1 << a
        if not best:
            return out
        return [(a, t) for a, t in out if best >> a & 1]


def _merge(full: CheckResult, reduced: CheckResult) -> CheckResult:
    """The full run's answers, with the reduced run's exhaustive ones where the full run
    stopped early."""
    by_name = {r.property: r for r in reduced.results}
    out = []
    for r in full.results:
        red = by_name.get(r.property)
        if (
            r.verdict == UNKNOWN
            and red is not None
            and red.verdict in (HOLDS, UNREACHABLE)
            and red.coverage == EXHAUSTIVE
        ):
            out.append(red)
        else:
            out.append(r)
    return CheckResult(out, full.engine, full.stats)


def check(
    ts: TransitionSystem,
    limits: Limits | None = None,
    progress: Callable[[dict], None] | None = None,
    hangs: bool = True,
    por: str = "auto",
    **kwargs: Any,
) -> tuple[CheckResult, Exploration]:
    """:func:`checker.check` with partial-order reduction where it is sound.

    ``por``: ``on`` reduces whenever it is sound (no hang detection, no liveness property);
    ``auto`` too, but stops reducing after :data:`PROBE` states when it left out less than a
    quarter of the transitions there (then it costs more than it saves); ``off`` never
    reduces. ``stats["por"]`` says what was done, or why not. When the reduced search finds a
    violation (or a witness), the search runs again without reduction, so the reported
    counterexample is a shortest one. Other arguments go to :func:`checker.check`.
    """
    from nmrcheck.engines.explicit import checker
    from nmrcheck.ir import LIVENESS_KINDS

    if por not in MODES:
        raise ValueError(f"bad partial-order reduction mode {por!r}")
    why = reason_off(hangs, any(p.kind in LIVENESS_KINDS for p in ts.properties))
    if por == "off" or why:
        result, ex = checker.check(ts, limits, progress, hangs, **kwargs)
        if por != "off":
            result.stats["por"] = {"used": False, "reason": why, "requested": por}
        return result, ex
    reducer = Reducer(ts, probe=PROBE if por == "auto" else 0)

    def explorer(*args: Any, symmetry: Any = None, **kw: Any) -> Exploration:
        from nmrcheck.engines.explicit import search

        reducer.canon = symmetry.canon if symmetry is not None else None
        kw["keep_edges"] = False
        return search.explore(*args, symmetry=symmetry, reduce=reducer, **kw)

    result, ex = checker.check(ts, limits, progress, hangs, explorer=explorer, **kwargs)
    note: dict[str, Any] = {
        "used": True,
        "requested": por,
        "reduced_states": result.stats.get("states"),
    }
    note.update(reducer.summary())
    if any(r.trace is not None for r in result.results):
        full, ex = checker.check(ts, limits, progress, hangs, **kwargs)
        note["rerun"] = "without reduction, for shortest counterexamples"
        result = _merge(full, result)
    result.stats["por"] = note
    return result, ex
