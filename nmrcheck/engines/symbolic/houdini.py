"""Houdini: the largest inductive subset of a set of candidate invariants.

Candidates are clauses (:mod:`.candidates`) and IR expressions (the properties to prove).
Starting from those that hold initially, each pass checks every action of the slice against
the candidates still kept, assumed in the pre-state: a candidate that an action can falsify is
dropped. A pass that drops nothing ends it: the kept candidates, with the domains of the slice
variables, are then an inductive invariant (of the slice, hence of the system). Only the
re-check of the certificate built from them makes it a proof.

The pre-state is encoded one-hot (:mod:`.finite`; the domains must be closed), and the
post-state of an action is never built: a candidate's truth after the action is its truth
with the updated atoms replaced, which for the constant updates of most actions is a constant
or one literal. Candidates whose variables an action does not write are not asked about it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import z3

from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import TransitionSystem
from nmrcheck.ir.walkers import evaluate, free_vars, substitute

from .budget import Budget, checkpoint
from .candidates import Clause
from .encode import mk_and, mk_or
from .finite import Encoder, Frames
from .slicing import Slice


@dataclass
class Outcome:
    """What Houdini kept (``None`` lists when it ran out of time; ``remaining`` are then the
    clauses not dropped yet: every clause it dropped is outside the largest inductive subset,
    so a later run may start from these)."""

    clauses: list[Clause] | None
    exprs: list[Expr] | None
    stats: dict[str, object] = field(default_factory=dict)
    remaining: list[Clause] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.clauses is not None


def houdini(
    ts: TransitionSystem,
    slc: Slice,
    clauses: Sequence[Clause],
    exprs: Sequence[Expr],
    budget: Budget,
) -> Outcome:
    """The largest subset of ``clauses`` and ``exprs`` (over the variables of ``slc``) that
    holds initially and is preserved by every action of the slice."""
    start = time.monotonic()
    init = ts.initial_state()
    keep_c = [not all(init[x] == a for x, a in c) for c in clauses]
    keep_e = [bool(evaluate(e, init)) for e in exprs]
    readers: dict[int, list[tuple[bool, int]]] = {}
    for k, c in enumerate(clauses):
        for x, _ in c:
            readers.setdefault(x, []).append((True, k))
    for k, e in enumerate(exprs):
        for x in sorted(free_vars(e)):
            readers.setdefault(x, []).append((False, k))
    inside = set(slc.vars)
    updates = []
    for n in slc.actions:
        a = ts.actions[n]
        upd = {i: u for i, u in a.updates if i in inside}
        seen: dict[tuple[bool, int], None] = {}
        for i in upd:
            for r in readers.get(i, ()):
                seen.setdefault(r, None)
        updates.append((a, upd, list(seen)))
    after: dict[tuple[int, int], Expr] = {}  # (action, expression) -> expression after it
    passes = queries = 0
    stats: dict[str, object] = {"candidates": len(clauses) + len(exprs)}

    def outcome(done: bool) -> Outcome:
        stats.update(
            passes=passes,
            queries=queries,
            kept=sum(keep_c) + sum(keep_e),
            seconds=round(time.monotonic() - start, 3),
        )
        kept = [c for c, k in zip(clauses, keep_c, strict=True) if k]
        if not done:
            return Outcome(None, None, stats, kept)
        return Outcome(kept, [e for e, k in zip(exprs, keep_e, strict=True) if k], stats, kept)

    while True:
        passes += 1
        ctx = z3.Context()
        frames = Frames(ts, slc, ctx)
        cur, _atoms, cons = frames.make("s")
        enc = Encoder(cur, ctx)
        s = z3.SolverFor("QF_FD", ctx=ctx)
        s.add(*cons)
        for c, k in zip(clauses, keep_c, strict=True):
            if k:
                s.add(mk_or([z3.Not(cur[x][a]) for x, a in c], ctx))
        for e, k in zip(exprs, keep_e, strict=True):
            if k:
                s.add(enc.truth(e))
        s.add(z3.Not(enc.truth(ts.halted)))
        dropped = False
        for n, (a, upd, affected) in enumerate(updates):
            checkpoint()
            obligations = []  # (is clause, index, "violated after the action")
            for is_clause, k in affected:
                if is_clause:
                    if not keep_c[k]:
                        continue
                    lits = []
                    for x, val in clauses[k]:
                        u = upd.get(x)
                        if u is None:
                            lits.append(cur[x][val])
                        elif u.op == "const":
                            if u.val != val:
                                break
                        else:
                            lits.append(enc.equals(u, val))
                    else:
                        obligations.append((True, k, mk_and(lits, ctx)))
                elif keep_e[k]:
                    post = after.get((n, k))
                    if post is None:
                        post = substitute(exprs[k], upd)
                        after[(n, k)] = post
                    if post is not E.TRUE:
                        obligations.append((False, k, z3.Not(enc.truth(post))))
            if not obligations:
                continue
            guard = enc.truth(a.guard)
            while obligations:
                queries += 1
                s.push()
                s.add(guard, mk_or([f for _, _, f in obligations], ctx))
                r, _ = budget.check(s)
                if r == z3.sat:
                    m = s.model()
                    broken = [
                        (c, k)
                        for c, k, f in obligations
                        if z3.is_true(m.eval(f, model_completion=True))
                    ]
                s.pop()
                if r == z3.unsat:
                    break
                if r != z3.sat or not broken:
                    return outcome(False)
                for is_clause, k in broken:
                    if is_clause:
                        keep_c[k] = False
                    else:
                        keep_e[k] = False
                dropped = True
                gone = set(broken)
                obligations = [o for o in obligations if (o[0], o[1]) not in gone]
        if not dropped:
            return outcome(True)


def formula(
    ts: TransitionSystem,
    slc: Slice,
    clauses: Sequence[Clause],
    extra: Sequence[z3.BoolRef],
    cur: Sequence[z3.ArithRef],
    ctx: z3.Context,
) -> z3.BoolRef:
    """The invariant as a formula over integer state constants ``cur``: every slice variable
    in its domain, every clause, and ``extra`` (already over ``cur``)."""
    parts: list[z3.BoolRef] = []
    for i in slc.vars:
        v = ts.vars[i]
        parts += [cur[i] >= v.lo, cur[i] <= v.hi]
    differs: dict[tuple[int, int], z3.BoolRef] = {}
    r = ctx.ref()
    for c in clauses:
        lits = []
        for x, a in c:
            lit = differs.get((x, a))
            if lit is None:
                eq = z3.Z3_mk_eq(r, cur[x].as_ast(), z3.IntVal(a, ctx).as_ast())
                lit = z3.BoolRef(z3.Z3_mk_not(r, eq), ctx)
                differs[(x, a)] = lit
            lits.append(lit)
        parts.append(mk_or(lits, ctx))
    parts += list(extra)
    return mk_and(parts, ctx)
