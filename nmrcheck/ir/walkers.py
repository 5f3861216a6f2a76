"""Walkers over expressions: evaluation, free variables, text, Python source."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nmrcheck.ir.expr import Expr


def evaluate(e: Expr, state: Sequence[int]) -> int:
    """The value of ``e`` in ``state`` (a sequence of variable values, by index)."""
    op = e.op
    if op == "const":
        return e.val
    if op == "var":
        return state[e.val]
    a = e.args
    if op == "not":
        return 0 if evaluate(a[0], state) else 1
    if op == "and":
        return int(all(evaluate(x, state) for x in a))
    if op == "or":
        return int(any(evaluate(x, state) for x in a))
    if op == "eq":
        return int(evaluate(a[0], state) == evaluate(a[1], state))
    if op == "lt":
        return int(evaluate(a[0], state) < evaluate(a[1], state))
    if op == "le":
        return int(evaluate(a[0], state) <= evaluate(a[1], state))
    if op == "add":
        return evaluate(a[0], state) + evaluate(a[1], state)
    if op == "sub":
        return evaluate(a[0], state) - evaluate(a[1], state)
    if op == "ite":
        return evaluate(a[1], state) if evaluate(a[0], state) else evaluate(a[2], state)
    raise ValueError(f"unknown expression kind {op!r}")


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


def to_text(e: Expr, name: Callable[[int], str] | None = None) -> str:
    """A readable rendering of ``e``; ``name`` maps a variable index to its name."""
    op = e.op
    if op == "const":
        return ("true" if e.val else "false") if e.type == "bool" else str(e.val)
    if op == "var":
        return name(e.val) if name else f"v{e.val}"
    a = [to_text(x, name) for x in e.args]
    if op == "not":
        return f"!({a[0]})"
    if op in ("and", "or"):
        return "(" + (" && " if op == "and" else " || ").join(a) + ")"
    if op in _INFIX:
        return f"({a[0]} {_INFIX[op]} {a[1]})"
    if op == "ite":
        return f"({a[0]} ? {a[1]} : {a[2]})"
    raise ValueError(f"unknown expression kind {op!r}")


_PY = {"eq": "==", "lt": "<", "le": "<=", "add": "+", "sub": "-"}


def to_python(e: Expr, read: Callable[[int], str]) -> str:
    """Python source computing ``e``; ``read(i)`` gives the source that reads variable ``i``.

    Only node kinds and integers reach the output, never user text.
    """
    op = e.op
    if op == "const":
        return str(int(e.val))
    if op == "var":
        return read(e.val)
    a = [to_python(x, read) for x in e.args]
    if op == "not":
        return f"(not {a[0]})"
    if op == "and":
        return "(" + " and ".join(a) + ")"
    if op == "or":
        return "(" + " or ".join(a) + ")"
    if op in _PY:
        return f"({a[0]} {_PY[op]} {a[1]})"
    if op == "ite":
        return f"({a[1]} if {a[0]} else {a[2]})"
    raise ValueError(f"unknown expression kind {op!r}")


def substitute(e: Expr, mapping: dict[int, Expr]) -> Expr:
    """``e`` with each variable ``i`` in ``mapping`` replaced by ``mapping[i]``."""
    from nmrcheck.ir import expr as E

    memo: dict[int, Expr] = {}

    def go(n: Expr) -> Expr:
        r = memo.get(n.uid)
        if r is not None:
            return r
        if n.op == "var":
            r = mapping.get(n.val, n)
        elif n.op == "const":
            r = n
        else:
            args = [go(x) for x in n.args]
            r = {
                "not": lambda: E.not_(args[0]),
                "and": lambda: E.and_(*args),
                "or": lambda: E.or_(*args),
                "eq": lambda: E.eq(args[0], args[1]),
                "lt": lambda: E.lt(args[0], args[1]),
                "le": lambda: E.le(args[0], args[1]),
                "add": lambda: E.add(args[0], args[1]),
                "sub": lambda: E.sub(args[0], args[1]),
                "ite": lambda: E.ite(args[0], args[1], args[2]),
            }[n.op]()
        memo[n.uid] = r
        return r

    return go(e)
