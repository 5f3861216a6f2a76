"""The NMR API as the drivers call it (nmr-semantics.md §2.1, §3.1, §3.2).

``NmrRegister*`` and ``NmrDeregister*`` take two steps: the call, and its return. In between,
NMR may run the registration's callbacks nested on the caller's thread (N5, N10, §4.3 late
comers); other threads keep running. ``NmrClientAttachProvider`` runs the provider's attach
nested, and returns its status in a step of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from nmrcheck.ir import expr as E
from nmrcheck.lang import ast as A
from nmrcheck.nmr import lifetimes, threads
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.context import (
    AttachWait,
    Compiler,
    Position,
    RoutineContext,
    held_by_me,
    thread_of,
)
from nmrcheck.nmr.design import RegInst, suggest
from nmrcheck.nmr.paths import Path
from nmrcheck.nmr.unparse import unparse

Outcomes = list[tuple[Path, object]]


@dataclass(frozen=True)
class InCall:
    """Control rests here inside NmrRegister*/NmrDeregister*, while NMR may run callbacks."""

    call: A.Call
    reg: int
    kind: str  # "register" or "deregister"
    target: str | None
    after: Position | None = None


def call(
    comp: Compiler, rc: RoutineContext, call_: A.Call, path: Path, target: str | None, top: bool
) -> Outcomes:
    """Dispatch an NMR API call statement."""
    f = call_.func
    text = unparse(call_)
    for table, fn in ((V.REGISTER, register), (V.DEREGISTER, deregister), (V.WAIT, wait)):
        role = next((r for r, name in table.items() if name == f), None)
        if role is not None:
            reg = _reg_arg(comp, rc, call_, role)
            if reg is None:
                return []
            if not top:
                comp.fail(
                    call_.pos,
                    f"{f} cannot be inside an atomic block (NMR may run "
                    "callbacks or block inside it)",
                )
                return []
            return fn(comp, rc, reg, path, target, text, call_)
    if f == V.ATTACH_CALL:
        return attach_call(comp, rc, call_, path, target, top)
    role = next(r for r, name in V.COMPLETE.items() if name == f)
    return complete(comp, rc, call_, role, path, target, text)


def _reg_arg(comp: Compiler, rc: RoutineContext, call_: A.Call, role: str) -> RegInst | None:
    if len(call_.args) != 1 or not isinstance(call_.args[0], A.Name):
        comp.fail(call_.pos, f"{call_.func} takes one registration name")
        return None
    name = call_.args[0].id
    for r in rc.scope.driver.regs:
        if r.decl.name == name:
            if r.role != role:
                comp.fail(
                    call_.args[0].pos,
                    f"{name!r} is a {r.role} registration; "
                    f"{call_.func} needs a {role} registration",
                )
                return None
            return r
    regs = [r.decl.name for r in rc.scope.driver.regs]
    comp.fail(call_.args[0].pos, f"unknown registration {name!r}{suggest(name, regs)}")
    return None


def _me(comp: Compiler, rc: RoutineContext, path: Path) -> E.Expr:
    return E.add(thread_of(comp, rc.slot, path), E.const(1))


def _nested(comp: Compiler, rc: RoutineContext, path: Path) -> E.Expr:
    """Whether the calling routine itself runs nested inside another thread's NMR call."""
    if rc.slot.thread_var is None:
        return E.FALSE
    return E.not_(E.eq(comp.rd(rc.slot.thread_var, path), E.const(0)))


def _host(comp: Compiler, rc: RoutineContext, path: Path) -> E.Expr:
    """The value of a registration's caller variable during a call from this routine: its
    thread + 1, or 0 when the routine is itself nested (NMR then nests nothing in the call;
    deeper nesting is not modelled)."""
    return E.ite(_nested(comp, rc, path), E.const(0), _me(comp, rc, path))


