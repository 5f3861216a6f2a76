"""Which properties to check, and what a bad (or wanted) state is for each."""

from __future__ import annotations

from collections.abc import Iterable

from nmrcheck.errors import InputError
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import INVARIANT, REACHABLE, Property, TransitionSystem


def select(ts: TransitionSystem, properties: Iterable[Property | str] | None) -> list[Property]:
    """The properties to check: every invariant and reachable property of ``ts`` for ``None``
    (liveness properties are for the lasso engine), else the given ones (objects, or names of
    properties of ``ts``), in the given order; a named property of another kind is an
    ``InputError``."""
    if properties is None:
        chosen = [p for p in ts.properties if p.kind in (INVARIANT, REACHABLE)]
    else:
        by_name = {p.name: p for p in ts.properties}
        chosen = []
        for p in properties:
            if isinstance(p, str):
                if p not in by_name:
                    raise InputError(f"no property named {p!r}")
                p = by_name[p]
            chosen.append(p)
    for p in chosen:
        if p.kind not in (INVARIANT, REACHABLE):
            raise InputError(f"property {p.name!r} has unknown kind {p.kind!r}")
    return chosen


def goal(p: Property) -> Expr:
    """The states a search looks for: violations of an invariant, witnesses of a reachable."""
    return E.not_(p.expr) if p.kind == INVARIANT else p.expr


def safe(p: Property) -> Expr:
    """The states a proof must confine every run to: the negation of ``goal``."""
    return p.expr if p.kind == INVARIANT else E.not_(p.expr)


def in_domains(ts: TransitionSystem) -> Expr:
    """Every variable lies in its declared domain ``lo..hi``."""
    return E.and_(
        *(
            E.and_(E.le(E.const(v.lo), E.var(i, v.type)), E.le(E.var(i, v.type), E.const(v.hi)))
            for i, v in enumerate(ts.vars)
        )
    )
