"""Walkers over expressions: evaluation, free variables, text, Python source."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from nmrcheck.ir.expr import Expr

T = TypeVar("T")


def fold(e: Expr, visit: Callable[[Expr, tuple[T, ...]], T]) -> T:
    """The generic walker: ``visit(node, results of its arguments)``, bottom-up, once per
    distinct node of ``e`` (expressions are DAGs), without recursion."""
    done: dict[int, T] = {}
    stack: list[tuple[Expr, bool]] = [(e, False)]
    while stack:
        n, ready = stack.pop()
        if n.uid in done:
            continue
        if ready or not n.args:
            done[n.uid] = visit(n, tuple(done[a.uid] for a in n.args))
            continue
        stack.append((n, True))
        stack.extend((a, False) for a in reversed(n.args) if a.uid not in done)
    return done[e.uid]


def _unknown(op: str) -> ValueError:
    return ValueError(f"unknown expression kind {op!r}")


Value = Callable[[Expr], int]  # evaluates a sub-expression, lazily (and, or, ite short-cut)
_EVAL: dict[str, Callable[[tuple[Expr, ...], Value], int]] = {
    "not": lambda a, v: 0 if v(a[0]) else 1,
    "and": lambda a, v: int(all(v(x) for x in a)),
    "or": lambda a, v: int(any(v(x) for x in a)),
    "eq": lambda a, v: int(v(a[0]) == v(a[1])),
    "lt": lambda a, v: int(v(a[0]) < v(a[1])),
    "le": lambda a, v: int(v(a[0]) <= v(a[1])),
    "add": lambda a, v: v(a[0]) + v(a[1]),
    "sub": lambda a, v: v(a[0]) - v(a[1]),
    "ite": lambda a, v: v(a[1]) if v(a[0]) else v(a[2]),
}


def evaluate(e: Expr, state: Sequence[int]) -> int:
    """The value of ``e`` in ``state`` (variable values by index: a sequence, or a mapping
    holding at least the variables that the evaluation reaches)."""

    def value(n: Expr) -> int:
        if n.op == "const":
            return n.val
        if n.op == "var":
            return state[n.val]
        rule = _EVAL.get(n.op)
        if rule is None:
            raise _unknown(n.op)
        return rule(n.args, value)

    return value(e)


def free_vars(e: Expr) -> frozenset[int]:
    """Indices of the state variables that ``e`` reads."""
    out: set[int] = set()
    stack = [e]
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if n.uid in seen:
            continue
        seen.add(n.uid)
        if n.op == "var":
            out.add(n.val)
        stack.extend(n.args)
    return frozenset(out)


_INFIX = {"eq": "==", "lt": "<", "le": "<=", "add": "+", "sub": "-"}


def _render(leaf: Callable[[Expr], str], syntax: dict[str, Callable[[tuple[str, ...]], str]]
            ) -> Callable[[Expr, tuple[str, ...]], str]:
    def visit(n: Expr, a: tuple[str, ...]) -> str:
        if not n.args:
            return leaf(n)
        rule = syntax.get(n.op)
        if rule is not None:
            return rule(a)
        if n.op in _INFIX:
            return f"({a[0]} {_INFIX[n.op]} {a[1]})"
        raise _unknown(n.op)

    return visit


_TEXT: dict[str, Callable[[tuple[str, ...]], str]] = {
    "not": lambda a: f"!({a[0]})",
    "and": lambda a: "(" + " && ".join(a) + ")",
    "or": lambda a: "(" + " || ".join(a) + ")",
    "ite": lambda a: f"({a[0]} ? {a[1]} : {a[2]})",
}
_PYTHON: dict[str, Callable[[tuple[str, ...]], str]] = {
    "not": lambda a: f"(not {a[0]})",
    "and": lambda a: "(" + " and ".join(a) + ")",
    "or": lambda a: "(" + " or ".join(a) + ")",
    "ite": lambda a: f"({a[1]} if {a[0]} else {a[2]})",
}


def to_text(e: Expr, name: Callable[[int], str] | None = None) -> str:
    """A readable rendering of ``e``; ``name`` maps a variable index to its name."""

    def leaf(n: Expr) -> str:
        if n.op == "var":
            return name(n.val) if name else f"v{n.val}"
        return ("true" if n.val else "false") if n.type == "bool" else str(n.val)

    return fold(e, _render(leaf, _TEXT))


def to_python(e: Expr, read: Callable[[int], str]) -> str:
    """Python source computing ``e``; ``read(i)`` gives the source that reads variable ``i``.

    Only node kinds and integers reach the output, never user text.
    """

    def leaf(n: Expr) -> str:
        return read(n.val) if n.op == "var" else str(int(n.val))

    return fold(e, _render(leaf, _PYTHON))


def substitute(e: Expr, mapping: dict[int, Expr]) -> Expr:
    """``e`` with each variable ``i`` in ``mapping`` replaced by ``mapping[i]``."""
    from nmrcheck.ir.expr import rebuild

    def visit(n: Expr, args: tuple[Expr, ...]) -> Expr:
        if n.op == "var":
            return mapping.get(n.val, n)
        return rebuild(n, args)

    return fold(e, visit)