def register(comp, rc, reg: RegInst, path: Path, target, text, call_: A.Call) -> Outcomes:
    ok, out = threads.needs_passive(comp, rc, path, text, call_.pos, rule="REG-4")
    if ok is None:
        return out
    comp.rule("REG-5")
    st = comp.reg_state[reg.id]
    for lab, p in comp.split_state(ok, st, V.REG_STATES).items():
        if lab not in ("NONE", "CLOSED"):
            p.notes.append(text)
            out.append(
                (p.fail("REG-5", f"{reg.name} is registered again while {lab}", call_.pos), "fault")
            )
            continue
        if comp.options["register_may_fail"] == "true":
            failed = p.fork()
            rc.assign_result(
                failed, target, V.STATUSES.index("STATUS_INSUFFICIENT_RESOURCES"), call_.pos
            )
            failed.notes.append(f"{text} -> STATUS_INSUFFICIENT_RESOURCES")
            failed.status = "STATUS_INSUFFICIENT_RESOURCES"
            out.append((failed, "next"))
        p.set(st, comp.val(st, "ACTIVE"))
        p.set(comp.reg_data[reg.id], E.FALSE)
        for b in reg.bindings:
            p.set(comp.bvars[b.id].phase, comp.val(comp.bvars[b.id].phase, "NONE"))
        window = reg.id in comp.reg_stored
        if not _nests(comp, reg) and not window:
            rc.assign_result(p, target, V.SUCCESS, call_.pos)
            p.notes.append(f"{text} -> STATUS_SUCCESS")
            p.status = "STATUS_SUCCESS"
            out.append((p, "next"))
            continue
        if _nests(comp, reg):
            p.set(comp.reg_caller[reg.id], _host(comp, rc, p))
        if window:
            p.set(comp.reg_stored[reg.id], E.FALSE)
        why = "attach inside the call"
        if window:
            why = "attach and detach inside the call, before the handle is stored"
        p.notes.append(f"{text}: {reg.name} is ACTIVE; NMR may {why}")
        out.append((p, InCall(call_, reg.id, "register", target)))
    return out


def handles_used_by_binding_code(d: A.DriverDecl) -> set[str]:
    """Registrations whose handle the driver's callbacks or binding tasks pass to NMR."""
    bodies = [r.body for r in d.routines if r.name in threads.CALLBACKS]
    bodies += [t.body for t in d.tasks if t.per_binding]
    handle_calls = (
        set(V.DEREGISTER.values()) | set(V.WAIT.values()) | set(V.COMPLETE.values())
    )
    return {
        c.args[0].id
        for body in bodies
        for c in A.calls(body)
        if c.func in handle_calls and len(c.args) == 1 and isinstance(c.args[0], A.Name)
    }


def handle_stored(
    comp: Compiler, rc: RoutineContext, reg: RegInst, path: Path, text: str, pos: A.Pos
) -> tuple[Path | None, Outcomes]:
    """REG-6: a callback (or binding task) uses ``reg``'s handle while NmrRegister*(reg) is
    still running, before the handle was stored. Returns the path where it is stored."""
    idx = comp.reg_stored.get(reg.id)
    if idx is None or rc.scope.binding is None:
        return path, []
    comp.rule("REG-6")
    st = comp.reg_state[reg.id]
    unstored = E.and_(E.not_(comp.rd(idx, path)), E.not_(comp.is_(st, "NONE", path)))
    bad, ok = path.split(unstored)
    out: Outcomes = []
    if bad is not None:
        bad.notes.append(text)
        msg = (
            f"{text} in {rc.routine}: NmrRegister*({reg.decl.name}) has not returned yet, "
            "so the handle it passes is not stored (NMR calls back inside the register call)"
        )
        out.append((bad.fail("REG-6", msg, pos), "fault"))
    return ok, out


def _nests(comp: Compiler, reg: RegInst) -> bool:
    """Whether NMR may run callbacks of ``reg``'s bindings nested inside its calls in a way
    that matters (see threads.callbacks_can_block); otherwise a call is one step."""
    return any(comp.nestable.get(b.id, False) for b in reg.bindings)


