"""NPI calls across a binding, and the lifetimes of binding contexts and registration data
(nmr-semantics.md §3.2 call counters, §4.4, CALL-1..4, DET-2, CLN-1..3, REG-1).

A side's binding context exists only once the design allocates it (nmr-semantics.md §1.8):

* a side whose attach callback calls ``allocate_binding_context()`` allocates it there, and
  only there (an *explicit* side);
* any other side gets it implicitly, at the first statement of its attach callback that uses
  it, or else when it hands it over: the client at ``NmrClientAttachProvider``, the provider
  when its attach returns ``STATUS_SUCCESS``.

It then stays VALID until the module frees it (``free_binding_context()``) or the binding is
gone. Using a context that is not VALID is a use after free, or CLN-3 once the binding was
cleaned up: the run halts, like the crash it would be. A binding lock lives in the context, so
taking or releasing one is a use of it.
"""

from __future__ import annotations

from nmrcheck.ir import expr as E
from nmrcheck.lang import ast as A
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.context import Compiler, RoutineContext
from nmrcheck.nmr.design import BindingInst
from nmrcheck.nmr.paths import Path

CTX_STATES = ("NONE", "VALID", "FREED")
UAF = "use_after_free"
UAF_TEXT = (
    "nothing uses a binding context or registration data after it was freed, and NMR "
    "never calls a callback with a freed context (nmr-semantics.md §7)"
)
# phases in which a side holds the peer's dispatch table and may call it
CALLABLE = {
    "client": ("HALF_ATTACHED", "LIVE", "DETACHING", "CLEANUP"),
    "provider": ("PROVIDER_ATTACHING", "HALF_ATTACHED", "LIVE", "DETACHING", "CLEANUP"),
}


def other(side: str) -> str:
    return "provider" if side == "client" else "client"


def uaf(comp: Compiler) -> str:
    comp.builtin_rule(UAF, UAF_TEXT)
    return UAF


ATTACH = {"client": "ClientAttachProvider", "provider": "ProviderAttachClient"}


def allocates(stmts: tuple[A.Node, ...]) -> bool:
    """Whether ``stmts`` call ``allocate_binding_context()`` (an explicit side)."""
    return any(c.func == "allocate_binding_context" for c in A.calls(stmts))


def in_own_attach(rc: RoutineContext) -> bool:
    """Whether ``rc`` is the attach callback of its binding side."""
    return rc.scope.binding is not None and rc.routine == ATTACH[rc.scope.side]


def uses_context(rc: RoutineContext, stmt: A.Node) -> bool:
    """Whether ``stmt`` reads or writes a variable of its binding context, or takes or
    releases one of its binding locks."""
    if rc.scope.binding is None:
        return False
    b, side = rc.scope.binding.id, rc.scope.side
    names = {
        n
        for (s, n), idx in rc.c.bvars[b].user.items()
        if s == side and not _in_driver_object(rc.c, idx)
    }
    names |= {n for (bid, s, n) in rc.c.block if bid == b and s == side}
    names |= {n for (bid, s, n) in rc.c.bprims if bid == b and s == side}
    names -= set(rc.scope.locals)
    if not names:
        return False
    stack: list[object] = [stmt]
    while stack:
        n = stack.pop()
        if isinstance(n, A.Name) and n.id in names:
            return True
        if isinstance(n, A.Assign) and n.target in names:
            return True
        if isinstance(n, (A.If, A.While, A.Atomic)):
            # only the part that runs in this step: conditions (bodies are later steps)
            if isinstance(n, A.Atomic):
                stack.extend(n.body)
            else:
                stack.append(n.cond)
            continue
        if isinstance(n, A.Node):
            for v in vars(n).values():
                if isinstance(v, A.Node):
                    stack.append(v)
                elif isinstance(v, tuple):
                    stack.extend(x for x in v if isinstance(x, A.Node))
    return False


def _in_driver_object(comp: Compiler, idx: int) -> bool:
    obj = comp.var_obj.get(idx)
    return obj is not None and obj.binding is None


