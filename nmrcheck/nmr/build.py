"""Lay out the state of a design and emit the routines and NMR's own actions (§3, §4)."""

from __future__ import annotations

from nmrcheck.ir import Action
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.lang import ast as A
from nmrcheck.nmr import api, lifetimes, prims, threads
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.context import STATUS_TY, BindingVars, Compiler, Scope, SlotInfo
from nmrcheck.nmr.design import BindingInst, DriverInst
from nmrcheck.nmr.lifetimes import CTX_STATES, UAF, UAF_TEXT, allocates
from nmrcheck.nmr.paths import Path, Ty
from nmrcheck.nmr.routines import RoutineCompiler
from nmrcheck.nmr.specs import unload_condition

SIDES = ("client", "provider")
QUEUED = ("workitem", "ioworkitem", "dpc")  # kinds of task that code queues
DETACH = {"client": "ClientDetachProvider", "provider": "ProviderDetachClient"}
CLEANUP = {"client": "ClientCleanupBindingContext", "provider": "ProviderCleanupBindingContext"}
ATTACH = {"client": "ClientAttachProvider", "provider": "ProviderAttachClient"}


def _c(v: int) -> Expr:
    return E.const(v)


def _slot(
    comp: Compiler, owner: str, actor: str, binding: str | None = None, nestable: bool = False
) -> SlotInfo:
    pc = comp.new_var(f"{owner}.pc", _small_int(), 0)
    s = SlotInfo(len(comp.slots), owner, actor, pc, binding)
    if nestable:
        s.thread_var = _thread_var(comp, f"{owner}.thread")
    comp.slots.append(s)
    return s


def _small_int():
    """An int variable whose domain is set once the whole design is laid out."""
    return Ty("int", 0, 0)


def _thread_var(comp: Compiler, name: str) -> int:
    """A variable holding 0 or a thread id + 1 (its domain is patched at the end)."""
    idx = comp.new_var(name, _small_int(), 0)
    comp.thread_vars.append(idx)
    return idx


def _routine(d: DriverInst, name: str, reg: str | None) -> A.Routine | None:
    """The routine ``name`` of driver ``d`` for registration ``reg`` (specific first)."""
    generic = None
    for r in d.decl.routines:
        if r.name == name:
            if r.reg == reg and reg is not None:
                return r
            if r.reg is None:
                generic = r
    return generic


def build(comp: Compiler) -> None:
    design = comp.design
    _layout(comp)
    if comp.findings:
        return
    for d in design.drivers:
        _main_routines(comp, d)
        _driver_tasks(comp, d)
    for b in design.bindings:
        _binding_routines(comp, b)
    _environment(comp)


# -- state layout ---------------------------------------------------------------------------------
def _layout(comp: Compiler) -> None:
    """The state variables and threads of the whole design: drivers, bindings and tasks."""
    design = comp.design
    for d in design.drivers:
        _layout_driver(comp, d)
    for b in design.bindings:
        _layout_binding(comp, b)
    for d in design.drivers:
        _layout_tasks(comp, d)
    _layout_kernel(comp)


def _user_var(comp: Compiler, v: A.VarDecl, d: DriverInst, name: str) -> int:
    """Variable ``v`` of driver ``d`` as the state variable ``name``; one declared without a
    value gets a flag of whether it was assigned yet (REG-2, ATT-4)."""
    ty = comp.type_of(v.type, d)
    init = comp.const_value(v.init, ty) if v.init is not None else ty.lo
    idx = comp.new_var(name, ty, init)
    if v.init is None:  # uninitialised until assigned
        comp.init_flag[idx] = comp.bool_var(f"{name}.initialized")
    return idx


def _lock_var(comp: Compiler, lk: A.LockDecl, name: str) -> int:
    """Lock ``lk`` as the thread variable ``name`` (0, or its holder)."""
    idx = _thread_var(comp, name)
    comp.lock_passive[idx] = lk.passive
    return idx


def _layout_driver(comp: Compiler, d: DriverInst) -> None:
    """Driver ``d``'s state, main thread, global variables and locks, and registrations."""
    comp.drv_state[d.id] = comp.enum_var(f"{d.name}.state", V.DRIVER_STATES, "LOADING")
    comp.main[d.id] = _slot(comp, d.name, d.name)
    for v in d.decl.vars:
        if not v.per_binding:
            comp.dvars[(d.id, v.name)] = _user_var(comp, v, d, f"{d.name}.{v.name}")
    for lk in d.decl.locks:
        if not lk.per_binding:
            comp.locks[(d.id, lk.name)] = _lock_var(comp, lk, f"{d.name}.{lk.name}")
    comp.completion_locks[d.id] = threads.completion_locks(d.decl)
    comp.npi_locks[d.id] = threads.npi_path_locks(d.decl)
    for r in d.regs:
        comp.reg_state[r.id] = comp.enum_var(f"{r.name}.state", V.REG_STATES)
        comp.reg_unload[r.id] = comp.bool_var(f"{r.name}.dereg_in_unload")
        comp.reg_data[r.id] = comp.bool_var(f"{r.name}.data_freed")
        comp.reg_caller[r.id] = _thread_var(comp, f"{r.name}.caller")
        if r.decl.name in api.handles_used_by_binding_code(d.decl):
            # REG-6: NMR may call back before NmrRegister* has stored the handle
            comp.reg_stored[r.id] = comp.bool_var(f"{r.name}.handle_stored")


def _ctx_name(side: str) -> str:
    """The name of the binding context of ``side`` in state variable names."""
    return "cbc" if side == "client" else "pbc"


def _binding_vars(comp: Compiler, n: str) -> BindingVars:
    """NMR's state of binding ``n``: its phase, each side's progress and context, the calls
    in flight each way."""
    return BindingVars(
        phase=comp.enum_var(f"{n}.phase", V.PHASES),
        side={s: comp.enum_var(f"{n}.{s[0]}s", V.SIDE_STATES) for s in SIDES},
        pend={s: comp.bool_var(f"{n}.{s[0]}_pending_returned") for s in SIDES},
        clean={s: comp.enum_var(f"{n}.{s[0]}_cleanup", V.CLEANUP_STATES) for s in SIDES},
        attach_ret=comp.new_var(f"{n}.attach_status", STATUS_TY, 0),
        slot={},
        ctx={s: comp.enum_var(f"{n}.{_ctx_name(s)}", CTX_STATES) for s in SIDES},
        inflight={
            s: comp.new_var(
                f"{n}.{'c2p' if s == 'client' else 'p2c'}",
                Ty("int", 0, int(comp.options["max_inflight"])),
                0,
            )
            for s in SIDES
        },
    )