def deregister(comp, rc, reg: RegInst, path: Path, target, text, call_: A.Call) -> Outcomes:
    comp.rule("DRG-4")
    st = comp.reg_state[reg.id]
    path, out = handle_stored(comp, rc, reg, path, text, call_.pos)
    if path is None:
        return out
    why = {
        "NONE": "was never registered",
        "DEREG_PENDING": "is already deregistering",
        "DRAINED": "is already deregistered",
        "CLOSED": "is closed (its handle is dead)",
    }
    for lab, p in comp.split_state(path, st, V.REG_STATES).items():
        if lab == "ACTIVE":
            p.set(st, comp.val(st, "DEREG_PENDING"))
            p.set(comp.reg_unload[reg.id], E.const(rc.routine == "Unload"))
            if _nests(comp, reg) or comp.options["dereg_may_return_success"] == "true":
                p.set(comp.reg_caller[reg.id], _host(comp, rc, p))
                p.notes.append(
                    f"{text}: {reg.name} is DEREG_PENDING; NMR may detach inside the call"
                )
                out.append((p, InCall(call_, reg.id, "deregister", target)))
            else:
                rc.assign_result(p, target, V.PENDING, call_.pos)
                p.notes.append(f"{text} -> STATUS_PENDING")
                p.status = "STATUS_PENDING"
                out.append((p, "next"))
        else:
            p.notes.append(text)
            out.append((p.fail("DRG-4", f"{text}: {reg.name} {why[lab]}", call_.pos), "fault"))
    return out


def in_call_return(comp: Compiler, rc: RoutineContext, key: InCall) -> Outcomes:
    """NmrRegister*/NmrDeregister* returns once no callback runs nested on this thread."""
    path = Path()
    me = _me(comp, rc, path)
    waits = []
    for bv in comp.bvars.values():
        for slot in bv.slot.values():
            if slot is rc.slot:
                continue
            nested = E.and_(
                E.eq(comp.rd(slot.thread_var), me),
                E.not_(E.eq(comp.rd(slot.pc), E.const(slot.idle))),
            )
            waits.append(E.not_(nested))
    # a call made by a nested callback hosts no nesting itself (see register): it returns
    path.guard = E.or_(_nested(comp, rc, path), E.and_(*waits))
    if path.guard is E.FALSE:
        return []
    reg = comp.design.regs[key.reg]
    st = comp.reg_state[reg.id]
    if _nests(comp, reg):
        path.set(comp.reg_caller[reg.id], E.const(0))
    if key.kind == "register" and reg.id in comp.reg_stored:
        path.set(comp.reg_stored[reg.id], E.TRUE)
    name = unparse(key.call)
    results: list[tuple[Path, int]] = []
    if key.kind == "register":
        results.append((path, V.SUCCESS))
    elif comp.options["dereg_may_return_success"] == "true":
        # §6.1, emulators: SUCCESS when nothing is left to wait for; the handle is closed
        done, pending = path.split(comp.is_(st, "DRAINED", path))
        if done is not None:
            done.set(st, comp.val(st, "CLOSED"))
            results.append((done, V.SUCCESS))
        if pending is not None:
            results.append((pending, V.PENDING))
    else:
        results.append((path, V.PENDING))
    out: Outcomes = []
    for p, status in results:
        rc.assign_result(p, key.target, status, key.call.pos)
        p.status = V.STATUSES[status]
        p.notes.append(f"{name} returns {V.STATUSES[status]}")
        out.append((p, key.after))
    return out


