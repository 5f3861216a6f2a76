"""Inline procedures: ``proc NAME(PARAMS) { ... }`` is expanded at every call, at load time.

A call ``NAME(ARGS)`` that names a proc of the same driver is replaced by the proc's body,
with every parameter replaced by its argument (call by name: an argument is an expression,
or a variable, lock or other name the body uses; a parameter the body assigns must be given
a variable). The body's own locals become locals ``NAME.x`` of the routine that calls it,
shared by the calls in that routine. A ``return`` in a proc leaves the proc: the statements
after it are moved into the branches of the ``if`` that contains it. Procs are not
recursive: a call that would inline a proc inside itself is an error at its position.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from nmrcheck.errors import Finding, InputError
from nmrcheck.lang import ast as A


def expand(model: A.Model, reserved: Iterable[str] = ()) -> A.Model:
    """``model`` with every proc call inlined; raises InputError with positioned findings.

    ``reserved`` are call names a proc may not take (the built-in statements and NMR calls).
    """
    findings: list[Finding] = []
    drivers = tuple(_Expander(d, set(reserved), findings).driver() for d in model.drivers)
    if findings:
        raise InputError(sorted(set(findings), key=lambda f: (f.file, f.line, f.col, f.message)))
    return dataclasses.replace(model, drivers=drivers)


def _err(findings: list[Finding], pos: A.Pos, msg: str) -> None:
    findings.append(Finding(pos.file, pos.line, pos.col, msg))


class _Expander:
    """Expands the proc calls of one driver."""

    def __init__(self, d: A.DriverDecl, reserved: set[str], findings: list[Finding]):
        self.d = d
        self.findings = findings
        self.procs: dict[str, A.ProcDecl] = {}
        for p in d.procs:
            if p.name in reserved:
                _err(findings, p.pos, f"proc {p.name!r} has the name of a built-in statement")
            elif p.name in self.procs:
                _err(findings, p.pos, f"proc {p.name!r} is declared twice")
            elif len(set(p.params)) != len(p.params):
                _err(findings, p.pos, f"proc {p.name!r} names a parameter twice")
            self.procs.setdefault(p.name, p)

    def driver(self) -> A.DriverDecl:
        d = self.d
        return dataclasses.replace(
            d,
            routines=tuple(dataclasses.replace(r, body=self.block(r.body, ())) for r in d.routines),
            tasks=tuple(dataclasses.replace(t, body=self.block(t.body, ())) for t in d.tasks),
            handlers=tuple(dataclasses.replace(h, body=self.block(h.body, ())) for h in d.handlers),
            dispatch=tuple(
                dataclasses.replace(
                    f,
                    body=without_returns(
                        self.block(f.body, ()), f"dispatch function {f.name!r}", self.findings
                    ),
                )
                for f in d.dispatch
            ),
        )

    # -- statement lists ----------------------------------------------------------------------
    def block(self, stmts: tuple[A.Node, ...], stack: tuple[str, ...]) -> tuple[A.Node, ...]:
        out: list[A.Node] = []
        for s in stmts:
            out.extend(self.stmt(s, stack))
        return tuple(out)

    def stmt(self, s: A.Node, stack: tuple[str, ...]) -> tuple[A.Node, ...]:
        if isinstance(s, A.CallStmt) and s.call.func in self.procs:
            return self.inline(s.call, stack)
        value = getattr(s, "value", None) if isinstance(s, A.Assign) else None
        if isinstance(s, A.LocalDecl):
            value = s.init
        if isinstance(value, A.Call) and value.func in self.procs:
            _err(self.findings, value.pos, f"proc {value.func!r} returns nothing: call it alone")
            return ()
        if isinstance(s, A.If):
            orelse = self.block(s.orelse, stack) if s.orelse else None
            return (dataclasses.replace(s, then=self.block(s.then, stack), orelse=orelse),)
        if isinstance(s, (A.While, A.Atomic)):
            return (dataclasses.replace(s, body=self.block(s.body, stack)),)
        return (s,)

    def inline(self, call: A.Call, stack: tuple[str, ...]) -> tuple[A.Node, ...]:
        proc = self.procs[call.func]
        if proc.name in stack:
            chain = " -> ".join((*stack[stack.index(proc.name) :], proc.name))
            _err(
                self.findings,
                call.pos,
                f"recursive call of proc {proc.name!r} ({chain}): procs are inlined, "
                "so they cannot call themselves",
            )
            return ()
        if len(call.args) != len(proc.params):
            _err(
                self.findings,
                call.pos,
                f"proc {proc.name!r} takes {len(proc.params)} argument(s), {len(call.args)} given",
            )
            return ()
        body = without_returns(proc.body, f"proc {proc.name!r}", self.findings)
        subst = _Subst(dict(zip(proc.params, call.args, strict=True)), proc, self.findings)
        return self.block(subst.block(body), (*stack, proc.name))


class _Subst:
    """Replaces a proc's parameters by its arguments, and renames its locals ``PROC.x``."""

    def __init__(self, args: dict[str, A.Node], proc: A.ProcDecl, findings: list[Finding]):
        self.args = args
        self.proc = proc
        self.findings = findings
        self.locals = {s.name for s in A.statements(proc.body) if isinstance(s, A.LocalDecl)} - set(
            args
        )

    def block(self, stmts: tuple[A.Node, ...]) -> tuple[A.Node, ...]:
        return tuple(self.node(s) for s in stmts)

    def target(self, name: str, pos: A.Pos) -> str:
        if name in self.locals:
            return f"{self.proc.name}.{name}"
        arg = self.args.get(name)
        if arg is None:
            return name
        if isinstance(arg, A.Name):
            return arg.id
        _err(
            self.findings,
            arg.pos,
            f"proc {self.proc.name!r} assigns its parameter {name!r}: pass a variable",
        )
        return name

    def node(self, n: A.Node) -> A.Node:
        if isinstance(n, A.Name):
            if n.id in self.args:
                return self.args[n.id]
            if n.id in self.locals:
                return dataclasses.replace(n, id=f"{self.proc.name}.{n.id}")
            return n
        if isinstance(n, A.Assign):
            return dataclasses.replace(
                n, target=self.target(n.target, n.pos), value=self.node(n.value)
            )
        if isinstance(n, A.LocalDecl):
            init = self.node(n.init) if n.init is not None else None
            return dataclasses.replace(n, name=self.target(n.name, n.pos), init=init)
        if isinstance(n, (A.Member, A.SetLit, A.Str, A.TypeRef)):
            return self._member(n)
        changes = {}
        for f in dataclasses.fields(n):
            v = getattr(n, f.name)
            if isinstance(v, A.Node):
                changes[f.name] = self.node(v)
            elif isinstance(v, tuple) and v and all(isinstance(x, A.Node) for x in v):
                changes[f.name] = tuple(self.node(x) for x in v)
        return dataclasses.replace(n, **changes) if changes else n

    def _member(self, n: A.Node) -> A.Node:
        """Labels are not parameters: only the tested value of ``x in {A, B}`` is replaced."""
        if isinstance(n, A.Member):
            return dataclasses.replace(n, arg=self.node(n.arg))
        return n


def _has_return(s: A.Node) -> bool:
    return any(isinstance(x, A.Return) for x in A.statements((s,)))


def without_returns(
    stmts: tuple[A.Node, ...], what: str, findings: list[Finding]
) -> tuple[A.Node, ...]:
    """``stmts`` (the body of ``what``) with every ``return`` turned into control flow: what
    follows an ``if`` that returns on some path moves into its branches."""
    out: list[A.Node] = []
    for i, s in enumerate(stmts):
        rest = stmts[i + 1 :]
        if isinstance(s, A.Return):
            if s.value is not None:
                _err(findings, s.value.pos, f"{what} returns nothing: write 'return' alone")
            return tuple(out)
        if not _has_return(s):
            out.append(s)
            continue
        if isinstance(s, A.If):
            then = without_returns(s.then + rest, what, findings)
            orelse = without_returns((s.orelse or ()) + rest, what, findings)
            out.append(dataclasses.replace(s, then=then, orelse=orelse or None))
            return tuple(out)
        where = "a while loop" if isinstance(s, A.While) else "an atomic block"
        _err(findings, s.pos, f"'return' inside {where} of {what} is not supported")
        return tuple(out)
    return tuple(out)