def _layout_binding(comp: Compiler, b: BindingInst) -> None:
    """Binding ``b``'s state, what its callbacks do, and each side's thread, per-binding
    variables and locks."""
    n = b.name
    bv = comp.bvars[b.id] = _binding_vars(comp, n)
    for s in SIDES:
        reg = b.side_reg(s)
        attach = _routine(reg.driver, ATTACH[s], reg.decl.name)
        comp.explicit_alloc[(b.id, s)] = attach is not None and allocates(attach.body)
        # a NULL cleanup pointer means NMR calls nothing
        comp.cleanup_cb[(b.id, s)] = _routine(reg.driver, CLEANUP[s], reg.decl.name) is not None
    comp.nestable[b.id] = any(
        threads.callbacks_can_block(b.side_reg(s).driver.decl) for s in SIDES
    )
    for s in SIDES:
        drv = b.side_reg(s).driver
        bv.slot[s] = _slot(comp, f"{n}/{s}", drv.name, n, nestable=True)
        for v in drv.decl.vars:
            if v.per_binding:
                vname = f"{n}.{_ctx_name(s)}.{v.name}"
                bv.user[(s, v.name)] = _user_var(comp, v, drv, vname)
        for lk in drv.decl.locks:
            if lk.per_binding:
                idx = _lock_var(comp, lk, f"{n}.{_ctx_name(s)}.{lk.name}")
                comp.block[(b.id, s, lk.name)] = idx


def _layout_tasks(comp: Compiler, d: DriverInst) -> None:
    """A thread for each task of driver ``d``: one per binding side of a per-binding task."""
    for t in d.decl.tasks:
        if not t.per_binding:
            _task(comp, (d.id, t.name), f"{d.name}.{t.name}", t, d, None, None)
            continue
        for r in d.regs:
            if t.reg is not None and r.decl.name != t.reg:
                continue
            for b in r.bindings:
                side = r.role
                key = (d.id, t.name, b.id, side)
                _task(comp, key, f"{b.name}/{side}.{t.name}", t, d, b, side)


def _task(
    comp: Compiler,
    key: tuple,
    owner: str,
    t: A.TaskDecl,
    d: DriverInst,
    b: BindingInst | None,
    side: str | None,
) -> None:
    """The thread of task ``t`` under ``key``, and whether it is queued (a kind that code
    queues)."""
    comp.tasks[key] = _slot(comp, owner, d.name, b.name if b is not None else None)
    _task_slot(comp, comp.tasks[key], t, d, b, side)
    if t.kind in QUEUED:
        comp.queued[key] = comp.bool_var(f"{owner}.queued")


def _task_slot(
    comp: Compiler, slot: SlotInfo, t: A.TaskDecl, d: DriverInst, b: BindingInst | None, side
) -> None:
    """Record what runs on a task's thread, and whether it runs at DISPATCH_LEVEL."""
    comp.slot_src[slot.id] = (d, b, side, [t.body])
    if t.kind == "dpc" or t.irql == "DISPATCH_LEVEL":
        comp.dispatch_slots.add(slot.id)


def _layout_kernel(comp: Compiler) -> None:
    """The primitives of every driver and binding side, and what each thread's code needs:
    an IRQL variable where it raises, an epoch state where it enters epochs, a "held shared"
    flag per lock it takes shared."""
    design = comp.design
    for d in design.drivers:
        comp.slot_src[comp.main[d.id].id] = (d, None, None, _main_bodies(d))
        for decl in d.decl.prims:
            if not decl.per_binding:
                comp.prims[(d.id, decl.name)] = prims.declare(comp, decl, f"{d.name}.{decl.name}")
    for b in design.bindings:
        for s in SIDES:
            reg = b.side_reg(s)
            comp.slot_src[comp.bvars[b.id].slot[s].id] = (reg.driver, b, s, _callbacks(reg))
            for decl in reg.driver.decl.prims:
                if decl.per_binding:
                    name = f"{b.name}.{_ctx_name(s)}.{decl.name}"
                    prim = prims.declare(comp, decl, name)
                    prim.binding, prim.side = b.id, s
                    comp.bprims[(b.id, s, decl.name)] = prim
    _link_kernel(comp)
    for slot in comp.slots:
        if slot.id in comp.slot_src:
            _scan_slot(comp, slot)
    for idx in sorted({idx for idx, _ in comp.shared}):
        holders = sum(1 for i, _ in comp.shared if i == idx)
        name = f"{comp.ts.vars[idx].name}.readers"
        comp.readers[idx] = comp.new_var(name, Ty("int", 0, holders), 0)


def _main_bodies(d: DriverInst) -> list[tuple[A.Node, ...]]:
    return [r.body for r in d.decl.routines if r.name in ("DriverEntry", "Unload")]


def _callbacks(reg) -> list[tuple[A.Node, ...]]:
    """The bodies of the binding callbacks ``reg``'s bindings run."""
    d = reg.driver
    names = ("Client" if reg.role == "client" else "Provider",)
    out = []
    for name in V.ROUTINES:
        if name.startswith(names[0]):
            r = _routine(d, name, reg.decl.name)
            if r is not None:
                out.append(r.body)
    return out


def _link_kernel(comp: Compiler) -> None:
    """Objects the primitives and locks live in, and the threshold actions of the counts."""
    for (did, _n), prim in comp.prims.items():
        d = comp.design.drivers[did]
        _link(comp, prim, d, comp.prims.get((did, prim.decl.in_obj)))
    for (bid, s, _n), prim in comp.bprims.items():
        d = comp.design.bindings[bid].side_reg(s).driver
        _link(comp, prim, d, comp.bprims.get((bid, s, prim.decl.in_obj)))
    for d in comp.design.drivers:
        for v in d.decl.vars:
            if v.in_obj is not None and not v.per_binding:
                comp.var_obj[comp.dvars[(d.id, v.name)]] = comp.prims[(d.id, v.in_obj)]
    for b in comp.design.bindings:
        for (s, name), idx in comp.bvars[b.id].user.items():
            d = b.side_reg(s).driver
            v = next(x for x in d.decl.vars if x.name == name and x.per_binding)
            if v.in_obj is not None:
                obj = comp.bprims.get((b.id, s, v.in_obj)) or comp.prims[(d.id, v.in_obj)]
                comp.var_obj[idx] = obj
    for d in comp.design.drivers:
        for lk in d.decl.locks:
            if lk.in_obj is None:
                continue
            if not lk.per_binding:
                comp.lock_obj[comp.locks[(d.id, lk.name)]] = comp.prims[(d.id, lk.in_obj)]
                continue
            for (bid, s, name), idx in comp.block.items():
                if name == lk.name and comp.design.bindings[bid].side_reg(s).driver is d:
                    comp.lock_obj[idx] = comp.bprims[(bid, s, lk.in_obj)]