def wait(comp, rc, reg: RegInst, path: Path, target, text, call_: A.Call) -> Outcomes:
    ok, out = threads.needs_passive(comp, rc, path, text, call_.pos)
    if ok is None:
        return out
    path, early = handle_stored(comp, rc, reg, ok, text, call_.pos)
    out += early
    if path is None:
        return out
    if rc.routine in threads.CALLBACKS:
        comp.rule("DRG-6")
        path.flag(
            "DRG-6",
            f"{text} inside {rc.routine}: NMR may be running the callback inside "
            "a call whose completion needs this wait to return",
            call_.pos,
        )
    needed = comp.completion_locks.get(rc.scope.driver.id, set())
    if needed:
        holding = held_by_me(comp, rc, path, needed)
        bad, path = path.split(holding)
        if bad is not None:
            comp.rule("DRG-6")
            bad.notes.append(text)
            out.append(
                (
                    bad.fail(
                        "DRG-6",
                        f"{text} while holding a lock that a detach "
                        f"completion or cleanup path takes ({', '.join(sorted(needed))})",
                        call_.pos,
                    ),
                    "fault",
                )
            )
        if path is None:
            return out
    comp.rule("DRG-3")
    comp.rule("DRG-4")
    st = comp.reg_state[reg.id]
    for lab, p in comp.split_state(path, st, V.REG_STATES).items():
        if lab == "DRAINED":
            p.set(st, comp.val(st, "CLOSED"))
            rc.assign_result(p, target, V.SUCCESS, call_.pos)
            p.notes.append(f"{text} -> STATUS_SUCCESS")
            p.status = "STATUS_SUCCESS"
            out.append((p, "next"))
        elif lab == "ACTIVE":
            # R5: returns STATUS_INVALID_PARAMETER and changes nothing
            rc.assign_result(p, target, V.INVALID_PARAMETER, call_.pos)
            p.notes.append(f"{text} -> STATUS_INVALID_PARAMETER")
            p.status = "STATUS_INVALID_PARAMETER"
            p.flag("DRG-3", f"{text} before {V.DEREGISTER[reg.role]}", call_.pos)
            out.append((p, "next"))
        elif lab in ("NONE", "CLOSED"):
            p.notes.append(text)
            why = "was never registered" if lab == "NONE" else "is already closed"
            out.append((p.fail("DRG-4", f"{text}: {reg.name} {why}", call_.pos), "fault"))
        else:  # DEREG_PENDING: the call blocks until NMR marks the registration DRAINED
            out += rc.blocked(p, text)
    return out


def attach_call(
    comp: Compiler, rc: RoutineContext, call_: A.Call, path: Path, target: str | None, top: bool
) -> Outcomes:
    if rc.routine != "ClientAttachProvider" or rc.scope.binding is None:
        comp.fail(
            call_.pos, "NmrClientAttachProvider may be called only inside ClientAttachProvider"
        )
        return []
    if not top:
        comp.fail(
            call_.pos,
            "NmrClientAttachProvider runs the provider's attach; it cannot be "
            "inside an atomic block",
        )
        return []
    if call_.args and not (
        len(call_.args) == 1 and isinstance(call_.args[0], A.Name) and call_.args[0].id == "binding"
    ):
        comp.fail(call_.pos, "NmrClientAttachProvider takes no argument (or 'binding')")
        return []
    text = f"{V.ATTACH_CALL}(binding)"
    ok, out = threads.needs_passive(comp, rc, path, text, call_.pos, rule="REG-4")
    if ok is None:
        return out
    path = ok
    npi_locks = comp.npi_locks.get(rc.scope.driver.id, set())
    if npi_locks:
        holding = held_by_me(comp, rc, path, npi_locks)
        if holding is not E.FALSE:
            comp.rule("ATT-8")
            bad, good = path.split(holding)
            if bad is not None:
                bad.flag(
                    "ATT-8",
                    f"holds a lock its NPI paths take ({', '.join(sorted(npi_locks))})"
                    " across NmrClientAttachProvider, whose provider attach runs nested",
                    call_.pos,
                )
                out += _start_provider_attach(comp, rc, call_, bad, target, AttachWait)
            if good is None:
                return out
            path = good
    return out + _start_provider_attach(comp, rc, call_, path, target, AttachWait)


def _start_provider_attach(comp, rc, call_, path, target, attach_wait) -> Outcomes:
    b = rc.scope.binding
    bv = comp.bvars[b.id]
    comp.rule("ATT-3")
    out: Outcomes = []
    cslot, pslot = bv.slot["client"], bv.slot["provider"]
    for lab, p in comp.split_state(path, bv.phase, ("OFFERED", "HALF_ATTACHED")).items():
        if lab == "OFFERED":
            p, faults = _pass_client_context(comp, rc, call_, p)
            out += faults
            if p is None:
                continue
            p.set(bv.phase, comp.val(bv.phase, "PROVIDER_ATTACHING"))
            p.set(pslot.pc, E.const(comp.entries[(b.id, "ProviderAttachClient")]))
            cthr = comp.rd(cslot.thread_var, p)
            p.set(pslot.thread_var, E.ite(E.eq(cthr, E.const(0)), E.const(cslot.id + 1), cthr))
            p.notes.append(
                f"{V.ATTACH_CALL}(binding {b.name}): NMR calls "
                f"{b.provider.driver.name} ProviderAttachClient"
            )
            out.append((p, attach_wait(call_, target, None)))
        else:
            p.notes.append(V.ATTACH_CALL)
            out.append(
                (
                    p.fail(
                        "ATT-3",
                        "NmrClientAttachProvider called again after it succeeded",
                        call_.pos,
                    ),
                    "fault",
                )
            )
    return out


