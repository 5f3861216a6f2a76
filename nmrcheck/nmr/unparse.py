"""Render syntax-tree nodes back as model text, for trace steps and messages."""

from __future__ import annotations

from nmrcheck.lang import ast as A


def unparse(n: A.Node | None) -> str:
    """The node as one line of model text (the first line, for compound statements)."""
    if n is None:
        return ""
    if isinstance(n, A.Num):
        return str(n.value)
    if isinstance(n, A.BoolLit):
        return "true" if n.value else "false"
    if isinstance(n, A.Name):
        return n.id
    if isinstance(n, A.Str):
        return f'"{n.value}"'
    if isinstance(n, A.Unary):
        return f"{n.op}{_paren(n.arg)}"
    if isinstance(n, A.Binary):
        op = "implies" if n.op == "=>" else n.op
        return f"{_paren(n.left)} {op} {_paren(n.right)}"
    if isinstance(n, A.Member):
        return f"{_paren(n.arg)} in {{{', '.join(x.id for x in n.labels)}}}"
    if isinstance(n, A.SetLit):
        return "{" + ", ".join(x.id for x in n.labels) + "}"
    if isinstance(n, A.Attr):
        return f"{unparse(n.obj)}.{n.name}"
    if isinstance(n, A.Index):
        return f"{unparse(n.obj)}[{unparse(n.index)}]"
    if isinstance(n, A.Call):
        return f"{n.func}({', '.join(unparse(a) for a in n.args)})"
    if isinstance(n, A.Quant):
        return f"{n.kind} {n.var} in {unparse(n.domain)}: {unparse(n.body)}"
    if isinstance(n, A.LeadsTo):
        return f"{_paren(n.left)} ~> {_paren(n.right)}"
    if isinstance(n, A.Assign):
        return f"{n.target} = {unparse(n.value)}"
    if isinstance(n, A.LocalDecl):
        init = f" = {unparse(n.init)}" if n.init is not None else ""
        return f"var {n.name}{init}"
    if isinstance(n, A.If):
        return f"if ({unparse(n.cond)})"
    if isinstance(n, A.While):
        return f"while ({unparse(n.cond)})"
    if isinstance(n, A.Await):
        return f"await {unparse(n.cond)}"
    if isinstance(n, A.Atomic):
        return "atomic { " + "; ".join(unparse(s) for s in n.body) + " }"
    if isinstance(n, A.Return):
        return f"return {unparse(n.value)}".rstrip()
    if isinstance(n, A.CallStmt):
        return unparse(n.call)
    if isinstance(n, A.Skip):
        return "skip"
    return str(getattr(n, "text", type(n).__name__))


def _paren(n: A.Node) -> str:
    s = unparse(n)
    return f"({s})" if isinstance(n, (A.Binary, A.Member, A.Quant)) else s
