"""Expressions of model code (docs/language.md): names, operators, ``in {...}`` and the
registration attributes, compiled to IR expressions over a path of the routine being
compiled (nmrcheck.nmr.routines calls :func:`expr` for every expression it meets).
"""

from __future__ import annotations

from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.lang import ast as A
from nmrcheck.nmr import lifetimes, prims, threads
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.context import STATUS_TY, Compiler, RoutineContext
from nmrcheck.nmr.design import suggest
from nmrcheck.nmr.paths import BOOL, Path, Ty
from nmrcheck.nmr.unparse import unparse


def _c(v: int) -> Expr:
    return E.const(v)


def expr(
    comp: Compiler, node: A.Node, rc: RoutineContext, path: Path, want: Ty | None
) -> tuple[Expr, Ty]:
    """The IR expression of ``node`` in routine ``rc`` over ``path``, and its type (``want``:
    the type the context expects, which gives a bare enum label its meaning)."""
    if isinstance(node, A.Num):
        return _c(node.value), Ty("int", node.value, node.value)
    if isinstance(node, A.BoolLit):
        return E.const(node.value), BOOL
    if isinstance(node, A.Name):
        return _name(comp, node, rc, path, want)
    if isinstance(node, A.Unary):
        if node.op == "!":
            e, _ = _typed(comp, node.arg, rc, path, BOOL)
            return E.not_(e), BOOL
        e, _ = _typed(comp, node.arg, rc, path, Ty("int"))
        return E.sub(_c(0), e), Ty("int")
    if isinstance(node, A.Binary):
        return _binary(comp, node, rc, path)
    if isinstance(node, A.Member):
        e, ty = expr(comp, node.arg, rc, path, None)
        if ty.kind != "enum":
            comp.fail(node.pos, "'in {...}' needs an enum or NTSTATUS value")
            return E.FALSE, BOOL
        vals = []
        for lab in node.labels:
            if lab.id not in ty.labels:
                comp.fail(
                    lab.pos, f"{lab.id!r} is not a value of {ty}{suggest(lab.id, ty.labels)}"
                )
            else:
                vals.append(ty.labels.index(lab.id))
        return E.in_(e, vals), BOOL
    if isinstance(node, A.Attr):
        return _reg_attr(comp, node, rc)
    if isinstance(node, A.Call):
        comp.fail(
            node.pos,
            f"{node.func}(...) is a statement; assign its result: x = {node.func}(...)",
        )
    elif isinstance(node, A.Str):
        comp.fail(node.pos, "a string is allowed only as the message of error() or assert()")
    elif isinstance(node, A.Quant):
        comp.fail(node.pos, f"'{node.kind}' is allowed in specs, not in model code")
    else:
        comp.fail(node.pos, f"'{unparse(node)}' is not allowed in model code")
    return E.FALSE, BOOL


def _attr_type(comp: Compiler, key: str, pos: A.Pos) -> Ty | None:
    """The type of registration attribute ``key``: int, bool, or one enum of every label
    that any registration's attributes use."""
    kinds = {
        type(a.value).__name__
        for r in comp.design.regs
        for a in r.decl.attrs
        if a.name == key
    }
    if not kinds:
        return None
    if len(kinds) > 1:
        comp.fail(pos, f"attribute {key!r} has values of different types")
        return None
    kind = kinds.pop()
    if kind == "Num":
        return Ty("int")
    if kind == "BoolLit":
        return BOOL
    labels = sorted(
        {
            a.value.id
            for r in comp.design.regs
            for a in r.decl.attrs
            if isinstance(a.value, A.Name)
        }
    )
    return Ty("enum", 0, len(labels) - 1, tuple(labels), "label")


def _reg_attr(comp: Compiler, node: A.Attr, rc: RoutineContext) -> tuple[Expr, Ty]:
    """``peer.X`` (in binding code: the peer's registration) or ``REG.X`` (a registration
    of this driver): a constant of the registration instance (§1.4)."""
    obj = node.obj
    scope = rc.scope
    reg = None
    if isinstance(obj, A.Name) and obj.id == "peer":
        if scope.binding is None:
            comp.fail(obj.pos, "'peer' is the other side of a binding: use it in binding code")
            return E.FALSE, BOOL
        reg = scope.binding.side_reg(lifetimes.other(scope.side))
    elif isinstance(obj, A.Name):
        reg = next((r for r in scope.driver.regs if r.decl.name == obj.id), None)
    if reg is None:
        comp.fail(node.pos, f"'{unparse(node)}' is not allowed in model code")
        return E.FALSE, BOOL
    ty = _attr_type(comp, node.name, node.pos)
    value = next((a.value for a in reg.decl.attrs if a.name == node.name), None)
    if ty is None or value is None:
        have = [a.name for a in reg.decl.attrs]
        comp.fail(
            node.pos,
            f"registration {reg.name} declares no {node.name!r}{suggest(node.name, have)} "
            f"(write '{reg.role} {reg.decl.name} of {reg.decl.npi} with ({node.name} = ...)')",
        )
        return E.FALSE, BOOL
    if isinstance(value, A.Name):
        return _c(ty.labels.index(value.id)), ty
    return _c(int(value.value)), ty


