"""The elaborated design: driver instances, their registrations and the possible bindings.

Name and placement checks happen here and are reported as positioned findings.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from nmrcheck.errors import Finding, InputError
from nmrcheck.lang import ast as A
from nmrcheck.nmr import vocab as V


@dataclass
class DriverInst:
    decl: A.DriverDecl
    index: int  # 1-based instance number
    id: int  # position among all instances
    regs: list[RegInst] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.decl.name if self.decl.count == 1 else f"{self.decl.name}[{self.index}]"


@dataclass
class RegInst:
    decl: A.RegDecl
    driver: DriverInst
    id: int
    bindings: list[BindingInst] = field(default_factory=list)

    @property
    def role(self) -> str:
        return self.decl.role

    @property
    def name(self) -> str:
        return f"{self.driver.name}.{self.decl.name}"


@dataclass
class BindingInst:
    client: RegInst
    provider: RegInst
    id: int

    @property
    def name(self) -> str:
        return f"{self.client.name}~{self.provider.name}"

    def side_reg(self, side: str) -> RegInst:
        return self.client if side == "client" else self.provider


@dataclass
class Design:
    model: A.Model
    drivers: list[DriverInst]
    regs: list[RegInst]
    bindings: list[BindingInst]

    def instances_of(self, decl_name: str) -> list[DriverInst]:
        return [d for d in self.drivers if d.decl.name == decl_name]


def suggest(name: str, options: list[str] | tuple[str, ...]) -> str:
    """A ``; did you mean 'X'?`` suffix when a close option exists."""
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _err(findings: list[Finding], pos: A.Pos, msg: str) -> None:
    findings.append(Finding(pos.file, pos.line, pos.col, msg))


MAX_INSTANCES = 64
# names nmrcheck gives to a driver's own state, and words with a meaning of their own
RESERVED = frozenset(
    {
        "state",
        "pc",
        "binding",
        "registrations",
        "bindings",
        "in_callback",
        "running",
        "thread",
        "caller",
    }
)


def elaborate(model: A.Model) -> Design:
    """Inline the procs, check names and placement, and build the instances; raises
    InputError."""
    from nmrcheck.lang.procs import expand

    model = expand(model, V.BUILTIN_CALLS | V.NMR_CALLS | set(V.ROUTINES))
    f: list[Finding] = []
    npis: dict[str, A.NpiDecl] = {}
    for n in model.npis:
        if n.name in npis:
            _err(f, n.pos, f"NPI {n.name!r} is declared twice")
        npis[n.name] = n
    seen_drivers: dict[str, A.DriverDecl] = {}
    for d in model.drivers:
        if d.name in seen_drivers:
            _err(f, d.pos, f"driver {d.name!r} is declared twice")
        seen_drivers[d.name] = d
        if not 1 <= d.count <= MAX_INSTANCES:
            _err(f, d.pos, f"driver {d.name!r}: instance count must be 1..{MAX_INSTANCES}")
        _check_driver(d, npis, f)
    if not model.drivers and not f:
        _err(f, model.pos, "the model declares no driver")
    if f:
        raise InputError(f)

    drivers: list[DriverInst] = []
    regs: list[RegInst] = []
    for d in model.drivers:
        for i in range(1, d.count + 1):
            inst = DriverInst(d, i, len(drivers))
            drivers.append(inst)
            for r in d.regs:
                ri = RegInst(r, inst, len(regs))
                inst.regs.append(ri)
                regs.append(ri)
    bindings: list[BindingInst] = []
    for c in regs:
        if c.role != "client":
            continue
        for p in regs:
            if p.role == "provider" and p.decl.npi == c.decl.npi:
                b = BindingInst(c, p, len(bindings))
                bindings.append(b)
                c.bindings.append(b)
                p.bindings.append(b)
    return Design(model, drivers, regs, bindings)


def _check_driver(d: A.DriverDecl, npis: dict[str, A.NpiDecl], f: list[Finding]) -> None:
    _check_names(d, npis, f)
    _check_members(d, f)
    reg_names = {r.name: r for r in d.regs}
    _check_routines(d, reg_names, f)
    for t in d.tasks:
        if t.reg is not None:
            if not t.per_binding:
                _err(f, t.pos, "'for' applies only to binding tasks")
            elif t.reg not in reg_names:
                _err(f, t.pos, f"unknown registration {t.reg!r}{suggest(t.reg, list(reg_names))}")
    for fn in d.dispatch:
        if not d.regs:
            _err(f, fn.pos, f"dispatch {fn.name} needs a registration in driver {d.name!r}")
        elif fn.reg is not None and fn.reg not in reg_names:
            _err(f, fn.pos, f"unknown registration {fn.reg!r}{suggest(fn.reg, list(reg_names))}")


def _check_names(d: A.DriverDecl, npis: dict[str, A.NpiDecl], f: list[Finding]) -> None:
    """Every name a driver declares is free, once, and names a known NPI where it should."""
    names: dict[str, A.Node] = {}

    def declare(name: str, node: A.Node, what: str) -> None:
        if name in RESERVED:
            _err(
                f,
                node.pos,
                f"{what} name {name!r} is reserved (nmrcheck uses it for the driver's own state)",
            )
            return
        if name in names:
            prev = names[name].pos
            _err(f, node.pos, f"{what} {name!r} clashes with a name declared at line {prev.line}")
        names[name] = node

    for r in d.regs:
        declare(r.name, r, "registration")
        if r.npi not in npis:
            _err(f, r.pos, f"unknown NPI {r.npi!r}{suggest(r.npi, list(npis))}")
    for v in d.vars:
        declare(v.name, v, "variable")
    for lk in d.locks:
        declare(lk.name, lk, "lock")
    for t in d.tasks:
        declare(t.name, t, "task")
    for pr in d.prims:
        declare(pr.name, pr, pr.kind)
    for fn in d.dispatch:
        if any(o.name == fn.name and o.reg == fn.reg for o in d.dispatch if o is not fn):
            if next(o for o in d.dispatch if o.name == fn.name and o.reg == fn.reg) is not fn:
                _err(f, fn.pos, f"dispatch function {fn.name!r} is defined twice")


def _check_routines(d: A.DriverDecl, reg_names: dict[str, A.RegDecl], f: list[Finding]) -> None:
    """Routines are NMR callbacks or Unload/DriverEntry, once each, of a role the driver has."""
    roles = {r.role for r in d.regs}
    seen: dict[tuple[str, str | None], A.Routine] = {}
    for rt in d.routines:
        if rt.name not in V.ROUTINES:
            _err(f, rt.pos, f"unknown routine {rt.name!r}{suggest(rt.name, V.ROUTINES)}")
            continue
        if rt.when is not None and rt.name != "Unload":
            msg = f"'when' applies only to Unload (when the OS calls it), not {rt.name}"
            _err(f, rt.when.pos, msg)
        key = (rt.name, rt.reg)
        if key in seen:
            _err(f, rt.pos, f"routine {rt.name} is defined twice")
        seen[key] = rt
        role = (
            "client"
            if rt.name in V.CLIENT_CALLBACKS
            else ("provider" if rt.name in V.PROVIDER_CALLBACKS else None)
        )
        if role and role not in roles:
            _err(f, rt.pos, f"{rt.name} needs a {role} registration in driver {d.name!r}")
        if rt.reg is None:
            continue
        if role is None:
            _err(f, rt.pos, f"{rt.name} is not a binding callback; 'for' does not apply")
        elif rt.reg not in reg_names:
            _err(f, rt.pos, f"unknown registration {rt.reg!r}{suggest(rt.reg, list(reg_names))}")
        elif reg_names[rt.reg].role != role:
            _err(f, rt.pos, f"{rt.reg!r} is a {reg_names[rt.reg].role} registration")


IRQLS = ("PASSIVE_LEVEL", "DISPATCH_LEVEL")


def _check_members(d: A.DriverDecl, f: list[Finding]) -> None:
    """The primitives of a driver: handlers name a reference count, ``in OBJ`` names an
    object of the same kind (per driver or per binding), IRQLs and attributes are known."""
    prims = {p.name: p for p in d.prims}
    for h in d.handlers:
        p = prims.get(h.name)
        if p is None or p.kind != "refcount":
            counts = [x.name for x in d.prims if x.kind == "refcount"]
            hint = suggest(h.name, counts)
            _err(f, h.pos, f"'on' names no refcount of {d.name}: {h.name!r}{hint}")
        elif h.value < 0:
            _err(f, h.pos, "a reference count threshold is 0 or more")
    for node in (*d.prims, *d.locks, *d.vars):
        obj = node.in_obj
        if obj is None:
            continue
        o = prims.get(obj)
        if o is None or o.kind != "object":
            objs = [x.name for x in d.prims if x.kind == "object"]
            _err(f, node.pos, f"unknown object {obj!r}{suggest(obj, objs)}")
        elif isinstance(node, A.VarDecl) and node.per_binding and not o.per_binding:
            continue  # per binding, in a driver object: an array indexed by binding
        elif o.per_binding != node.per_binding:
            where = "a binding" if o.per_binding else "a driver"
            _err(f, node.pos, f"object {obj!r} is {where} object: declare both alike")
    for t in d.tasks:
        if t.irql is not None and t.irql not in IRQLS:
            _err(f, t.pos, f"unknown IRQL {t.irql!r}: write PASSIVE_LEVEL or DISPATCH_LEVEL")
        elif t.kind == "dpc" and t.irql == "PASSIVE_LEVEL":
            _err(f, t.pos, "a DPC runs at DISPATCH_LEVEL")
        elif t.kind in ("workitem", "ioworkitem") and t.irql == "DISPATCH_LEVEL":
            _err(f, t.pos, "a work item runs at PASSIVE_LEVEL (use 'dpc' for DISPATCH_LEVEL)")
    for r in d.regs:
        seen: set[str] = set()
        for a in r.attrs:
            if a.name in seen:
                _err(f, a.pos, f"attribute {a.name!r} of {r.name} is given twice")
            seen.add(a.name)


def with_phantom_peers(model: A.Model) -> A.Model:
    """``model`` plus, for each registration without a possible peer, a driver that has one.

    Only used to check the callbacks of such registrations, which are otherwise never compiled.
    """
    roles: dict[str, set[str]] = {}
    for d in model.drivers:
        for r in d.regs:
            roles.setdefault(r.npi, set()).add(r.role)
    extra = []
    for npi, have in sorted(roles.items()):
        for role in ("client", "provider"):
            if role in have and ({"client", "provider"} - {role}) - have:
                other = "provider" if role == "client" else "client"
                pos = model.pos
                extra.append(
                    A.DriverDecl(
                        pos, f"peer#{len(extra)}", 1, (A.RegDecl(pos, other, "R", npi, False),)
                    )
                )
    return A.Model(
        model.pos,
        model.npis,
        model.drivers + tuple(extra),
        model.source,
        model.options,
        model.props,
    )
