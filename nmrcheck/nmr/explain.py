"""Say in NMR words why a state is bad: which instance of a spec invariant is false and what
makes it so (which thread still runs in an unloaded driver, which binding is still live), and
what a thread blocked forever is waiting for (which binding side is still PENDING, which lock,
which condition)."""

from __future__ import annotations

from collections.abc import Sequence

from nmrcheck.ir import INVARIANT, TransitionSystem
from nmrcheck.ir.walkers import evaluate
from nmrcheck.lang import ast as A
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.api import InCall
from nmrcheck.nmr.context import AttachWait, Position
from nmrcheck.nmr.design import BindingInst, DriverInst
from nmrcheck.nmr.specs import SpecCompiler, Val
from nmrcheck.nmr.unparse import unparse

State = Sequence[int]


# -- spec invariants -------------------------------------------------------------------------
def why_violated(ts: TransitionSystem, name: str, state: State) -> str | None:
    """Why spec invariant ``name`` is false in ``state``, or None (not a spec invariant, or
    not false there)."""
    prop = next((p for p in ts.properties if p.name == name), None)
    if prop is None or prop.kind != INVARIANT or prop.meta.get("kind") != "spec":
        return None
    node = prop.meta.get("ast")
    if node is None or evaluate(prop.expr, state):
        return None
    sc = SpecCompiler(ts)
    where: list[str] = []
    facts: list[str] = []
    _false(sc, node, {}, state, where, facts)
    head = f"for {', '.join(where)}: " if where else ""
    return head + "; ".join(dict.fromkeys(facts)) if facts else None


def _holds(sc: SpecCompiler, n: A.Node, env: dict[str, Val], state: State) -> bool:
    return bool(evaluate(sc.as_bool(sc.value(n, env), n.pos), state))


def _false(sc, n: A.Node, env: dict, state: State, where: list[str], facts: list[str]) -> None:
    """Explain why ``n`` is false in ``state``: the instance that fails, and its facts."""
    if isinstance(n, A.Quant) and n.kind == "forall":
        for it in sc._items(sc.value(n.domain, env), n.domain.pos):
            inner = {**env, n.var: it}
            if not _holds(sc, n.body, inner, state):
                where.append(f"{n.var} = {getattr(it.obj, 'name', it.obj)}")
                _false(sc, n.body, inner, state, where, facts)
                return
    elif isinstance(n, A.Binary) and n.op == "=>":
        _true(sc, n.left, env, state, facts)
        _false(sc, n.right, env, state, where, facts)
    elif isinstance(n, A.Binary) and n.op == "&&":
        side = n.left if not _holds(sc, n.left, env, state) else n.right
        _false(sc, side, env, state, where, facts)
    elif isinstance(n, A.Binary) and n.op == "||":
        _false(sc, n.left, env, state, where, facts)
        _false(sc, n.right, env, state, where, facts)
    elif isinstance(n, A.Unary) and n.op == "!":
        _true(sc, n.arg, env, state, facts)
    else:
        facts.extend(_facts(sc, n, env, state))


def _true(sc, n: A.Node, env: dict, state: State, facts: list[str]) -> None:
    """The facts that make ``n`` true in ``state``."""
    if isinstance(n, A.Binary) and n.op == "&&":
        _true(sc, n.left, env, state, facts)
        _true(sc, n.right, env, state, facts)
    elif isinstance(n, A.Unary) and n.op == "!":
        _false(sc, n.arg, env, state, [], facts)
    else:
        facts.extend(_facts(sc, n, env, state))


def _facts(sc: SpecCompiler, n: A.Node, env: dict, state: State) -> list[str]:
    """The values an atom reads, as ``X.phase is LIVE``, or what runs for ``d.running``."""
    out = []
    for a in _attrs(n):
        base = sc.value(a.obj, env)
        if base.kind == "driver" and a.name in ("running", "in_callback"):
            if _holds(sc, a, env, state):
                out.append(_busy(sc, base.obj, state, tasks=a.name == "running"))
            continue
        v = sc.value(a, env)
        if v.kind == "expr" and v.expr is not None and v.ty is not None:
            attr = "" if a.name in ("state", "phase") else f".{a.name}"
            out.append(f"{_entity(base)}{attr} is {_shown(v, evaluate(v.expr, state))}")
    return out or [f"{unparse(n)} is false"]


def _shown(v: Val, x: int) -> str:
    if v.ty.kind == "enum":
        return v.ty.labels[x]
    if v.ty.kind == "int":
        return str(x)
    return "true" if x else "false"


def _attrs(n: A.Node) -> list[A.Attr]:
    """The outermost attribute reads of ``n`` (``b.phase``, ``d.running``)."""
    out, stack = [], [n]
    while stack:
        x = stack.pop()
        if isinstance(x, A.Attr):
            out.append(x)
            continue
        for v in vars(x).values():
            if isinstance(v, A.Node):
                stack.append(v)
            elif isinstance(v, tuple):
                stack.extend(c for c in v if isinstance(c, A.Node))
    return sorted(out, key=lambda a: (a.pos.line, a.pos.col))


def _entity(v: Val) -> str:
    obj = v.obj
    if isinstance(obj, BindingInst):
        return f"binding {obj.name}"
    return str(getattr(obj, "name", obj))


def _busy(sc: SpecCompiler, d: DriverInst, state: State, tasks: bool) -> str:
    """What of driver ``d`` runs (or is queued to run) in ``state``."""
    comp = sc.comp
    running = []
    for b in sc.design.bindings:
        for side in ("client", "provider"):
            slot = comp.bvars[b.id].slot[side]
            if b.side_reg(side).driver is d and state[slot.pc] != slot.idle:
                running.append(f"{_routine_at(sc.ts, slot.pc, state)} for {b.name} runs")
    if tasks:
        for key, slot in comp.tasks.items():
            if key[0] == d.id and state[slot.pc] != slot.idle:
                running.append(f"{_kind(d, key[1])} {key[1]} runs")
        for key, q in comp.queued.items():
            if key[0] == d.id and state[q]:
                running.append(f"work item {key[1]} is queued")
    return f"{d.name} still has code to run: " + ", ".join(running)