def _typed(
    comp: Compiler, node: A.Node, rc: RoutineContext, path: Path, want: Ty
) -> tuple[Expr, Ty]:
    e, ty = expr(comp, node, rc, path, want)
    if ty.kind != want.kind:
        comp.fail(node.pos, f"expected {want.kind}, found {ty}")
    return e, ty


def _label_like(comp: Compiler, node: A.Node, rc: RoutineContext) -> bool:
    return (
        isinstance(node, A.Name)
        and node.id not in rc.scope.locals
        and comp.lookup_var(rc.scope, node.id) is None
    )


def _binary(comp: Compiler, n: A.Binary, rc: RoutineContext, path: Path) -> tuple[Expr, Ty]:
    op = n.op
    if op in ("&&", "||", "=>"):
        a, _ = _typed(comp, n.left, rc, path, BOOL)
        b, _ = _typed(comp, n.right, rc, path, BOOL)
        return {"&&": E.and_, "||": E.or_, "=>": E.implies}[op](a, b), BOOL
    if op in ("+", "-"):
        a, _ = _typed(comp, n.left, rc, path, Ty("int"))
        b, _ = _typed(comp, n.right, rc, path, Ty("int"))
        return (E.add(a, b) if op == "+" else E.sub(a, b)), Ty("int")
    if op in ("<", "<=", ">", ">="):
        a, _ = _typed(comp, n.left, rc, path, Ty("int"))
        b, _ = _typed(comp, n.right, rc, path, Ty("int"))
        return {"<": E.lt, "<=": E.le, ">": E.gt, ">=": E.ge}[op](a, b), BOOL
    # == and !=: type the side that is not a bare label first
    if _label_like(comp, n.left, rc) and not _label_like(comp, n.right, rc):
        b, tb = expr(comp, n.right, rc, path, None)
        a, ta = expr(comp, n.left, rc, path, tb)
    else:
        a, ta = expr(comp, n.left, rc, path, None)
        b, tb = expr(comp, n.right, rc, path, ta)
    if ta.kind != tb.kind or (ta.kind == "enum" and ta.labels != tb.labels):
        comp.fail(n.pos, f"cannot compare {ta} with {tb}")
    e = E.eq(a, b)
    return (e if op == "==" else E.not_(e)), BOOL


def _name(
    comp: Compiler, node: A.Name, rc: RoutineContext, path: Path, want: Ty | None
) -> tuple[Expr, Ty]:
    name = node.id
    if name in rc.scope.locals:
        idx, ty, _ = rc.scope.locals[name]
        return path.read(idx, comp.ts.vars[idx].type), ty
    found = comp.lookup_var(rc.scope, name)
    if found is not None:
        idx, ty = found
        flag = comp.init_flag.get(idx)
        if flag is not None:
            unset = E.not_(comp.rd(flag, path))
            if unset is not E.FALSE:
                msg = f"reads {name!r} before it is assigned"
                path.uninit.append((unset, _uninit_code(comp, rc, idx), msg, node.pos))
        obj = comp.var_obj.get(idx)
        if obj is not None:  # a field of an object: read only while it is allocated
            gone = E.not_(comp.is_(obj.vars["state"], "VALID", path))
            msg = f"reads {name!r}, which lives in {obj.name}, not allocated"
            path.uninit.append((gone, prims.uaf(comp), msg, node.pos))
        return path.read(idx, comp.ts.vars[idx].type), ty
    if want is not None and want.kind == "enum" and name in want.labels:
        return _c(want.labels.index(name)), want
    if name in V.STATUSES:
        return _c(V.STATUSES.index(name)), STATUS_TY
    if name == "binding" and want is not None and want.name == "HANDLE":
        if rc.scope.binding is None:
            comp.fail(node.pos, "'binding' is the handle of the binding code runs for")
            return _c(0), want
        return _c(want.labels.index(rc.scope.binding.name)), want
    for v in rc.scope.driver.decl.vars:
        if v.type.kind == "enum" and name in v.type.labels:
            ty = comp.type_of(v.type)
            return _c(ty.labels.index(name)), ty
    prim = prims.lookup(comp, rc.scope, name)
    if prim is not None:
        comp.fail(node.pos, f"{name!r} is a {prim.kind}: it has no value to read here")
        return E.FALSE, want or BOOL
    options = list(rc.scope.locals) + comp.var_names(rc.scope) + list(V.STATUSES)
    comp.fail(node.pos, comp.unknown_name(rc.scope, name, "name", options))
    return E.FALSE, want or BOOL



def _uninit_code(comp: Compiler, rc: RoutineContext, idx: int) -> str:
    """Which rule reading an unassigned variable breaks: ATT-4 for a binding context,
    REG-2 for driver state read by NMR callbacks or NPI paths, else 'uninitialized'."""
    if rc.scope.binding is not None and idx in comp.bvars[rc.scope.binding.id].user.values():
        return comp.rule("ATT-4")
    if rc.routine in threads.CALLBACKS or rc.scope.binding is not None:
        return comp.rule("REG-2")
    return comp.builtin_rule("uninitialized", "no variable is read before it is assigned")