def check_context(rc: RoutineContext, path: Path, pos: A.Pos) -> tuple[Path | None, list]:
    """Split ``path`` on whether this side's binding context is valid; in an implicit side's
    attach callback, a context not allocated yet is allocated here."""
    comp = rc.c
    bv = comp.bvars[rc.scope.binding.id]
    ctx = bv.ctx[rc.scope.side]
    usable = ("VALID",)
    implicit = in_own_attach(rc) and not comp.explicit_alloc[(rc.scope.binding.id, rc.scope.side)]
    if implicit:
        usable = ("VALID", "NONE")
    ok, bad = path.split(comp.is_in(ctx, usable, path))
    if ok is not None and implicit:
        ok.set(ctx, comp.val(ctx, "VALID"))
    if bad is not None:
        bad.notes.append(rc.describe_here())
    faults = []
    if bad is not None:
        freed, gone = bad.split(comp.is_(ctx, "FREED", bad)) if not implicit else (bad, None)
        code = uaf(comp)
        if freed is not None:
            faults.append(
                (freed.fail(code, "uses its binding context after freeing it", pos), "fault")
            )
        if gone is not None and in_own_attach(rc):
            msg = "uses its binding context before allocate_binding_context()"
            faults.append((gone.fail(code, msg, pos), "fault"))
        elif gone is not None:
            comp.rule("CLN-3")
            faults.append(
                (
                    gone.fail(
                        "CLN-3",
                        f"uses the binding context of "
                        f"{rc.scope.binding.name} after it was cleaned up",
                        pos,
                    ),
                    "fault",
                )
            )
    return ok, faults


def npi_return(rc: RoutineContext, end: A.Node, path: Path) -> list[tuple[Path, object]]:
    """The end of ``npi_call(F)``: F's body has run; the call returns to the caller's side."""
    comp = rc.c
    b = comp.design.bindings[end.binding]
    call = A.Call(end.pos, "npi_call_end", ())
    out = npi_call(rc, call, path, begin=False, who=(b, end.side))
    for p, o in out:
        if o != "fault" and p.notes:
            p.notes[-1] = f"npi_call({end.func}) returns"
    return out


def npi_call(
    rc: RoutineContext,
    call: A.Call,
    path: Path,
    begin: bool,
    who: tuple[object, str] | None = None,
) -> list[tuple[Path, object]]:
    """``npi_call_begin()`` / ``npi_call_end()``: a call into the peer's dispatch table
    (``who``: the binding and side that call, when not the code's own)."""
    comp = rc.c
    b, side = who if who is not None else (rc.scope.binding, rc.scope.side)
    if not _npi_call_well_formed(comp, call, b):
        return []
    bv = comp.bvars[b.id]
    peer_drv = b.side_reg(other(side)).driver
    path.notes.append(
        f"{call.func}(): {'calls into' if begin else 'call returns from'} {peer_drv.name}"
    )
    out: list[tuple[Path, object]] = []
    if begin:
        path, out = _npi_attached(comp, b, side, call, path)
        if path is None:
            return out
    alive, faults = _npi_peer_alive(comp, b, side, call, path)
    out += faults
    if alive is None:
        return out
    if begin:
        return out + _npi_begin(rc, b, side, call, alive)
    return out + _npi_end(comp, bv.inflight[side], call, alive)


def _fault(path: Path, code: str, msg: str, pos: A.Pos) -> tuple[Path, object]:
    """``path`` halts, violating ``code`` with ``msg`` at ``pos``."""
    return (path.fail(code, msg, pos), "fault")


def _npi_call_well_formed(comp: Compiler, call: A.Call, b: BindingInst | None) -> bool:
    """Whether the call has a binding and no argument (else the design is rejected)."""
    if b is None:
        comp.fail(
            call.pos, f"{call.func}() needs a binding: use it in a callback or a binding task"
        )
        return False
    if call.args and call.func != "npi_call":
        comp.fail(call.pos, f"{call.func}() takes no argument")
        return False
    return True


def _npi_attached(
    comp: Compiler, b: BindingInst, side: str, call: A.Call, path: Path
) -> tuple[Path | None, list[tuple[Path, object]]]:
    """A call needs the peer's dispatch table: the binding must be attached (CALL-2).
    Returns the path where it is, and the faults."""
    bv = comp.bvars[b.id]
    attached, detached = path.split(comp.is_in(bv.phase, CALLABLE[side], path))
    out: list[tuple[Path, object]] = []
    if detached is not None:
        comp.rule("CALL-2")
        msg = f"calls through {b.name}, which is not attached (no dispatch table)"
        out.append(_fault(detached, "CALL-2", msg, call.pos))
    return attached, out