def _link(comp: Compiler, prim, d: DriverInst, obj) -> None:
    prim.obj = obj if prim.decl.in_obj is not None else None
    prim.handlers = tuple(h for h in d.decl.handlers if h.name == prim.decl.name)
    for h in prim.handlers:
        if any(isinstance(x, A.Return) for x in A.statements(h.body)):
            comp.fail(h.pos, "'return' in an 'on' action would return from the routine "
                      "that releases the count: leave it out")


def _scan_slot(comp: Compiler, slot: SlotInfo) -> None:
    """Create the per-thread state the code running on ``slot`` needs."""
    d, b, side, bodies = comp.slot_src[slot.id]
    code = [(body, d, side) for body in bodies]
    code += [(h.body, d, side) for h in d.decl.handlers]
    if b is not None:
        peer = lifetimes.other(side)
        code += [(f.body, d, side) for f in d.decl.dispatch]
        pd = b.side_reg(peer).driver
        code += [(f.body, pd, peer) for f in pd.decl.dispatch]
    for body, drv, s in code:
        for c in A.calls(body):
            if c.func in ("KeRaiseIrql", "KeLowerIrql") and slot.id not in comp.raised:
                levels = ("PASSIVE_LEVEL", "DISPATCH_LEVEL")
                comp.raised[slot.id] = comp.enum_var(f"{slot.owner}.irql", levels)
            elif c.func.startswith("ebpf_epoch_e") and slot.id not in comp.epoch_vars:
                comp.epoch_vars[slot.id] = comp.enum_var(f"{slot.owner}.epoch", V.EPOCH_STATES)
            elif c.func.endswith("_shared") and c.args and isinstance(c.args[0], A.Name):
                _shared_bit(comp, slot, drv, b, s, c.args[0].id)


def _shared_bit(comp: Compiler, slot: SlotInfo, d: DriverInst, b, side, name: str) -> None:
    idx = comp.block.get((b.id, side, name)) if b is not None else None
    if idx is None:
        idx = comp.locks.get((d.id, name))
    if idx is None or (idx, slot.id) in comp.shared:
        return
    decl = next(lk for lk in d.decl.locks if lk.name == name)
    if decl.shareable:
        lock = comp.ts.vars[idx].name
        comp.shared[(idx, slot.id)] = comp.bool_var(f"{lock}.shared.{slot.owner}")


# -- routines -------------------------------------------------------------------------------------
def _reset_locals(rc: RoutineCompiler, hook):
    def wrapped(path: Path, status: Expr, pos: A.Pos) -> list[Path]:
        out = hook(path, status, pos)
        for p in out:
            if p.fault is None:
                for idx, _ty, init in rc.all_locals():
                    p.set(idx, _c(init))
        return out

    return wrapped


def _compile_routine(
    comp: Compiler, slot: SlotInfo, name: str, body, scope: Scope, hook, default: int, pos: A.Pos
) -> int:
    rc = RoutineCompiler(comp, slot, name, body, scope, lambda p, s, q: [], _c(default), pos)
    rc.exit_hook = _reset_locals(rc, hook)
    return rc.compile()


def _by_status(path: Path, status: Expr) -> list[tuple[Path, int]]:
    """Fork ``path`` on the concrete value of ``status``."""
    if status.op == "const":
        return [(path, status.val)]
    out = []
    for k in range(len(V.STATUSES)):
        p, _ = path.split(E.eq(status, _c(k)))
        if p is not None:
            out.append((p, k))
    return out


def _implicit_driver_entry(comp: Compiler, d: DriverInst) -> tuple[A.Node, ...]:
    """Register every non-deferred registration in order. When registration may fail
    (option register_may_fail), a failure undoes the earlier ones and fails DriverEntry."""
    regs = [r for r in d.regs if not r.decl.deferred]

    def call(fn: str, r) -> A.Call:
        return A.Call(r.decl.pos, fn, (A.Name(r.decl.pos, r.decl.name),))

    if comp.options["register_may_fail"] != "true":
        return tuple(A.CallStmt(r.decl.pos, call(V.REGISTER[r.role], r)) for r in regs)
    body: list[A.Node] = []
    for k, r in enumerate(regs):
        p = r.decl.pos
        var = f"__status{k}"
        body.append(A.LocalDecl(p, var, A.TypeRef(p, "status"), call(V.REGISTER[r.role], r)))
        undo: list[A.Node] = []
        for prev in reversed(regs[:k]):
            undo.append(A.Assign(prev.decl.pos, var, call(V.DEREGISTER[prev.role], prev)))
            undo.append(A.CallStmt(prev.decl.pos, call(V.WAIT[prev.role], prev)))
        undo.append(A.Return(p, A.Name(p, var)))
        ok = A.Binary(p, "==", A.Name(p, var), A.Name(p, "STATUS_SUCCESS"))
        body.append(A.If(p, A.Unary(p, "!", ok), tuple(undo), None))
    return tuple(body)


def _main_routines(comp: Compiler, d: DriverInst) -> None:
    slot = comp.main[d.id]
    st = comp.drv_state[d.id]
    entry = _routine(d, "DriverEntry", None)
    if entry is None:
        pos = d.decl.pos
        body = _implicit_driver_entry(comp, d)
    else:
        pos, body = entry.pos, entry.body

    def entry_exit(path: Path, status: Expr, at: A.Pos) -> list[Path]:
        # a failing DriverEntry means the image is unloaded at once, without Unload
        out = []
        for p, k in _by_status(path, status):
            if k == V.SUCCESS:
                p.set(st, comp.val(st, "LOADED"))
                out.append(p)
            else:
                p.notes.append(f"DriverEntry fails with {V.STATUSES[k]}: the driver is unloaded")
                out += _leave_image(comp, d, p, at, "DriverEntry fails")
        return out

    pc = _compile_routine(comp, slot, "DriverEntry", body, Scope(d), entry_exit, V.SUCCESS, pos)
    comp.ts.vars[slot.pc] = comp.ts.vars[slot.pc].__class__(
        **{**comp.ts.vars[slot.pc].__dict__, "init": pc, "hi": max(pc, 1)}
    )
    unload = _routine(d, "Unload", None)
    if unload is None:
        return

    def unload_exit(path: Path, status: Expr, at: A.Pos) -> list[Path]:
        return _leave_image(comp, d, path, at, "Unload returns")

    comp.entries[(d.id, "Unload")] = _compile_routine(
        comp, slot, "Unload", unload.body, Scope(d), unload_exit, V.SUCCESS, unload.pos
    )


