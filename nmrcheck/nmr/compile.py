"""Compile an elaborated design into the IR: the NMR state machines, the drivers' routines as
threads, and the NMR obligations as properties (nmr-semantics.md §3, §5, §7).

The top of the package's compilation passes: the state of a compilation lives in
nmrcheck.nmr.context, nmrcheck.nmr.build lays it out and compiles every routine (through
nmrcheck.nmr.routines), and :func:`compile_design` turns the result into a TransitionSystem.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from nmrcheck.errors import InputError
from nmrcheck.ir import INVARIANT, InstanceGroup, Property, Slot, TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.nmr.build import build
from nmrcheck.nmr.context import Compiler
from nmrcheck.nmr.design import Design, elaborate, with_phantom_peers
from nmrcheck.nmr.options import resolve


def _c(v: int) -> Expr:
    return E.const(v)


def compile_design(design: Design, options: dict[str, str] | None = None) -> TransitionSystem:
    """Compile a design to a TransitionSystem; raises InputError with every finding."""
    options = resolve(design.model, options)
    comp = Compiler(design, options)
    build(comp)
    if not comp.findings and any(not r.bindings for r in design.regs):
        # callbacks of a registration without a peer are never instantiated: check them
        # against a phantom peer so their mistakes are still reported
        shadow = Compiler(elaborate(with_phantom_peers(design.model)), options)
        build(shadow)
        for f in shadow.findings:
            msg = re.sub(r"peer#\d+\.R~|~peer#\d+\.R", "", f.message)
            comp.findings.append(dataclasses.replace(f, message=msg))
    if comp.findings:
        raise InputError(
            sorted(set(comp.findings), key=lambda f: (f.file, f.line, f.col, f.message))
        )
    # patch the domains known only now: the fault codes and the program counters
    ts = comp.ts
    ts.vars[comp.fault] = dataclasses.replace(
        ts.vars[comp.fault], hi=len(comp.fault_labels) - 1, labels=tuple(comp.fault_labels)
    )
    for s in comp.slots:
        ts.vars[s.pc] = dataclasses.replace(
            ts.vars[s.pc], hi=len(s.labels) - 1, labels=tuple(s.labels)
        )
    owners = tuple(s.owner for s in comp.slots)
    # replicated drivers: candidates for symmetry reduction (checked by the engine)
    ts.groups = [
        InstanceGroup(d.name, tuple(i.name for i in design.instances_of(d.name)))
        for d in design.model.drivers
        if d.count > 1
    ]
    for idx in comp.thread_vars:
        zero = "free" if idx in comp.lock_passive else "none"
        ts.vars[idx] = dataclasses.replace(ts.vars[idx], hi=len(comp.slots), labels=(zero, *owners))
    ts.halted = E.not_(E.eq(comp.rd(comp.fault), _c(0)))
    for code, key in enumerate(comp.fault_labels):
        if code == 0:
            continue
        meta = dict(comp.fault_meta[key])
        meta.setdefault("kind", "obligation")
        expr = E.not_(E.eq(comp.rd(comp.fault), _c(code)))
        if key in comp.flags:
            expr = E.and_(expr, E.not_(comp.rd(comp.flags[key])))
        ts.properties.append(Property(key, INVARIANT, expr, meta))
    ts.slots = [
        Slot(
            s.owner,
            s.pc,
            s.idle,
            {"actor": s.actor, "binding": s.binding, "positions": tuple(s.positions)},
        )
        for s in comp.slots
    ]
    ts.meta["compiler"] = comp
    ts.meta["options"] = options
    ts.resize = _resizer(design, options)
    ts.validate()
    return ts


def _resizer(design: Design,
             options: dict[str, str] | None) -> Callable[[int], TransitionSystem | None]:
    """``resize(k)``: the design with every driver array cut to ``k`` instances, compiled
    with the same options (without specs); None when no array has more."""

    def resize(count: int) -> TransitionSystem | None:
        model = design.model
        if not any(d.count > count for d in model.drivers):
            return None
        drivers = tuple(dataclasses.replace(d, count=count) if d.count > count else d
                        for d in model.drivers)
        return compile_design(elaborate(dataclasses.replace(model, drivers=drivers)), options)

    return resize