def _npi_peer_alive(
    comp: Compiler, b: BindingInst, side: str, call: A.Call, path: Path
) -> tuple[Path | None, list[tuple[Path, object]]]:
    """The call runs in the peer: its image must be loaded (CALL-3) and its binding context
    not freed. Returns the path where both hold, and the faults."""
    bv = comp.bvars[b.id]
    peer = other(side)
    peer_drv = b.side_reg(peer).driver
    out: list[tuple[Path, object]] = []
    unloaded, alive = path.split(comp.is_(comp.drv_state[peer_drv.id], "UNLOADED", path))
    if unloaded is not None:
        comp.rule("CALL-3")
        msg = f"calls into {peer_drv.name}, whose image is unloaded"
        out.append(_fault(unloaded, "CALL-3", msg, call.pos))
    if alive is None:
        return None, out
    freed, alive = alive.split(comp.is_(bv.ctx[peer], "FREED", alive))
    if freed is not None:
        msg = f"the call uses {peer_drv.name}'s binding context, which it has freed"
        out.append(_fault(freed, uaf(comp), msg, call.pos))
    return alive, out


def _npi_begin(
    rc: RoutineContext, b: BindingInst, side: str, call: A.Call, path: Path
) -> list[tuple[Path, object]]:
    """The call starts: one more in flight, by the state of the calling side's detach.

    A call that starts while the detach callback runs is the callback's to account for (it
    must then pend, DET-2); the doc's own sample has that window. From the callback's return
    on, a new call breaks CALL-1 unless the thread took its counted reference before that
    return; after the side is done, CALL-2."""
    comp = rc.c
    bv = comp.bvars[b.id]
    count = bv.inflight[side]
    peer_drv = b.side_reg(other(side)).driver
    out: list[tuple[Path, object]] = []
    for lab, p in comp.split_state(path, bv.side[side], V.SIDE_STATES).items():
        if lab in ("DONE", "COMPLETED_EARLY"):
            comp.rule("CALL-2")
            p.flag(
                "CALL-2",
                f"starts a call into {peer_drv.name} after its own side of "
                f"{b.name} finished detaching",
                call.pos,
            )
        elif lab == "PENDING":
            out += _npi_begin_pending(rc, peer_drv.name, count, call, p)
            continue
        out += _count(rc, count, p, call)
    return out


def _npi_begin_pending(
    rc: RoutineContext, peer: str, count: int, call: A.Call, p: Path
) -> list[tuple[Path, object]]:
    """The call starts after the side's detach callback returned STATUS_PENDING: CALL-1
    unless the thread holds a reference counted before that."""
    rc.c.rule("CALL-1")
    covered, bare = p.split(holds_reference(rc, p))
    if bare is not None:
        bare.flag(
            "CALL-1",
            f"starts a call into {peer} after its detach callback "
            "returned STATUS_PENDING, without a reference counted before that",
            call.pos,
        )
    return [x for q in (covered, bare) if q for x in _count(rc, count, q, call)]


def _npi_end(comp: Compiler, count: int, call: A.Call, path: Path) -> list[tuple[Path, object]]:
    """The call returns: one call fewer in flight on ``count`` (none in flight is a range
    error)."""
    out: list[tuple[Path, object]] = []
    some, none = path.split(E.lt(E.const(0), comp.rd(count, path)))
    if some is not None:
        some.set(count, E.sub(comp.rd(count, some), E.const(1)))
        out.append((some, "next"))
    if none is not None:
        comp.builtin_rule("range", "every assignment stays within the variable's declared range")
        out.append(_fault(none, "range", "npi_call_end() without a call in flight", call.pos))
    return out


def allocate_context(rc: RoutineContext, call: A.Call, path: Path) -> list[tuple[Path, object]]:
    """``allocate_binding_context()``: the attach callback allocates this side's context."""
    comp = rc.c
    if not in_own_attach(rc) or call.args:
        comp.fail(
            call.pos,
            "allocate_binding_context() takes no argument and belongs in ClientAttachProvider "
            "or ProviderAttachClient, where the module hands its binding context to NMR",
        )
        return []
    b, side = rc.scope.binding, rc.scope.side
    ctx = comp.bvars[b.id].ctx[side]
    path.notes.append("allocate_binding_context()")
    held, fresh = path.split(comp.is_(ctx, "VALID", path))
    out: list[tuple[Path, object]] = []
    if fresh is not None:
        fresh.set(ctx, comp.val(ctx, "VALID"))
        out.append((fresh, "next"))
    if held is not None:
        comp.rule("ATT-5")
        held.flag(
            "ATT-5",
            f"allocates a second binding context for {b.name}; the first one leaks",
            call.pos,
        )
        out.append((held, "next"))
    return out