def _leave_image(comp: Compiler, d: DriverInst, path: Path, at: A.Pos, how: str) -> list[Path]:
    """The driver's image goes away: every registration must be CLOSED (§3.3, DRG-1/2/5).

    Leaving early is not a crash by itself: it is recorded, and the harm (NMR calling into
    the unloaded image) shows up in the states that follow.
    """
    st = comp.drv_state[d.id]
    paths = [path]
    for r in d.regs:
        rs = comp.reg_state[r.id]
        nxt = []
        for p in paths:
            for lab, q in comp.split_state(p, rs, V.REG_STATES).items():
                if lab in ("NONE", "CLOSED"):
                    nxt.append(q)
                elif lab == "ACTIVE":
                    comp.rule("DRG-1")
                    nxt.append(q.flag("DRG-1", f"{how} but {r.name} was never deregistered", at))
                else:
                    comp.rule("DRG-2")
                    comp.rule("DRG-5")
                    mine, other = q.split(E.eq(comp.rd(comp.reg_unload[r.id], q), _c(1)))
                    if mine is not None:
                        nxt.append(
                            mine.flag("DRG-2", f"{how} without waiting for {r.name} ({lab})", at)
                        )
                    if other is not None:
                        nxt.append(
                            other.flag(
                                "DRG-5",
                                f"{how} while {r.name} is {lab} "
                                "(deregistered elsewhere, not waited for)",
                                at,
                            )
                        )
        paths = nxt
    paths = [q for p in paths for q in unfreed_contexts(comp, d, p, at, how)]
    paths = [q for p in paths for q in _work_left(comp, d, p, at, how)]
    for p in paths:
        p.set(st, comp.val(st, "UNLOADED"))
    return paths


WORK_TEXT = (
    "a driver's image is not unloaded while one of its work items or DPCs is queued or "
    "running (nothing of the driver may run after its Unload returns, §3.3)"
)


def _work_left(comp: Compiler, d: DriverInst, path: Path, at: A.Pos, how: str) -> list[Path]:
    """``work_after_unload`` (recorded) when the image goes away while one of the driver's
    work items (ExQueueWorkItem) or DPCs is queued, or running on another thread. An
    ``ioworkitem`` (IoQueueWorkItem) keeps the driver referenced until its routine returns:
    the image goes away only then (the step waits)."""
    parts, kept = [], []
    for key, q in sorted(comp.queued.items(), key=lambda kv: kv[1]):
        if key[0] != d.id:
            continue
        slot = comp.tasks[key]
        busy = E.or_(
            E.eq(comp.rd(q, path), _c(1)), E.not_(E.eq(comp.rd(slot.pc, path), _c(slot.idle)))
        )
        io = next(t for t in d.decl.tasks if t.name == key[1]).kind == "ioworkitem"
        (kept if io else parts).append(busy)
    path.guard = E.and_(path.guard, E.not_(E.or_(*kept)))
    pending = E.or_(*parts)
    if pending is E.FALSE:
        return [path]
    bad, ok = path.split(pending)
    if bad is not None:
        comp.builtin_rule("work_after_unload", WORK_TEXT)
        msg = f"{how} while a work item or DPC of {d.name} can still run"
        bad.flag("work_after_unload", msg, at)
    return [q for q in (ok, bad) if q is not None]


def _driver_tasks(comp: Compiler, d: DriverInst) -> None:
    for t in d.decl.tasks:
        if t.per_binding:
            continue
        slot = comp.tasks[(d.id, t.name)]
        comp.entries[(d.id, t.name)] = _compile_routine(
            comp, slot, t.name, t.body, Scope(d), lambda p, s, q: [p], V.SUCCESS, t.pos
        )


def _binding_routines(comp: Compiler, b: BindingInst) -> None:
    bv = comp.bvars[b.id]
    for side in SIDES:  # a NULL cleanup pointer means NMR calls nothing
        reg = b.side_reg(side)
        comp.cleanup_cb[(b.id, side)] = (
            _routine(reg.driver, CLEANUP[side], reg.decl.name) is not None
        )
    # provider side first: the client's NmrClientAttachProvider needs its entry point
    for side in ("provider", "client"):
        reg = b.side_reg(side)
        d = reg.driver
        slot = bv.slot[side]
        # attach
        r = _routine(d, ATTACH[side], reg.decl.name)
        if r is None:
            pos = reg.decl.pos
            if side == "client":
                body = (A.Return(pos, A.Call(pos, V.ATTACH_CALL, ())),)
            else:
                body = (A.Return(pos, A.Name(pos, "STATUS_SUCCESS")),)
        else:
            pos, body = r.pos, r.body
        hook = _client_attach_exit(comp, b) if side == "client" else _provider_attach_exit(comp, b)
        default = V.SUCCESS
        comp.entries[(b.id, ATTACH[side])] = _compile_routine(
            comp, slot, ATTACH[side], body, Scope(d, b, side), hook, default, pos
        )
        # detach
        r = _routine(d, DETACH[side], reg.decl.name)
        if r is None:
            pos, body = (
                reg.decl.pos,
                (A.Return(reg.decl.pos, A.Name(reg.decl.pos, "STATUS_SUCCESS")),),
            )
        else:
            pos, body = r.pos, r.body
        comp.entries[(b.id, DETACH[side])] = _compile_routine(
            comp,
            slot,
            DETACH[side],
            body,
            Scope(d, b, side),
            _detach_exit(comp, b, side),
            V.SUCCESS,
            pos,
        )
        # cleanup (optional: a NULL pointer means NMR calls nothing)
        r = _routine(d, CLEANUP[side], reg.decl.name)
        if r is not None:
            comp.entries[(b.id, CLEANUP[side])] = _compile_routine(
                comp,
                slot,
                CLEANUP[side],
                r.body,
                Scope(d, b, side),
                _cleanup_exit(comp, b, side),
                V.SUCCESS,
                r.pos,
            )
        # binding tasks
        for t in d.decl.tasks:
            key = (d.id, t.name, b.id, side)
            if key in comp.tasks:
                comp.entries[key] = _compile_routine(
                    comp,
                    comp.tasks[key],
                    t.name,
                    t.body,
                    Scope(d, b, side),
                    lambda p, s, q: [p],
                    V.SUCCESS,
                    t.pos,
                )


