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
    return _Houdini(ts, slc, clauses, exprs, budget).run()


_Ref = tuple[bool, int]  # (is a clause, index among the clauses or the expressions)


class _Houdini:
    """The state of one Houdini run: which candidates are kept, and per action of the slice
    its updates and the candidates that read what it writes."""

    def __init__(self, ts: TransitionSystem, slc: Slice, clauses: Sequence[Clause],
                 exprs: Sequence[Expr], budget: Budget) -> None:
        self.ts, self.slc, self.budget = ts, slc, budget
        self.clauses, self.exprs = clauses, exprs
        self.start = time.monotonic()
        init = ts.initial_state()
        self.keep_c = [not all(init[x] == a for x, a in c) for c in clauses]
        self.keep_e = [bool(evaluate(e, init)) for e in exprs]
        self.updates = self._updates()
        self.after: dict[tuple[int, int], Expr] = {}  # (action, expression) -> after it
        self.passes = self.queries = 0

    def _updates(self) -> list[tuple[object, dict[int, Expr], list[_Ref]]]:
        readers: dict[int, list[_Ref]] = {}
        for k, c in enumerate(self.clauses):
            for x, _ in c:
                readers.setdefault(x, []).append((True, k))
        for k, e in enumerate(self.exprs):
            for x in sorted(free_vars(e)):
                readers.setdefault(x, []).append((False, k))
        inside = set(self.slc.vars)
        updates = []
        for n in self.slc.actions:
            a = self.ts.actions[n]
            upd = {i: u for i, u in a.updates if i in inside}
            seen: dict[_Ref, None] = {}
            for i in upd:
                for r in readers.get(i, ()):
                    seen.setdefault(r, None)
            updates.append((a, upd, list(seen)))
        return updates

    def run(self) -> Outcome:
        while True:
            self.passes += 1
            dropped = self._pass()
            if dropped is None:
                return self._outcome(False)
            if not dropped:
                return self._outcome(True)

    def _outcome(self, done: bool) -> Outcome:
        stats: dict[str, object] = {
            "candidates": len(self.clauses) + len(self.exprs),
            "passes": self.passes,
            "queries": self.queries,
            "kept": sum(self.keep_c) + sum(self.keep_e),
            "seconds": round(time.monotonic() - self.start, 3),
        }
        kept = [c for c, k in zip(self.clauses, self.keep_c, strict=True) if k]
        if not done:
            return Outcome(None, None, stats, kept)
        exprs = [e for e, k in zip(self.exprs, self.keep_e, strict=True) if k]
        return Outcome(kept, exprs, stats, kept)

    def _pass(self) -> bool | None:
        """One pass over the actions: whether it dropped a candidate (``None``: out of budget)."""
        ctx = z3.Context()
        cur, _atoms, cons = Frames(self.ts, self.slc, ctx).make("s")
        enc = Encoder(cur, ctx)
        s = z3.SolverFor("QF_FD", ctx=ctx)
        s.add(*cons)
        for c, k in zip(self.clauses, self.keep_c, strict=True):
            if k:
                s.add(mk_or([z3.Not(cur[x][a]) for x, a in c], ctx))
        for e, k in zip(self.exprs, self.keep_e, strict=True):
            if k:
                s.add(enc.truth(e))
        s.add(z3.Not(enc.truth(self.ts.halted)))
        dropped = False
        for n, (a, upd, affected) in enumerate(self.updates):
            checkpoint()
            obligations = self._obligations(n, upd, affected, cur, enc, ctx)
            if obligations:
                gone = self._refute(s, enc.truth(a.guard), obligations, ctx)
                if gone is None:
                    return None
                dropped = dropped or gone
        return dropped

    def _obligations(self, n: int, upd: dict[int, Expr], affected: list[_Ref], cur, enc: Encoder,
                     ctx: z3.Context) -> list[tuple[bool, int, z3.BoolRef]]:
        """Per kept candidate the action may affect: "violated after the action"."""
        out = []
        for is_clause, k in affected:
            if is_clause and self.keep_c[k]:
                f = self._clause_after(self.clauses[k], upd, cur, enc, ctx)
                if f is not None:
                    out.append((True, k, f))
            elif not is_clause and self.keep_e[k]:
                post = self.after.get((n, k))
                if post is None:
                    post = self.after[(n, k)] = substitute(self.exprs[k], upd)
                if post is not E.TRUE:
                    out.append((False, k, z3.Not(enc.truth(post))))
        return out

    @staticmethod
    def _clause_after(clause: Clause, upd: dict[int, Expr], cur, enc: Encoder,
                      ctx: z3.Context) -> z3.BoolRef | None:
        """"``clause`` is false after the action" (``None``: a constant update makes it true)."""
        lits = []
        for x, val in clause:
            u = upd.get(x)
            if u is None:
                lits.append(cur[x][val])
            elif u.op == "const":
                if u.val != val:
                    return None
            else:
                lits.append(enc.equals(u, val))
        return mk_and(lits, ctx)

    def _refute(self, s: z3.Solver, guard: z3.BoolRef,
                obligations: list[tuple[bool, int, z3.BoolRef]], ctx: z3.Context) -> bool | None:
        """Drops every candidate the action can falsify; whether any went (``None``: unknown,
        also when a stop cancels Z3 while it builds the query or reads the model)."""
        dropped = False
        while obligations:
            self.queries += 1
            s.push()
            try:
                s.add(guard, mk_or([f for _, _, f in obligations], ctx))
                r, _ = self.budget.check(s)
                broken: list[_Ref] = []
                if r == z3.sat:
                    m = s.model()
                    broken = [(c, k) for c, k, f in obligations
                              if z3.is_true(m.eval(f, model_completion=True))]
            except z3.Z3Exception as ex:
                if "cancel" not in str(ex.value).lower():
                    raise
                return None
            finally:
                s.pop()
            if r == z3.unsat:
                return dropped
            if r != z3.sat or not broken:
                return None
            for is_clause, k in broken:
                (self.keep_c if is_clause else self.keep_e)[k] = False
            dropped = True
            gone = set(broken)
            obligations = [o for o in obligations if (o[0], o[1]) not in gone]
        return dropped


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