def _count(rc: RoutineContext, count: int, p: Path, call: A.Call) -> list[tuple[Path, object]]:
    """One more call in flight on ``count``, up to option max_inflight (else ``range``)."""
    comp = rc.c
    limit = comp.ts.vars[count].hi
    out: list[tuple[Path, object]] = []
    room, full = p.split(E.lt(comp.rd(count, p), E.const(limit)))
    if room is not None:
        room.set(count, E.add(comp.rd(count, room), E.const(1)))
        out.append((room, "next"))
    if full is not None:
        comp.builtin_rule("range", "every assignment stays within the variable's declared range")
        where = rc.scope.binding.name
        msg = f"more than {limit} calls in flight on {where} (raise option max_inflight)"
        out.append((full.fail("range", msg, call.pos), "fault"))
    return out


# -- counted references (CALL-1) -----------------------------------------------------------
# A call is judged against the protection its thread holds: the counted reference it took
# (InProgressCallCount++, a rundown reference: an integer binding variable of its side going
# up) before its side's detach callback returned, and has not given back (the variable going
# down). A thread that counts and calls in separate steps keeps that fact in a variable of
# its own; one that counts and calls in one step needs none.


def _increments(stmt: A.Node) -> bool:
    if isinstance(stmt, A.CallStmt):
        return stmt.call.func == "reference"
    if isinstance(stmt, A.Assign) and isinstance(stmt.value, A.Call):
        return stmt.value.func == "ExAcquireRundownProtection"
    return isinstance(stmt, A.Assign) and isinstance(stmt.value, A.Binary) and (
        stmt.value.op == "+"
    )


def takes_references_apart(body: tuple[A.Node, ...]) -> bool:
    """Whether ``body`` increments something and calls npi_call_begin() in a later step
    (a call outside an atomic block, or in one that increments nothing before it)."""
    if not any(_increments(s) for s in A.statements(body)):
        return False
    stack = list(body)
    while stack:
        s = stack.pop()
        if isinstance(s, A.Atomic):
            seen_inc = False
            for inner in A.statements(s.body):
                seen_inc = seen_inc or _increments(inner)
                if _is_begin(inner) and not seen_inc:
                    return True
            continue
        if _is_begin(s):
            return True
        for attr in ("then", "orelse", "body"):
            stack.extend(getattr(s, attr, None) or ())
    return False


def _is_begin(stmt: A.Node) -> bool:
    return isinstance(stmt, A.CallStmt) and stmt.call.func in ("npi_call_begin", "npi_call")


def reference_var(comp: Compiler, slot) -> int:
    """The variable that says whether ``slot``'s thread holds a counted reference."""
    idx = comp.ref_var.get(slot.id)
    if idx is None:
        idx = comp.bool_var(f"{slot.owner}.counted_ref")
        comp.ref_var[slot.id] = idx
    return idx


def holds_reference(rc: RoutineContext, path: Path) -> E.Expr:
    """Whether the thread holds a counted reference at this point of the step."""
    if path.ref is not None:
        return path.ref
    idx = rc.c.ref_var.get(rc.slot.id)
    return E.FALSE if idx is None else rc.c.rd(idx)


def count_reference(rc: RoutineContext, path: Path, idx: int, value: E.Expr) -> None:
    """An assignment ``idx = value``: an integer binding variable of the thread's side that
    goes up before the side's detach callback returned takes a reference; going down gives
    it back."""
    comp, b = rc.c, rc.scope.binding
    if b is None or comp.var_ty[idx].kind != "int":
        return
    bv = comp.bvars[b.id]
    if idx not in {v for (s, _n), v in bv.user.items() if s == rc.scope.side}:
        return
    old = comp.rd(idx, path)
    _take(rc, path, E.lt(old, value), E.lt(value, old))


def count_reference_delta(rc: RoutineContext, path: Path, up: bool) -> None:
    """A rundown reference of the thread's side taken (``up``) or given back."""
    _take(rc, path, E.const(up), E.const(not up))