def _pass_client_context(
    comp: Compiler, rc: RoutineContext, call_: A.Call, path: Path
) -> tuple[Path | None, Outcomes]:
    """NmrClientAttachProvider hands the client binding context to the provider: an implicit
    client gets it now if it has not used it yet; an explicit one must have allocated it
    (ATT-4); a freed one is a use after free."""
    b = rc.scope.binding
    ctx = comp.bvars[b.id].ctx["client"]
    explicit = comp.explicit_alloc[(b.id, "client")]
    usable = ("VALID",) if explicit else ("VALID", "NONE")
    ok, bad = path.split(comp.is_in(ctx, usable, path))
    if ok is not None and not explicit:
        ok.set(ctx, comp.val(ctx, "VALID"))
    faults: Outcomes = []
    if bad is not None:
        bad.notes.append(V.ATTACH_CALL)
        freed, none = bad.split(comp.is_(ctx, "FREED", bad)) if explicit else (bad, None)
        if freed is not None:
            comp.builtin_rule(lifetimes.UAF, lifetimes.UAF_TEXT)
            msg = f"{V.ATTACH_CALL} passes a binding context the client has freed"
            faults.append((freed.fail(lifetimes.UAF, msg, call_.pos), "fault"))
        if none is not None:
            comp.rule("ATT-4")
            msg = (
                f"{V.ATTACH_CALL} without a client binding context "
                "(allocate_binding_context() was not called)"
            )
            faults.append((none.fail("ATT-4", msg, call_.pos), "fault"))
    return ok, faults


def attach_return(comp: Compiler, rc: RoutineContext, key: AttachWait) -> Outcomes:
    """The step in which NmrClientAttachProvider returns the provider's status."""
    bv = comp.bvars[rc.scope.binding.id]
    out: Outcomes = []
    base, _ = Path().split(E.not_(comp.is_(bv.phase, "PROVIDER_ATTACHING")))
    for k, status in enumerate(V.STATUSES):
        p, _ = base.split(E.eq(comp.rd(bv.attach_ret, base), E.const(k)))
        if p is None:
            continue
        p.set(bv.attach_ret, E.const(0))
        p.notes.append(f"{V.ATTACH_CALL} -> {status}")
        p.status = status
        if key.target == "<return>":
            for q in rc.exit_hook(p, E.const(k), key.call.pos):
                q.notes.append(f"return {status}")
                out.append((q, "exit"))
            continue
        rc.assign_result(p, key.target, k, key.call.pos)
        out.append((p, key.after))
    return out


def complete(
    comp: Compiler,
    rc: RoutineContext,
    call_: A.Call,
    role: str,
    path: Path,
    target: str | None,
    text: str,
) -> Outcomes:
    """``Nmr*Detach*Complete(binding)``: this side has finished detaching (B9, N8, DET-3)."""
    if target is not None:
        comp.fail(call_.pos, f"{call_.func} returns VOID")
        return []
    if len(call_.args) != 1 or not isinstance(call_.args[0], A.Name):
        comp.fail(call_.pos, f"{call_.func} takes the binding handle: {call_.func}(binding)")
        return []
    arg = call_.args[0].id
    kept = rc.lookup_target(arg, None) if arg != "binding" else None
    if kept is not None and kept[1].name == "HANDLE":
        return _complete_kept(comp, rc, call_, role, path, text, kept[0])
    if arg != "binding":
        reg = next((r for r in rc.scope.driver.regs if r.decl.name == arg), None)
        if reg is not None:
            comp.rule("DET-6")
            path, out = handle_stored(comp, rc, reg, path, text, call_.pos)
            if path is None:
                return out
            path.notes.append(text)
            msg = f"{text}: passes the registration handle {arg!r}, not the binding handle"
            return out + [(path.fail("DET-6", msg, call_.pos), "fault")]
        comp.fail(call_.args[0].pos, f"{call_.func} takes the binding handle 'binding'")
        return []
    b, side = rc.scope.binding, rc.scope.side
    if b is None:
        comp.fail(
            call_.pos,
            f"{call_.func}(binding) needs a binding: call it in a callback or a binding task",
        )
        return []
    if side != role:
        comp.fail(
            call_.pos,
            f"{call_.func} completes the {role} side, but this code runs on "
            f"the {side} side of {b.name}",
        )
        return []
    return _complete_side(comp, call_, b, side, path, text)