def reset_binding(comp: Compiler, b: BindingInst, path: Path, keep: bool = False) -> None:
    """Forget everything about binding ``b`` except its phase (its contexts are freed).

    The in-flight counters stay: a call still running when the binding goes away is reported
    when it returns through the freed context. With ``keep``, a side without a cleanup
    callback keeps a binding context it allocated and has not freed yet: the module frees it
    itself (nmr-semantics.md §2.2, "Optional").
    """
    bv = comp.bvars[b.id]
    for s in SIDES:
        path.set(bv.side[s], _c(0))
        path.set(bv.pend[s], _c(0))
        path.set(bv.clean[s], _c(0))
    path.set(bv.attach_ret, _c(0))
    for s in SIDES:
        held = E.FALSE
        if keep and _frees_later(comp, b, s):
            held = comp.is_(bv.ctx[s], "VALID", path)
        for idx, init in _side_state(comp, b, s):
            path.set(idx, E.ite(held, comp.rd(idx, path), _c(init)))


def in_driver_object(comp: Compiler, idx: int) -> bool:
    """Whether binding variable ``idx`` is a slot of a driver object (an array indexed by
    binding), not a field of the binding context."""
    obj = comp.var_obj.get(idx)
    return obj is not None and obj.binding is None


def _side_state(comp: Compiler, b: BindingInst, side: str) -> list[tuple[int, int]]:
    """(variable, initial value) of what lives in one side's binding context: the context
    itself, its binding variables (and their "assigned" flags), locks and primitives."""
    bv = comp.bvars[b.id]
    out = [(bv.ctx[side], 0)]
    for (s, _n), idx in sorted(bv.user.items()):
        if s == side and not in_driver_object(comp, idx):
            out.append((idx, comp.ts.vars[idx].init))
            if idx in comp.init_flag:
                out.append((comp.init_flag[idx], 0))
    for (bid, s, _n), prim in sorted(comp.bprims.items()):
        if bid == b.id and s == side:
            out += sorted(prim.inits.items())
    return out


def frees_contexts(d: A.DriverDecl) -> bool:
    """Whether the driver frees binding contexts anywhere (they are dynamically allocated)."""
    bodies = [r.body for r in d.routines] + [t.body for t in d.tasks]
    return any(c.func == "free_binding_context" for body in bodies for c in A.calls(body))


def _allocated(comp: Compiler, b: BindingInst, side: str) -> bool:
    """Whether the side's binding contexts are dynamically allocated: explicitly, or by a
    driver that frees binding contexts somewhere."""
    return comp.explicit_alloc[(b.id, side)] or frees_contexts(b.side_reg(side).driver.decl)


def _leak_check(
    comp: Compiler, b: BindingInst, side: str, path: Path, pos: A.Pos
) -> list[Path]:
    """ATT-5: a failed attach frees the binding context it allocated itself (no cleanup
    callback will come). Only the paths on which the context is still held are flagged."""
    if not _allocated(comp, b, side):
        return [path]
    bv = comp.bvars[b.id]
    comp.rule("ATT-5")
    leaked, freed = path.split(comp.is_(bv.ctx[side], "VALID", path))
    if leaked is not None:
        leaked.flag(
            "ATT-5",
            f"{b.side_reg(side).driver.name}'s attach fails but its binding context of "
            f"{b.name} is not freed, and no cleanup callback will come",
            pos,
        )
    return [p for p in (freed, leaked) if p is not None]


def _frees_later(comp: Compiler, b: BindingInst, side: str) -> bool:
    """Whether a side without a cleanup callback can free its binding context itself once
    the binding is gone: it allocates it, and frees it in code that may run after its detach
    callback (a binding task or work item, a threshold action, an NPI function body)."""
    if comp.cleanup_cb[(b.id, side)] or not _allocated(comp, b, side):
        return False
    d = b.side_reg(side).driver.decl
    bodies = [t.body for t in d.tasks if t.per_binding] + [h.body for h in d.handlers]
    bodies += [f.body for f in d.dispatch]
    return any(c.func == "free_binding_context" for body in bodies for c in A.calls(body))


def _gone(comp: Compiler, b: BindingInst, path: Path) -> list[Path]:
    """Binding ``b`` becomes GONE: CLN-2 where a side without a cleanup callback still holds
    a dynamically allocated binding context that nothing can free any more. A side that
    frees it itself later (_frees_later) keeps it until it does (CLN-2 is reported if it
    never does, when its image goes away)."""
    bv = comp.bvars[b.id]
    path.set(bv.phase, comp.val(bv.phase, "GONE"))
    paths = [path]
    for s in SIDES:
        reg = b.side_reg(s)
        if comp.cleanup_cb[(b.id, s)] or not _allocated(comp, b, s) or _frees_later(comp, b, s):
            continue
        nxt = []
        for p in paths:
            leaked, ok = p.split(comp.is_(bv.ctx[s], "VALID", p))
            if leaked is not None:
                comp.rule("CLN-2")
                leaked.flag(
                    "CLN-2",
                    f"{reg.driver.name} allocates binding contexts but registers no "
                    f"{CLEANUP[s]}, so it has no safe moment to free the one of {b.name}",
                    reg.decl.pos,
                )
            nxt += [q for q in (ok, leaked) if q is not None]
        paths = nxt
    for p in paths:
        reset_binding(comp, b, p, keep=True)
    return paths


def unfreed_contexts(comp: Compiler, d: DriverInst, path: Path, at: A.Pos, how: str) -> list[Path]:
    """CLN-2 when driver ``d``'s image goes away still holding a binding context that it
    allocated, for a side without a cleanup callback: it never had, or never took, a safe
    moment to free it."""
    paths = [path]
    for r in d.regs:
        for b in r.bindings:
            s = r.role
            if not _frees_later(comp, b, s):
                continue
            bv = comp.bvars[b.id]
            nxt = []
            for p in paths:
                held, ok = p.split(
                    E.and_(
                        comp.is_(bv.ctx[s], "VALID", p),
                        comp.is_in(bv.phase, V.TERMINAL_PHASES, p),
                    )
                )
                if held is not None:
                    comp.rule("CLN-2")
                    held.flag(
                        "CLN-2",
                        f"{how} but the binding context of {b.name} is never freed: "
                        f"{d.name} registers no {CLEANUP[s]} and did not free it itself",
                        r.decl.pos,
                    )
                nxt += [q for q in (ok, held) if q is not None]
            paths = nxt
    return paths