def _take(rc: RoutineContext, path: Path, going_up: E.Expr, going_down: E.Expr) -> None:
    """The thread's counted reference after a step that raises or lowers a count of its
    side: taken when raised before the side's detach callback returned, given back when
    lowered."""
    bv = rc.c.bvars[rc.scope.binding.id]
    early = rc.c.is_in(bv.side[rc.scope.side], ("NOT_CALLED", "IN_CALLBACK"), path)
    held = holds_reference(rc, path)
    up = E.and_(going_up, early)
    path.ref = E.or_(up, E.and_(E.not_(going_down), held))


def free_context(rc: RoutineContext, call: A.Call, path: Path) -> list[tuple[Path, object]]:
    """``free_binding_context()``: the module frees its own binding context (CLN-1)."""
    comp = rc.c
    b, side = rc.scope.binding, rc.scope.side
    if b is None:
        comp.fail(
            call.pos,
            "free_binding_context() needs a binding: use it in a callback or a binding task",
        )
        return []
    if call.args:
        comp.fail(call.pos, "free_binding_context() takes no argument")
        return []
    bv = comp.bvars[b.id]
    ctx = bv.ctx[side]
    path.notes.append("free_binding_context()")
    out: list[tuple[Path, object]] = []
    if in_own_attach(rc) and not comp.explicit_alloc[(b.id, side)]:
        # an implicit side's attach frees the context it got with its first use
        path.set(ctx, E.ite(comp.is_(ctx, "NONE", path), comp.val(ctx, "VALID"), comp.rd(ctx)))
    for lab, p in comp.split_state(path, ctx, CTX_STATES).items():
        if lab == "VALID":
            p.set(ctx, comp.val(ctx, "FREED"))
            if rc.routine not in V.CLIENT_CALLBACKS[:1] + V.PROVIDER_CALLBACKS[:1]:
                early, ok = p.split(E.not_(_may_free(comp, b, side, p)))
                if early is not None:
                    comp.rule("CLN-1")
                    early.flag(
                        "CLN-1",
                        f"frees its binding context of {b.name} before NMR "
                        "called its cleanup callback (the peer may still use it)",
                        call.pos,
                    )
                    out.append((early, "next"))
                if ok is not None:
                    out.append((ok, "next"))
            else:
                out.append((p, "next"))
        elif lab == "FREED":
            out.append((p.fail(uaf(comp), "frees its binding context twice", call.pos), "fault"))
        elif in_own_attach(rc):
            msg = "frees a binding context it has not allocated"
            out.append((p.fail(uaf(comp), msg, call.pos), "fault"))
        else:
            comp.rule("CLN-3")
            out.append(
                (
                    p.fail(
                        "CLN-3",
                        f"frees the binding context of {b.name} after it was cleaned up",
                        call.pos,
                    ),
                    "fault",
                )
            )
    return out


def _may_free(comp: Compiler, b, side: str, path: Path) -> E.Expr:
    """When a side may free its binding context: once NMR called its cleanup callback; a
    side without one (a NULL pointer) frees it itself once its side of the detach is
    complete (its callback returned STATUS_SUCCESS, or it completed a pending detach)."""
    bv = comp.bvars[b.id]
    if comp.cleanup_cb.get((b.id, side), False):
        return comp.is_in(bv.clean[side], ("RUNNING", "DONE"), path)
    done = comp.is_in(bv.side[side], ("COMPLETED_EARLY", "DONE"), path)
    return E.or_(done, comp.is_(bv.phase, "GONE", path))


def free_registration(rc: RoutineContext, call: A.Call, path: Path) -> list[tuple[Path, object]]:
    """``free_registration_data(R)``: frees R's characteristics, ids and context (REG-1)."""
    comp = rc.c
    if len(call.args) != 1 or not isinstance(call.args[0], A.Name):
        comp.fail(call.pos, "free_registration_data takes one registration name")
        return []
    name = call.args[0].id
    reg = next((r for r in rc.scope.driver.regs if r.decl.name == name), None)
    if reg is None:
        comp.fail(call.args[0].pos, f"unknown registration {name!r}")
        return []
    st = comp.reg_state[reg.id]
    path.notes.append(f"free_registration_data({name})")
    path.set(comp.reg_data[reg.id], E.TRUE)
    live, ok = path.split(E.not_(comp.is_in(st, ("NONE", "CLOSED"), path)))
    out: list[tuple[Path, object]] = []
    if ok is not None:
        out.append((ok, "next"))
    if live is not None:
        comp.rule("REG-1")
        live.flag(
            "REG-1", f"frees the registration data of {reg.name} while it is not CLOSED", call.pos
        )
        out.append((live, "next"))
    return out