def _complete_kept(
    comp: Compiler, rc: RoutineContext, call_: A.Call, role: str, path: Path, text: str, h: int
) -> Outcomes:
    """``Nmr*DetachComplete(h)`` with a binding handle the module kept in a HANDLE variable
    (O7): the binding it names, or a bug check on NULL (DET-6)."""
    labels = comp.ts.vars[h].labels
    out: Outcomes = []
    for k, name in enumerate(labels):
        p, _ = path.split(E.eq(comp.rd(h, path), E.const(k)))
        if p is None:
            continue
        if k == 0:
            comp.rule("DET-6")
            p.notes.append(text)
            msg = f"{text}: the handle is NULL (no binding handle was kept)"
            out.append((p.fail("DET-6", msg, call_.pos), "fault"))
            continue
        b = next(x for x in comp.design.bindings if x.name == name)
        side = "client" if b.client.driver is rc.scope.driver else "provider"
        if side != role:
            comp.fail(call_.pos, f"{call_.func} completes the {role} side of a binding")
            return []
        out += _complete_side(comp, call_, b, side, p, text)
    return out


def _complete_side(comp: Compiler, call_: A.Call, b, side: str, path: Path, text: str) -> Outcomes:
    """Side ``side`` of binding ``b`` has finished detaching."""
    comp.rule("DET-3")
    comp.rule("DET-4")
    bv = comp.bvars[b.id]
    sv, pend = bv.side[side], bv.pend[side]
    out: Outcomes = []
    gone, alive = path.split(comp.is_in(bv.phase, ("NONE", "GONE", "REJECTED", "CLEANUP"), path))
    if gone is not None:
        gone.notes.append(text)
        out.append(
            (
                gone.fail(
                    "DET-3",
                    f"{text}: the binding is already cleaned up (its handle is dead)",
                    call_.pos,
                ),
                "fault",
            )
        )
    if alive is None:
        return out
    busy, idle = alive.split(E.lt(E.const(0), comp.rd(bv.inflight[side], alive)))
    if busy is not None:
        busy.flag("DET-3", f"{text} while calls into the peer are still in flight", call_.pos)
    for start in (p for p in (busy, idle) if p is not None):
        for lab, p in comp.split_state(start, sv, V.SIDE_STATES).items():
            p.notes.append(text)
            if lab == "IN_CALLBACK":
                p.set(sv, comp.val(sv, "COMPLETED_EARLY"))
                out.append((p, "next"))
            elif lab == "PENDING":
                p.set(sv, comp.val(sv, "DONE"))
                out.append((p, "next"))
            elif lab == "NOT_CALLED":
                out.append(
                    (
                        p.fail(
                            "DET-3",
                            f"{text} before NMR called the {side}'s detach callback",
                            call_.pos,
                        ),
                        "fault",
                    )
                )
            elif lab == "COMPLETED_EARLY":
                out.append((p.fail("DET-3", f"{text} called twice", call_.pos), "fault"))
            else:  # DONE: after PENDING and a completion, or after SUCCESS
                twice, after_success = p.split(E.eq(comp.rd(pend, p), E.const(1)))
                if twice is not None:
                    out.append((twice.fail("DET-3", f"{text} called twice", call_.pos), "fault"))
                if after_success is not None:
                    out.append(
                        (
                            after_success.fail(
                                "DET-4",
                                f"{text} after the detach callback returned STATUS_SUCCESS",
                                call_.pos,
                            ),
                            "fault",
                        )
                    )
    return out