def _client_attach_exit(comp: Compiler, b: BindingInst):
    bv = comp.bvars[b.id]

    def hook(path: Path, status: Expr, pos: A.Pos) -> list[Path]:
        comp.rule("ATT-1")
        comp.rule("ATT-2")
        out = []
        for p, k in _by_status(path, status):
            p.status = V.STATUSES[k]
            for lab, q in comp.split_state(p, bv.phase, ("HALF_ATTACHED", "OFFERED")).items():
                if lab == "HALF_ATTACHED":
                    if k == V.SUCCESS:
                        q.set(bv.phase, comp.val(bv.phase, "LIVE"))
                        out.append(q)
                    else:
                        out.append(
                            q.fail(
                                "ATT-2",
                                f"ClientAttachProvider returns {V.STATUSES[k]}"
                                " after NmrClientAttachProvider succeeded",
                                pos,
                            )
                        )
                elif k == V.SUCCESS:
                    out.append(
                        q.fail(
                            "ATT-1",
                            "ClientAttachProvider returns STATUS_SUCCESS "
                            "without a successful NmrClientAttachProvider",
                            pos,
                        )
                    )
                else:
                    q.set(bv.phase, comp.val(bv.phase, "REJECTED"))
                    for r in _leak_check(comp, b, "client", q, pos):
                        reset_binding(comp, b, r)
                        out.append(r)
        return out

    return hook


def _hand_over_context(comp: Compiler, b: BindingInst, path: Path, pos: A.Pos) -> list[Path]:
    """ProviderAttachClient returns STATUS_SUCCESS: its binding context goes to NMR. An
    implicit side gets it now if it has not used it yet; an explicit side must have allocated
    it (ATT-7)."""
    ctx = comp.bvars[b.id].ctx["provider"]
    if not comp.explicit_alloc[(b.id, "provider")]:
        path.set(ctx, E.ite(comp.is_(ctx, "NONE", path), comp.val(ctx, "VALID"), comp.rd(ctx)))
        return [path]
    comp.rule("ATT-7")
    ok, bad = path.split(comp.is_in(ctx, ("VALID", "FREED"), path))
    if bad is not None:
        bad.fail(
            "ATT-7",
            "ProviderAttachClient returns STATUS_SUCCESS without a binding context "
            "(allocate_binding_context() was not called)",
            pos,
        )
    return [p for p in (ok, bad) if p is not None]


def _provider_attach_exit(comp: Compiler, b: BindingInst):
    bv = comp.bvars[b.id]

    def hook(path: Path, status: Expr, pos: A.Pos) -> list[Path]:
        out = []
        for p, k in _by_status(path, status):
            p.status = V.STATUSES[k]
            p.set(bv.attach_ret, _c(k))
            p.set(bv.phase, comp.val(bv.phase, "HALF_ATTACHED" if k == V.SUCCESS else "OFFERED"))
            if k == V.SUCCESS:
                out += _hand_over_context(comp, b, p, pos)
                continue
            # the provider keeps nothing of a failed attach (ATT-5)
            for q in _leak_check(comp, b, "provider", p, pos):
                q.set(bv.ctx["provider"], _c(0))
                for (s, _n), idx in bv.user.items():
                    if s == "provider":
                        q.set(idx, _c(comp.ts.vars[idx].init))
                        if idx in comp.init_flag:
                            q.set(comp.init_flag[idx], E.FALSE)
                out.append(q)
        return out

    return hook


def _detach_exit(comp: Compiler, b: BindingInst, side: str):
    bv = comp.bvars[b.id]
    sv, pend = bv.side[side], bv.pend[side]

    def hook(path: Path, status: Expr, pos: A.Pos) -> list[Path]:
        comp.rule("DET-1")
        comp.rule("DET-4")
        out = []
        for p, k in _by_status(path, status):
            p.status = V.STATUSES[k]
            if k not in (V.SUCCESS, V.PENDING):
                out.append(p.fail("DET-1", f"{DETACH[side]} returns {V.STATUSES[k]}", pos))
                continue
            if k == V.SUCCESS:
                busy, _ = p.split(E.lt(_c(0), comp.rd(bv.inflight[side], p)))
                if busy is not None:
                    comp.rule("DET-2")
                    busy_idle = [busy, p.split(E.eq(comp.rd(bv.inflight[side], p), _c(0)))[0]]
                    busy.flag(
                        "DET-2",
                        f"{DETACH[side]} returns STATUS_SUCCESS while calls into "
                        "the peer are still in flight",
                        pos,
                    )
                    starts = [x for x in busy_idle if x is not None]
                else:
                    starts = [p]
            else:
                starts = [p]
            for start in starts:
                for lab, q in comp.split_state(
                    start, sv, ("IN_CALLBACK", "COMPLETED_EARLY")
                ).items():
                    if k == V.SUCCESS and lab == "IN_CALLBACK":
                        q.set(sv, comp.val(sv, "DONE"))
                    elif k == V.SUCCESS:
                        q.fail(
                            "DET-4",
                            f"{DETACH[side]} returns STATUS_SUCCESS but the detach was "
                            "already completed with " + V.COMPLETE[side],
                            pos,
                        )
                    else:
                        q.set(sv, comp.val(sv, "PENDING" if lab == "IN_CALLBACK" else "DONE"))
                        q.set(pend, E.TRUE)
                    out.append(q)
        return out

    return hook


def _cleanup_exit(comp: Compiler, b: BindingInst, side: str):
    bv = comp.bvars[b.id]
    other = "provider" if side == "client" else "client"

    def hook(path: Path, status: Expr, pos: A.Pos) -> list[Path]:
        path.set(bv.clean[side], comp.val(bv.clean[side], "DONE"))
        last, first = path.split(comp.is_(bv.clean[other], "DONE", path))
        out = []
        if first is not None:
            out.append(first)
        if last is not None:
            for q in _gone(comp, b, last):
                q.notes.append(f"binding {b.name} is GONE")
                out.append(q)
        return out

    return hook


