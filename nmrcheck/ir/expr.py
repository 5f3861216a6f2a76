"""Hash-consed expressions over integer-valued state variables.

Every value is an int; booleans are 0 and 1. There are few node kinds, and every consumer
(evaluator, printer, free variables, code generator, Z3 encoder) is a walker over them:

======  ============================  ======
op      meaning                       type
======  ============================  ======
const   ``val``                       int or bool
var     state variable ``val``        its declared type
not     ``not a``                     bool
and     ``a and b and ...``           bool
or      ``a or b or ...``             bool
eq      ``a == b``                    bool
lt      ``a < b``                     bool
le      ``a <= b``                    bool
add     ``a + b``                     int
sub     ``a - b``                     int
ite     ``a ? b : c``                 type of b
======  ============================  ======

Build nodes only through the functions of this module: they intern structurally equal nodes
(so ``is`` is equality) and fold constants.
"""

from __future__ import annotations

from collections.abc import Iterable

BOOL = "bool"
INT = "int"


class Expr:
    """An interned expression node. Do not construct directly; use the builder functions."""

    __slots__ = ("op", "args", "val", "type", "uid", "__weakref__")

    op: str
    args: tuple[Expr, ...]
    val: int
    type: str
    uid: int

    def __repr__(self) -> str:
        from nmrcheck.ir.walkers import to_text

        return f"Expr({to_text(self)})"

    def __bool__(self) -> bool:  # guard against accidental Python truthiness
        raise TypeError("an Expr has no Python truth value; use the builder functions")

    def __reduce__(self) -> tuple:
        """Unpickled nodes are interned again (a system sent to another process keeps
        sharing its nodes, which symmetry analysis compares by identity)."""
        return (_mk, (self.op, self.args, self.val, self.type))


_table: dict[tuple, Expr] = {}


def _mk(op: str, args: tuple[Expr, ...], val: int, typ: str) -> Expr:
    key = (op, tuple(a.uid for a in args), val, typ)
    node = _table.get(key)
    if node is None:
        node = Expr.__new__(Expr)
        node.op, node.args, node.val, node.type = op, args, val, typ
        node.uid = len(_table)
        _table[key] = node
    return node


def const(v: int | bool) -> Expr:
    """An integer constant (``True``/``False`` make boolean constants)."""
    if isinstance(v, bool):
        return _mk("const", (), int(v), BOOL)
    return _mk("const", (), int(v), INT)


TRUE = const(True)
FALSE = const(False)


def var(index: int, typ: str) -> Expr:
    """The state variable with this index, of type ``bool`` or ``int``."""
    return _mk("var", (), index, typ)


def is_const(e: Expr) -> bool:
    return e.op == "const"


def not_(a: Expr) -> Expr:
    if a.op == "const":
        return const(not a.val)
    if a.op == "not":
        return a.args[0]
    return _mk("not", (a,), 0, BOOL)


def _flat(op: str, items: Iterable[Expr], unit: Expr, zero: Expr) -> Expr:
    seen: dict[int, Expr] = {}
    for it in items:
        parts = it.args if it.op == op else (it,)
        for p in parts:
            if p is zero:
                return zero
            if p is unit:
                continue
            seen.setdefault(p.uid, p)
    if not seen:
        return unit
    if len(seen) == 1:
        return next(iter(seen.values()))
    return _mk(op, tuple(seen.values()), 0, BOOL)


def and_(*items: Expr) -> Expr:
    """Conjunction (flattened, constants folded, duplicates dropped, order kept)."""
    return _flat("and", items, TRUE, FALSE)


def or_(*items: Expr) -> Expr:
    """Disjunction (flattened, constants folded, duplicates dropped, order kept)."""
    return _flat("or", items, FALSE, TRUE)


def implies(a: Expr, b: Expr) -> Expr:
    return or_(not_(a), b)


def eq(a: Expr, b: Expr) -> Expr:
    if a is b:
        return TRUE
    if a.op == "const" and b.op == "const":
        return const(a.val == b.val)
    if a.type == BOOL and b.op == "const":
        if b.val not in (0, 1):
            return FALSE
        return a if b.val else not_(a)
    if b.type == BOOL and a.op == "const":
        if a.val not in (0, 1):
            return FALSE
        return b if a.val else not_(b)
    if a.op == "const":
        a, b = b, a
    return _mk("eq", (a, b), 0, BOOL)


def ne(a: Expr, b: Expr) -> Expr:
    return not_(eq(a, b))


def lt(a: Expr, b: Expr) -> Expr:
    if a.op == "const" and b.op == "const":
        return const(a.val < b.val)
    return _mk("lt", (a, b), 0, BOOL)


def le(a: Expr, b: Expr) -> Expr:
    if a.op == "const" and b.op == "const":
        return const(a.val <= b.val)
    return _mk("le", (a, b), 0, BOOL)


def gt(a: Expr, b: Expr) -> Expr:
    return lt(b, a)


def ge(a: Expr, b: Expr) -> Expr:
    return le(b, a)


def add(a: Expr, b: Expr) -> Expr:
    if a.op == "const" and b.op == "const":
        return const(a.val + b.val)
    if b.op == "const" and b.val == 0:
        return a
    return _mk("add", (a, b), 0, INT)


def sub(a: Expr, b: Expr) -> Expr:
    if a.op == "const" and b.op == "const":
        return const(a.val - b.val)
    if b.op == "const" and b.val == 0:
        return a
    return _mk("sub", (a, b), 0, INT)


def ite(c: Expr, a: Expr, b: Expr) -> Expr:
    if c.op == "const":
        return a if c.val else b
    if a is b:
        return a
    typ = BOOL if a.type == BOOL and b.type == BOOL else INT
    return _mk("ite", (c, a, b), 0, typ)


def in_(a: Expr, values: Iterable[int]) -> Expr:
    """``a`` equals one of ``values``."""
    return or_(*(eq(a, const(v)) for v in values))


def conjuncts(e: Expr) -> tuple[Expr, ...]:
    """The top-level conjuncts of ``e``."""
    if e.op == "and":
        return e.args
    if e is TRUE:
        return ()
    return (e,)


BUILDERS = {
    "not": not_, "and": and_, "or": or_, "eq": eq, "lt": lt, "le": le,
    "add": add, "sub": sub, "ite": ite,
}


def rebuild(e: Expr, args: Iterable[Expr]) -> Expr:
    """A node of ``e``'s kind over new ``args`` (folded like any built node); a leaf as is."""
    if not e.args:
        return e
    return BUILDERS[e.op](*args)