def _routine_at(ts: TransitionSystem, pc_var: int, state: State) -> str:
    return ts.vars[pc_var].show(state[pc_var]).split(":", 1)[0]


KIND_WORDS = {"workitem": "work item", "ioworkitem": "work item", "dpc": "DPC"}


def _kind(d: DriverInst, name: str) -> str:
    return next(KIND_WORDS.get(t.kind, "task") for t in d.decl.tasks if t.name == name)


# -- hangs -----------------------------------------------------------------------------------
def waits_for(ts: TransitionSystem, k: int, state: State) -> str | None:
    """What thread ``k``, blocked in ``state``, is waiting for; None when it cannot be said."""
    comp = ts.meta.get("compiler")
    if comp is None or k >= len(comp.slots):
        return None
    slot = comp.slots[k]
    key = slot.rests.get(state[slot.pc])
    if isinstance(key, AttachWait):
        b = comp.design.bindings[_binding_of(comp, slot)]
        return f"waits for {b.provider.driver.name}'s ProviderAttachClient to return"
    if isinstance(key, InCall):
        inside = [
            f"{_routine_at(ts, other.pc, state)} for {other.binding}"
            for bv in comp.bvars.values()
            for other in bv.slot.values()
            if other.thread_var is not None
            and state[other.thread_var] == k + 1
            and state[other.pc] != other.idle
        ]
        what = ", ".join(inside) or "the callbacks NMR runs inside it"
        return f"waits in {unparse(key.call)} for {what} (run inside the call) to return"
    if not isinstance(key, Position):
        return None
    reasons = [r for s in _first_statements(key) if (r := _reason(comp, ts, slot, s, state))]
    return "; ".join(dict.fromkeys(reasons)) or None


def _binding_of(comp, slot) -> int:
    return next(b for b, bv in comp.bvars.items() if slot in bv.slot.values())


def _first_statements(pos: Position) -> list[A.Node]:
    """The statements that may be the first step from ``pos`` (through ifs)."""
    out, stack = [], [pos.stmts[pos.index:]]
    while stack:
        stmts = stack.pop()
        for s in stmts:
            if isinstance(s, A.LocalDecl) and s.init is None:
                continue
            if isinstance(s, A.If):
                stack.append(s.then)
                if s.orelse:
                    stack.append(s.orelse)
            else:
                out.append(s)
            break
    return out


def _reason(comp, ts: TransitionSystem, slot, s: A.Node, state: State) -> str | None:
    if isinstance(s, A.Await):
        return f"waits until {unparse(s.cond)}, which nothing makes true"
    if isinstance(s, A.Atomic):
        inner = [x for x in A.statements(s.body) if isinstance(x, A.Await)]
        return f"waits until {unparse(inner[0].cond)}, which nothing makes true" if inner else None
    call = s.call if isinstance(s, A.CallStmt) else s.value if isinstance(s, A.Assign) else None
    if not isinstance(call, A.Call) or not call.args or not isinstance(call.args[0], A.Name):
        return None
    arg = call.args[0].id
    if call.func == "acquire":
        for (d, name), idx in comp.locks.items():
            if name == arg and comp.design.drivers[d].name == slot.actor:
                return f"waits for lock {arg}, held by {ts.vars[idx].show(state[idx])}"
        for (_b, _s, name), idx in comp.block.items():
            if name == arg and state[idx]:
                return f"waits for lock {arg}, held by {ts.vars[idx].show(state[idx])}"
        return None
    if call.func in V.WAIT.values():
        reg = next((r for r in comp.design.regs
                    if r.decl.name == arg and r.driver.name == slot.actor), None)
        return None if reg is None else _drain(comp, ts, reg, state)
    return None


def _drain(comp, ts: TransitionSystem, reg, state: State) -> str:
    """Why registration ``reg`` is not DRAINED: its bindings that are not torn down."""
    st = ts.vars[comp.reg_state[reg.id]].show(state[comp.reg_state[reg.id]])
    parts = []
    for b in reg.bindings:
        bv = comp.bvars[b.id]
        phase = ts.vars[bv.phase].show(state[bv.phase])
        if phase in V.TERMINAL_PHASES:
            continue
        parts.append(_binding_state(comp, ts, b, phase, state))
    held = "; ".join(parts) or "NMR has not marked it DRAINED"
    return f"waits for {reg.name} ({st}) to drain: {held}"


def _binding_state(comp, ts: TransitionSystem, b: BindingInst, phase: str, state: State) -> str:
    bv = comp.bvars[b.id]
    if phase != "DETACHING":
        return f"binding {b.name} is {phase}"
    sides = []
    for side in ("client", "provider"):
        s = ts.vars[bv.side[side]].show(state[bv.side[side]])
        detach = "ClientDetachProvider" if side == "client" else "ProviderDetachClient"
        if s == "PENDING":
            sides.append(
                f"its {side} side is PENDING: {detach} returned STATUS_PENDING and "
                f"{V.COMPLETE[side]}(binding) never came"
            )
        elif s == "IN_CALLBACK":
            sides.append(f"its {side} side's {detach} has not returned")
        elif s == "NOT_CALLED":
            sides.append(f"NMR has not called its {side} side's {detach}")
    return f"binding {b.name} is DETACHING" + (f" ({'; '.join(sides)})" if sides else "")