# -- what NMR and the OS do ------------------------------------------------------------
def _environment(comp: Compiler) -> None:
    design = comp.design
    rd = comp.rd
    for d in design.drivers:
        st = comp.drv_state[d.id]
        slot = comp.main[d.id]
        if (d.id, "Unload") in comp.entries:
            comp.env_action(
                f"OS calls {d.name} Unload",
                E.and_(comp.is_(st, "LOADED"), _unload_when(comp, d)),
                {st: comp.val(st, "UNLOADING"), slot.pc: _c(comp.entries[(d.id, "Unload")])},
                {
                    "actor": "OS",
                    "text": f"calls {d.name} Unload",
                    "kind": "call",
                    "callee": d.name,
                    "routine": "Unload",
                },
            )
        for t in d.decl.tasks:
            keys = [k for k in comp.tasks if k[0] == d.id and k[1] == t.name]
            for key in keys:
                tslot = comp.tasks[key]
                guard = [E.eq(rd(tslot.pc), _c(0))]
                upd = {tslot.pc: _c(comp.entries[key])}
                scope = Scope(d)
                bname = None
                if len(key) == 4:
                    b = design.bindings[key[2]]
                    scope = Scope(d, b, key[3])
                    bname = b.name
                if t.kind in QUEUED:
                    q = comp.queued[key]
                    guard.append(E.eq(rd(q), _c(1)))
                    upd[q] = E.FALSE
                    who = f"work item {t.name}"
                else:
                    guard.append(comp.is_in(st, ("LOADED", "UNLOADING")))
                    if bname is not None:
                        guard.append(
                            comp.is_in(
                                comp.bvars[key[2]].phase,
                                ("HALF_ATTACHED", "LIVE", "DETACHING", "CLEANUP"),
                            )
                        )
                    who = f"task {t.name}"
                if t.when is not None:
                    rc = RoutineCompiler(
                        comp, tslot, t.name, (), scope, lambda p, s, q: [], _c(0), t.pos
                    )
                    guard.append(rc.cond(t.when, Path()))
                where = f" for {bname}" if bname else ""
                _start_merged(
                    comp, tslot, comp.entries[key], E.and_(*guard), upd, f"starts {who}{where}"
                )
    for b in design.bindings:
        _binding_env(comp, b)
    for r in design.regs:
        rs = comp.reg_state[r.id]
        terminal = [comp.is_in(comp.bvars[b.id].phase, V.TERMINAL_PHASES) for b in r.bindings]
        comp.env_action(
            f"NMR: deregistration of {r.name} complete",
            E.and_(comp.is_(rs, "DEREG_PENDING"), *terminal),
            {rs: comp.val(rs, "DRAINED")},
            {"text": f"deregistration of {r.name} is complete (DRAINED)", "kind": "nmr"},
        )


def _unload_when(comp: Compiler, d: DriverInst) -> Expr:
    """The condition under which the OS calls ``d``'s Unload: ``Unload when (EXPR)`` states
    who unloads the driver (an assumption about the environment, in the spec language)."""
    unload = _routine(d, "Unload", None)
    if unload is None or unload.when is None:
        return E.TRUE
    return unload_condition(comp, unload.when)


def _start_merged(
    comp: Compiler, slot: SlotInfo, entry: int, guard: Expr, updates: dict[int, Expr], note: str
) -> None:
    """The start of a task happens in the same step as its first statement.

    Each action leaving the task's entry point gets a twin leaving its idle point, guarded
    by the start condition; the originals stay for loops back to the entry point.
    """
    ts = comp.ts
    pc = comp.rd(slot.pc)
    at_entry = E.eq(pc, _c(entry))
    for a in list(ts.actions):
        if a.slot != slot.id:
            continue
        parts = E.conjuncts(a.guard)
        if not parts or parts[0] is not at_entry:
            continue
        g = E.and_(E.eq(pc, _c(slot.idle)), guard, *parts[1:])
        if g is E.FALSE:
            continue
        ups = dict(updates)
        ups.pop(slot.pc, None)
        ups.update(dict(a.updates))
        if slot.pc not in dict(a.updates):
            ups[slot.pc] = _c(entry)
        meta = {**a.meta, "text": f"{note}; {a.meta.get('text', '')}"}
        ts.actions.append(
            Action(
                f"{slot.owner}: {meta['text']}",
                g,
                tuple(sorted((i, e) for i, e in ups.items())),
                slot.id,
                meta,
            )
        )


def _checked(
    comp: Compiler,
    label: str,
    guard: Expr,
    path: Path,
    meta: dict,
    checks: list[tuple[Expr, str, str]],
) -> None:
    """An NMR action, preceded by checks: each (bad, code, message) halts the run where bad."""
    for bad, code, msg in checks:
        g = E.and_(guard, bad)
        if g is not E.FALSE:
            fmeta = {**meta, "fault": code, "fault_msg": msg}
            comp.env_action(label, g, {comp.fault: _c(comp.fault_labels.index(code))}, fmeta)
        guard = E.and_(guard, E.not_(bad))
    updates = dict(path.env)
    if path.flags:
        meta = {**meta, "flags": list(path.flags)}
        for code, _msg, _pos in path.flags:
            updates[comp.flag_var(code)] = E.TRUE
    comp.env_action(label, E.and_(guard, path.guard), updates, meta)


def _invoke(
    comp: Compiler,
    b: BindingInst,
    side: str,
    label: str,
    guard: Expr,
    path: Path,
    meta: dict,
    checks: list[tuple[Expr, str, str]],
) -> None:
    """NMR calls a callback of ``side``: on a thread of its own, or nested inside an
    NmrRegister*/NmrDeregister* call of either registration of ``b``, on the caller's thread."""
    slot = comp.bvars[b.id].slot[side]
    variants = [(E.TRUE, _c(0), "")]
    if not comp.nestable.get(b.id, False):
        # nesting adds behaviour only when a callback can wait for its caller
        variants = [(E.TRUE, _c(0), "")]
        p = path.fork()
        _checked(comp, label, guard, p, meta, checks)
        return
    for r in (b.client, b.provider):
        caller = comp.rd(comp.reg_caller[r.id])
        # a thread runs one nested callback at a time: it is blocked inside it
        free = [
            E.not_(
                E.and_(
                    E.eq(comp.rd(bs.thread_var), caller), E.not_(E.eq(comp.rd(bs.pc), _c(bs.idle)))
                )
            )
            for other in comp.bvars.values()
            for bs in other.slot.values()
        ]
        variants.append(
            (
                E.and_(E.not_(E.eq(caller, _c(0))), *free),
                caller,
                f" (inside the NmrRegister*/NmrDeregister* call for {r.name})",
            )
        )
    for cond, thr, suffix in variants:
        p = path.fork()
        p.set(slot.thread_var, thr)
        m = {**meta, "text": meta["text"] + suffix}
        _checked(comp, label + suffix, E.and_(guard, cond), p, m, checks)


def _context_checks(
    comp: Compiler, b: BindingInst, side: str, what: str
) -> list[tuple[Expr, str, str]]:
    """NMR passes the side's binding context and calls through its registration data."""
    bv = comp.bvars[b.id]
    reg = b.side_reg(side)
    comp.builtin_rule(UAF, UAF_TEXT)
    return [
        (
            comp.is_(bv.ctx[side], "FREED"),
            UAF,
            f"NMR calls {reg.driver.name} {what} with a binding context it has freed",
        ),
        (
            E.eq(comp.rd(comp.reg_data[reg.id]), _c(1)),
            UAF,
            f"NMR calls {reg.driver.name} {what} through the freed registration data of {reg.name}",
        ),
    ]


