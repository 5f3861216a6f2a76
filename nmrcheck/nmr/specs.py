"""Compile spec properties over a compiled design into IR properties: invariant, reachable,
eventually and leads_to.

Quantifiers range over finite sets of drivers, registrations and bindings and are expanded
when the spec is compiled. A ``leads_to`` property ``forall x in S: P(x) ~> Q(x)`` is not the
leads-to of a conjunction: its top-level ``forall``s become one IR property per instance,
``NAME[x]`` (``NAME[x, y]`` for two), the ``parts`` of the property ``NAME``, which holds when
every part holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from nmrcheck.errors import Finding, InputError
from nmrcheck.ir import EVENTUALLY, INVARIANT, LEADS_TO, REACHABLE, Property, TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.walkers import free_vars
from nmrcheck.lang import ast as A
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.context import Compiler, Prim
from nmrcheck.nmr.design import BindingInst, DriverInst, RegInst, suggest
from nmrcheck.nmr.paths import BOOL, Ty
from nmrcheck.nmr.unparse import unparse


@dataclass(frozen=True)
class Val:
    """A spec value: a typed IR expression, an entity, a set of entities, or a bare label."""

    kind: str  # "expr" "driver" "reg" "binding" "ctx" "set" "label"
    ty: Ty | None = None
    expr: Expr | None = None
    obj: object = None
    items: tuple = ()
    side: str = ""


ENUMS = {
    "state_driver": Ty("enum", 0, len(V.DRIVER_STATES) - 1, V.DRIVER_STATES, "driver state"),
    "state_reg": Ty("enum", 0, len(V.REG_STATES) - 1, V.REG_STATES, "registration state"),
    "phase": Ty("enum", 0, len(V.PHASES) - 1, V.PHASES, "binding phase"),
    "side": Ty("enum", 0, len(V.SIDE_STATES) - 1, V.SIDE_STATES, "detach state"),
}


class SpecCompiler:
    def __init__(self, ts: TransitionSystem):
        self.ts = ts
        self.comp: Compiler = ts.meta["compiler"]
        self.design = self.comp.design
        self.findings: list[Finding] = []

    def fail(self, pos: A.Pos, msg: str) -> None:
        self.findings.append(Finding(pos.file, pos.line, pos.col, msg))

    def compile(self, spec: A.Spec) -> list[Property]:
        props = []
        names: set[str] = set()
        for p in spec.props:
            if p.name in names:
                self.fail(p.pos, f"property {p.name!r} is declared twice")
            names.add(p.name)
            meta = {
                "kind": "spec",
                "pos": p.pos,
                "text": unparse(p.expr),
                "doc": _doc_comment(spec.source, p.pos.line),
                "ast": p.expr,
            }
            if p.kind == "leads_to":
                props.append(self._leads_to(p, meta))
                continue
            v = self.value(p.expr, {})
            e = self.as_bool(v, p.expr.pos)
            kind = {"invariant": INVARIANT, "eventually": EVENTUALLY}.get(p.kind, REACHABLE)
            props.append(Property(p.name, kind, e, meta))
        if self.findings:
            raise InputError(list(dict.fromkeys(self.findings)))  # one per spot, not per instance
        return props

    # -- leads_to -------------------------------------------------------------------------
    def _leads_to(self, p: A.PropDecl, meta: dict) -> Property:
        """``P ~> Q`` under any number of top-level ``forall``s: one part per instance."""
        found: list[tuple[list[str], Expr, Expr]] = []
        self._instances(p.expr, {}, [], found)
        if len(found) == 1 and not found[0][0]:
            _, trigger, target = found[0]
            return Property(p.name, LEADS_TO, trigger, meta, target=target)
        # an instance that can never be triggered (or is always answered) holds: leave it out
        parts = tuple(
            Property(f"{p.name}[{', '.join(label)}]", LEADS_TO, trigger, meta, target=target)
            for label, trigger, target in found
            if trigger is not E.FALSE and target is not E.TRUE
        )
        if not parts:  # a forall over an empty set: nothing to check
            return Property(p.name, LEADS_TO, E.FALSE, meta, target=E.TRUE)
        return Property(p.name, LEADS_TO, E.or_(*(q.expr for q in parts)), meta, parts=parts)

    def _instances(self, n: A.Node, env: dict[str, Val], label: list[str], out: list) -> None:
        if isinstance(n, A.LeadsTo):
            trigger = self.as_bool(self.value(n.left, env), n.left.pos)
            target = self.as_bool(self.value(n.right, env), n.right.pos)
            out.append((label, trigger, target))
        elif isinstance(n, A.Quant) and n.kind == "forall":
            for it in self._items(self.value(n.domain, env), n.domain.pos):
                self._instances(n.body, {**env, n.var: it}, [*label, _name_of(it)], out)
        elif _contains_leads(n):
            self.value(n, env)  # reports the '~>' that is not at the top
        else:
            self.fail(
                n.pos,
                "a leads_to property is 'P ~> Q', possibly under 'forall x in S:' "
                f"(found '{unparse(n)}')",
            )

    # -- values ---------------------------------------------------------------------------
    def as_bool(self, v: Val, pos: A.Pos) -> Expr:
        if v.kind == "expr" and v.ty is not None and v.ty.kind == "bool":
            return v.expr
        self.fail(pos, f"expected a condition, found {self._what(v)}")
        return E.FALSE

    def _what(self, v: Val) -> str:
        if v.kind == "expr":
            return str(v.ty)
        return {
            "driver": "a driver",
            "reg": "a registration",
            "binding": "a binding",
            "ctx": "a binding context",
            "set": "a set",
            "label": f"the name {v.obj!r}",
        }[v.kind]

    def _expr(self, v: Val, pos: A.Pos, want: str) -> Expr:
        if v.kind == "expr" and v.ty is not None and v.ty.kind == want:
            return v.expr
        self.fail(pos, f"expected {want}, found {self._what(v)}")
        return E.const(0)

    def value(self, n: A.Node, env: dict[str, Val]) -> Val:
        if isinstance(n, A.Num):
            return Val("expr", Ty("int"), E.const(n.value))
        if isinstance(n, A.BoolLit):
            return Val("expr", BOOL, E.const(n.value))
        if isinstance(n, A.Name):
            return self._name(n, env)
        if isinstance(n, A.Unary):
            v = self.value(n.arg, env)
            if n.op == "!":
                return Val("expr", BOOL, E.not_(self.as_bool(v, n.arg.pos)))
            return Val("expr", Ty("int"), E.sub(E.const(0), self._expr(v, n.arg.pos, "int")))
        if isinstance(n, A.Binary):
            return self._binary(n, env)
        if isinstance(n, A.Member):
            v = self.value(n.arg, env)
            if v.kind != "expr" or v.ty is None or v.ty.kind != "enum":
                self.fail(n.pos, f"'in {{...}}' needs an enum value, found {self._what(v)}")
                return Val("expr", BOOL, E.FALSE)
            vals = []
            for lab in n.labels:
                if lab.id not in v.ty.labels:
                    self.fail(lab.pos, f"{lab.id!r} is not a {v.ty}{suggest(lab.id, v.ty.labels)}")
                else:
                    vals.append(v.ty.labels.index(lab.id))
            return Val("expr", BOOL, E.in_(v.expr, vals))
        if isinstance(n, A.Attr):
            return self._attr(self.value(n.obj, env), n)
        if isinstance(n, A.Index):
            base = self.value(n.obj, env)
            if base.kind != "set" or not isinstance(n.index, A.Num):
                self.fail(n.pos, "indexing needs a replicated driver and a number: Client[1]")
                return Val("expr", BOOL, E.FALSE)
            i = n.index.value
            if not 1 <= i <= len(base.items):
                self.fail(n.index.pos, f"instance {i} does not exist (1..{len(base.items)})")
                return Val("expr", BOOL, E.FALSE)
            return Val("driver", obj=base.items[i - 1])
        if isinstance(n, A.Quant):
            dom = self.value(n.domain, env)
            items = self._items(dom, n.domain.pos)
            parts = []
            for it in items:
                body = self.value(n.body, {**env, n.var: it})
                parts.append(self.as_bool(body, n.body.pos))
            return Val("expr", BOOL, E.and_(*parts) if n.kind == "forall" else E.or_(*parts))
        if isinstance(n, A.LeadsTo):
            self.fail(
                n.pos,
                "'~>' is allowed only in a leads_to property, at its top (under forall); "
                "put parentheses around an 'implies' on its left",
            )
            return Val("expr", BOOL, E.FALSE)
        self.fail(n.pos, f"'{unparse(n)}' is not allowed in a spec")
        return Val("expr", BOOL, E.FALSE)

    def _items(self, v: Val, pos: A.Pos) -> list[Val]:
        if v.kind == "set":
            return [self._entity(x) for x in v.items]
        if v.kind in ("driver", "reg", "binding"):
            return [v]
        self.fail(pos, f"expected a set to range over, found {self._what(v)}")
        return []

    def _entity(self, x: object) -> Val:
        if isinstance(x, DriverInst):
            return Val("driver", obj=x)
        if isinstance(x, RegInst):
            return Val("reg", obj=x)
        return Val("binding", obj=x)

    def _name(self, n: A.Name, env: dict[str, Val]) -> Val:
        if n.id in env:
            return env[n.id]
        if n.id == "drivers":
            return Val("set", items=tuple(self.design.drivers))
        if n.id == "registrations":
            return Val("set", items=tuple(self.design.regs))
        if n.id == "bindings":
            return Val("set", items=tuple(self.design.bindings))
        decl = next((d for d in self.design.model.drivers if d.name == n.id), None)
        if decl is not None:
            insts = self.design.instances_of(n.id)
            if decl.count == 1:
                return Val("driver", obj=insts[0])
            return Val("set", items=tuple(insts))
        return Val("label", obj=n.id, expr=None)

    def _binary(self, n: A.Binary, env: dict[str, Val]) -> Val:
        op = n.op
        a, b = self.value(n.left, env), self.value(n.right, env)
        if op in ("&&", "||", "=>"):
            x, y = self.as_bool(a, n.left.pos), self.as_bool(b, n.right.pos)
            return Val("expr", BOOL, {"&&": E.and_, "||": E.or_, "=>": E.implies}[op](x, y))
        if op in ("+", "-", "<", "<=", ">", ">="):
            x, y = self._expr(a, n.left.pos, "int"), self._expr(b, n.right.pos, "int")
            if op in ("+", "-"):
                return Val("expr", Ty("int"), E.add(x, y) if op == "+" else E.sub(x, y))
            f = {"<": E.lt, "<=": E.le, ">": E.gt, ">=": E.ge}[op]
            return Val("expr", BOOL, f(x, y))
        a, b = self._resolve(a, b, n.left.pos), self._resolve(b, a, n.right.pos)
        if a.kind in ("driver", "reg", "binding") and a.kind == b.kind:
            same = a.obj is b.obj
            e = E.const(same)
        elif a.kind == "expr" and b.kind == "expr":
            if a.ty.kind != b.ty.kind or (a.ty.kind == "enum" and a.ty.labels != b.ty.labels):
                self.fail(n.pos, f"cannot compare {a.ty} with {b.ty}")
            e = E.eq(a.expr, b.expr)
        else:
            self.fail(n.pos, f"cannot compare {self._what(a)} with {self._what(b)}")
            e = E.FALSE
        return Val("expr", BOOL, e if op == "==" else E.not_(e))

    def _resolve(self, v: Val, other: Val, pos: A.Pos) -> Val:
        """A bare label takes its meaning from the enum on the other side."""
        if v.kind != "label":
            return v
        if other.kind == "expr" and other.ty is not None and other.ty.kind == "enum":
            if v.obj in other.ty.labels:
                return Val("expr", other.ty, E.const(other.ty.labels.index(v.obj)))
            self.fail(pos, f"{v.obj!r} is not a {other.ty}{suggest(str(v.obj), other.ty.labels)}")
        else:
            self.fail(pos, f"unknown name {v.obj!r}")
        return Val("expr", BOOL, E.FALSE)

    def _attr(self, base: Val, n: A.Attr) -> Val:
        c = self.comp
        name = n.name
        if base.kind == "driver":
            d: DriverInst = base.obj
            if name == "state":
                return Val("expr", ENUMS["state_driver"], c.rd(c.drv_state[d.id]))
            if name == "registrations":
                return Val("set", items=tuple(d.regs))
            if name == "bindings":
                return Val("set", items=tuple(b for r in d.regs for b in r.bindings))
            if name in ("in_callback", "running"):
                return Val("expr", BOOL, self._busy(d, tasks=name == "running"))
            for r in d.regs:
                if r.decl.name == name:
                    return Val("reg", obj=r)
            idx = c.dvars.get((d.id, name))
            if idx is not None:
                return Val("expr", c.var_ty[idx], c.rd(idx))
            prim = c.prims.get((d.id, name))
            if prim is not None:
                return _prim_value(c, prim)
            opts = ["state", "registrations", "bindings", "in_callback", "running"]
            opts += [r.decl.name for r in d.regs] + [
                v.name for v in d.decl.vars if not v.per_binding
            ]
            opts += [x.name for x in d.decl.prims if not x.per_binding]
            self.fail(n.pos, f"driver {d.name} has no {name!r}{suggest(name, opts)}")
        elif base.kind == "reg":
            r: RegInst = base.obj
            if name == "state":
                return Val("expr", ENUMS["state_reg"], c.rd(c.reg_state[r.id]))
            if name == "bindings":
                return Val("set", items=tuple(r.bindings))
            if name == "driver":
                return Val("driver", obj=r.driver)
            if name == "waiting":
                return Val("expr", BOOL, self._waiting(r))
            opts = ["state", "bindings", "driver", "waiting"]
            self.fail(n.pos, f"a registration has no {name!r}{suggest(name, opts)}")
        elif base.kind == "binding":
            b: BindingInst = base.obj
            bv = c.bvars[b.id]
            if name == "phase":
                return Val("expr", ENUMS["phase"], c.rd(bv.phase))
            if name in ("cs", "ps"):
                side = "client" if name == "cs" else "provider"
                return Val("expr", ENUMS["side"], c.rd(bv.side[side]))
            if name in ("client", "provider"):
                return Val("reg", obj=b.side_reg(name))
            if name in ("cbc", "pbc"):
                return Val("ctx", obj=b, side="client" if name == "cbc" else "provider")
            opts = ["phase", "cs", "ps", "client", "provider", "cbc", "pbc"]
            self.fail(n.pos, f"a binding has no {name!r}{suggest(name, opts)}")
        elif base.kind == "ctx":
            b = base.obj
            idx = c.bvars[b.id].user.get((base.side, name))
            if idx is not None:
                return Val("expr", c.var_ty[idx], c.rd(idx))
            prim = c.bprims.get((b.id, base.side, name))
            if prim is not None:
                return _prim_value(c, prim)
            self.fail(n.pos, f"the binding context has no variable {name!r}")
        elif base.kind == "expr" and isinstance(base.obj, Prim) and base.obj.kind == "rundown":
            if name == "refs":
                idx = base.obj.vars["refs"]
                return Val("expr", c.var_ty[idx], c.rd(idx))
            self.fail(n.pos, f"a rundown has no {name!r}{suggest(name, ['refs'])}")
        else:
            self.fail(n.pos, f"{self._what(base)} has no attribute {name!r}")
        return Val("expr", BOOL, E.FALSE)

    def _waiting(self, r: RegInst) -> Expr:
        """Some thread is in a call that returns when ``r`` is DRAINED and closes it
        (``NmrWaitFor*DeregisterComplete(r)``; under ``dereg_may_return_success`` also the
        return of ``NmrDeregister*(r)``): the condition of such a step, without its
        ``r.state == DRAINED``, for a thread that is running (not a task yet to start)."""
        c = self.comp
        st = c.reg_state[r.id]
        drained, closed = c.val(st, "DRAINED"), c.val(st, "CLOSED")
        parts = []
        for a in self.ts.actions:
            if a.slot < 0 or (st, closed) not in a.updates:
                continue
            slot = self.ts.slots[a.slot]
            idle = E.eq(E.var(slot.pc, self.ts.vars[slot.pc].type), E.const(slot.idle))
            conj = E.conjuncts(a.guard)
            if idle in conj or E.eq(c.rd(st), drained) not in conj:
                continue
            parts.append(E.and_(*(x for x in conj if st not in free_vars(x))))
        return E.or_(*parts)

    def _busy(self, d: DriverInst, tasks: bool) -> Expr:
        c = self.comp
        parts = []
        for b in self.design.bindings:
            for side in ("client", "provider"):
                if b.side_reg(side).driver is d:
                    parts.append(E.not_(E.eq(c.rd(c.bvars[b.id].slot[side].pc), E.const(0))))
        if tasks:
            for key, slot in c.tasks.items():
                if key[0] == d.id:
                    parts.append(E.not_(E.eq(c.rd(slot.pc), E.const(0))))
            # a queued work item is code that will run
            for key, q in c.queued.items():
                if key[0] == d.id:
                    parts.append(E.eq(c.rd(q), E.const(1)))
        return E.or_(*parts)


PRIM_TYPES = {
    "rundown": Ty("enum", 0, len(V.RUNDOWN_STATES) - 1, V.RUNDOWN_STATES, "rundown state"),
    "object": Ty("enum", 0, len(V.OBJECT_STATES) - 1, V.OBJECT_STATES, "object state"),
}


def _prim_value(c: Compiler, prim: Prim) -> Val:
    """A primitive in a spec: a rundown's or object's state, a count, an event's signal
    (``.refs`` of a rundown is its references)."""
    idx = next(iter(prim.vars.values()))
    ty = PRIM_TYPES.get(prim.kind, c.var_ty[idx])
    return Val("expr", ty, c.rd(idx), obj=prim)


def _contains_leads(n: object) -> bool:
    """Whether the syntax tree ``n`` has a ``~>`` anywhere."""
    if isinstance(n, A.LeadsTo):
        return True
    if isinstance(n, A.Node):
        return any(_contains_leads(getattr(n, f)) for f in n.__dataclass_fields__ if f != "pos")
    if isinstance(n, tuple):
        return any(_contains_leads(x) for x in n)
    return False


def _name_of(v: Val) -> str:
    """How an instance of a ``forall`` is named in ``NAME[x]``."""
    return str(getattr(v.obj, "name", v.obj))


def _doc_comment(source: str, line: int) -> str:
    """The ``//`` comment lines right above line ``line``, joined."""
    lines = source.splitlines()
    doc: list[str] = []
    k = line - 2
    while 0 <= k < len(lines) and lines[k].strip().startswith("//"):
        doc.insert(0, lines[k].strip()[2:].strip())
        k -= 1
    return " ".join(doc)


def unload_condition(comp: Compiler, node: A.Node) -> Expr:
    """A spec expression over the design being compiled (``Unload when (...)``)."""
    sc = SpecCompiler.__new__(SpecCompiler)
    sc.ts, sc.comp, sc.design, sc.findings = comp.ts, comp, comp.design, []
    e = sc.as_bool(sc.value(node, {}), node.pos)
    comp.findings += sc.findings
    return e


def compile_spec(ts: TransitionSystem, spec: A.Spec) -> list[Property]:
    """The IR properties of ``spec`` for the compiled design ``ts``; raises InputError."""
    return SpecCompiler(ts).compile(spec)