def _binding_env(comp: Compiler, b: BindingInst) -> None:
    """NMR's own actions on binding ``b``: it offers the binding, calls each side's detach
    callback, then calls the cleanup callbacks or, where there are none, drops the binding."""
    _offer(comp, b)
    for side in SIDES:
        _detach_call(comp, b, side)
    bv = comp.bvars[b.id]
    both_done = E.and_(
        comp.is_(bv.phase, "DETACHING"),
        comp.is_(bv.side["client"], "DONE"),
        comp.is_(bv.side["provider"], "DONE"),
    )
    has = {s: comp.cleanup_cb[(b.id, s)] for s in SIDES}
    if any(has.values()):
        _cleanup_calls(comp, b, both_done, has)
    else:
        _drop_binding(comp, b, both_done)


def _callback_meta(drv: str, routine: str, b: BindingInst) -> dict:
    """The trace metadata of NMR calling ``routine`` of driver ``drv`` for binding ``b``."""
    return {
        "text": f"calls {drv} {routine}(binding {b.name})",
        "kind": "callback",
        "callee": drv,
        "routine": routine,
        "binding": b.name,
    }


def _offer(comp: Compiler, b: BindingInst) -> None:
    """NMR offers ``b`` once both registrations are active: it calls ClientAttachProvider."""
    bv = comp.bvars[b.id]
    cs, ps = comp.reg_state[b.client.id], comp.reg_state[b.provider.id]
    phase = bv.phase
    offer = Path()
    offer.set(phase, comp.val(phase, "OFFERED"))
    offer.set(bv.slot["client"].pc, _c(comp.entries[(b.id, "ClientAttachProvider")]))
    checks = _context_checks(comp, b, "client", "ClientAttachProvider")[1:]
    checks.append(
        (
            E.eq(comp.rd(comp.reg_data[b.provider.id]), _c(1)),
            UAF,
            f"NMR reads the freed registration data of {b.provider.name}",
        )
    )
    _invoke(
        comp,
        b,
        "client",
        f"NMR offers {b.name}",
        E.and_(comp.is_(phase, "NONE"), comp.is_(cs, "ACTIVE"), comp.is_(ps, "ACTIVE")),
        offer,
        _callback_meta(b.client.driver.name, "ClientAttachProvider", b),
        checks,
    )


def _detach_guard(comp: Compiler, b: BindingInst, side: str) -> Expr:
    """When NMR calls the detach callback of ``side``: a registration of a live binding is
    being deregistered, or the binding is detaching and ``side`` was not called yet (the
    provider after the client, as the option ``detach_order`` has it)."""
    bv = comp.bvars[b.id]
    cs, ps = comp.reg_state[b.client.id], comp.reg_state[b.provider.id]
    deregistering = E.or_(comp.is_(cs, "DEREG_PENDING"), comp.is_(ps, "DEREG_PENDING"))
    order = comp.options["detach_order"]
    guard = E.or_(
        E.and_(comp.is_(bv.phase, "LIVE"), deregistering),
        E.and_(comp.is_(bv.phase, "DETACHING"), comp.is_(bv.side[side], "NOT_CALLED")),
    )
    if side == "provider" and order == "client_first":
        # usersim: the client's callback has returned before the provider's is called
        guard = E.and_(guard, comp.is_in(bv.side["client"], ("PENDING", "DONE")))
    elif side == "provider" and order == "client_done_first":
        guard = E.and_(guard, comp.is_(bv.side["client"], "DONE"))
    return guard


def _detach_call(comp: Compiler, b: BindingInst, side: str) -> None:
    """NMR calls the detach callback of ``side`` of ``b``."""
    bv = comp.bvars[b.id]
    sv = bv.side[side]
    drv = b.side_reg(side).driver.name
    guard = _detach_guard(comp, b, side)
    p = Path()
    p.set(bv.phase, comp.val(bv.phase, "DETACHING"))
    p.set(sv, comp.val(sv, "IN_CALLBACK"))
    p.set(bv.slot[side].pc, _c(comp.entries[(b.id, DETACH[side])]))
    _invoke(
        comp,
        b,
        side,
        f"NMR calls {DETACH[side]} for {b.name}",
        guard,
        p,
        _callback_meta(drv, DETACH[side], b),
        _context_checks(comp, b, side, DETACH[side]),
    )


def _cleanup_calls(comp: Compiler, b: BindingInst, both_done: Expr, has: dict[str, bool]) -> None:
    """Both sides of ``b`` detached: cleanup starts, and NMR calls each cleanup callback that
    ``has`` says is there (a side without one is done at once)."""
    bv = comp.bvars[b.id]
    phase = bv.phase
    p = Path()
    p.set(phase, comp.val(phase, "CLEANUP"))
    for s in SIDES:
        p.set(bv.clean[s], comp.val(bv.clean[s], "NOT_CALLED" if has[s] else "DONE"))
    _checked(
        comp,
        f"NMR: both sides of {b.name} detached",
        both_done,
        p,
        {"text": f"both sides of {b.name} detached; cleanup starts", "kind": "nmr"},
        [],
    )
    for s in SIDES:
        if not has[s]:
            continue
        p = Path()
        p.set(bv.clean[s], comp.val(bv.clean[s], "RUNNING"))
        p.set(bv.slot[s].pc, _c(comp.entries[(b.id, CLEANUP[s])]))
        _invoke(
            comp,
            b,
            s,
            f"NMR calls {CLEANUP[s]} for {b.name}",
            E.and_(comp.is_(phase, "CLEANUP"), comp.is_(bv.clean[s], "NOT_CALLED")),
            p,
            _callback_meta(b.side_reg(s).driver.name, CLEANUP[s], b),
            _context_checks(comp, b, s, CLEANUP[s]),
        )


def _drop_binding(comp: Compiler, b: BindingInst, both_done: Expr) -> None:
    """Both sides of ``b`` detached and neither has a cleanup callback: the binding is gone."""
    for p in _gone(comp, b, Path()):
        _checked(
            comp,
            f"NMR: {b.name} gone",
            both_done,
            p,
            {
                "text": f"both sides of {b.name} detached; no cleanup callbacks; "
                "binding GONE",
                "kind": "nmr",
            },
            [],
        )
