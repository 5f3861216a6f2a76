"""The kernel primitives NMR designs are built from (docs/language.md section 9): rundown
protection, reference counts with threshold actions, events and timed waits, memory objects,
failure points and eBPF epochs.

Each primitive is a few IR variables; each operation compiles to one step (two for a wait
that blocks: the call, which takes effect at once, and its return), with misuse reported as
a property of its own (``rundown``, ``refcount``, ``epoch``) or as ``use_after_free``.
"""

from __future__ import annotations

from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.lang import ast as A
from nmrcheck.nmr import irql
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.context import Compiler, Goto, Prim, RoutineContext, Waiting
from nmrcheck.nmr.design import suggest
from nmrcheck.nmr.lifetimes import count_reference_delta
from nmrcheck.nmr.paths import Path, Ty
from nmrcheck.nmr.unparse import unparse

Outcomes = list[tuple[Path, object]]
DEFAULT_MAX = 4
RULES = {
    "rundown": "rundown protection is used as documented: every release follows an acquire, "
    "one thread waits at a time, and it is re-initialised only once run down",
    "refcount": "a reference count never drops below zero",
    "epoch": "a thread leaves only an epoch it entered, and enters none it is in",
}
UAF = "use_after_free"
UAF_TEXT = (
    "nothing uses a binding context or registration data after it was freed, and NMR "
    "never calls a callback with a freed context (nmr-semantics.md §7)"
)


# -- layout -------------------------------------------------------------------------------------
def declare(comp: Compiler, decl: A.PrimDecl, name: str) -> Prim:
    """The variables of primitive ``decl`` named ``name`` (its initial values checked)."""
    most = decl.max if decl.max is not None else DEFAULT_MAX
    if not 1 <= most <= 64:
        comp.fail(decl.pos, "'max' takes 1..64")
        most = DEFAULT_MAX
    init = _init(comp, decl, most)
    vars_: dict[str, int] = {}
    if decl.kind == "rundown":
        vars_["state"] = comp.enum_var(name, V.RUNDOWN_STATES, V.RUNDOWN_STATES[init])
        vars_["refs"] = comp.new_var(f"{name}.refs", Ty("int", 0, most), 0)
    elif decl.kind == "refcount":
        vars_["count"] = comp.new_var(name, Ty("int", 0, max(most, init)), init)
    elif decl.kind in ("event", "syncevent"):
        vars_["set"] = comp.new_var(name, Ty("bool", 0, 1), init)
    else:
        vars_["state"] = comp.enum_var(name, V.OBJECT_STATES, V.OBJECT_STATES[init])
    inits = {idx: comp.ts.vars[idx].init for idx in vars_.values()}
    return Prim(decl, name, vars_, inits)


def _init(comp: Compiler, decl: A.PrimDecl, most: int) -> int:
    """The initial value of a primitive as an index or a number."""
    node = decl.init
    if decl.kind == "refcount":
        if node is None:
            return 1
        if isinstance(node, A.Num) and 1 <= node.value <= most:
            return node.value
        comp.fail(node.pos, f"a reference count starts at 1..{most} (the creator's reference)")
        return 1
    if node is None:
        return 0
    if decl.kind in ("event", "syncevent") and isinstance(node, A.BoolLit):
        return int(node.value)
    labels = {"rundown": ("ACTIVE", "RUN_DOWN"), "object": ("NONE", "VALID")}.get(decl.kind, ())
    if isinstance(node, A.Name) and node.id in labels:
        states = V.RUNDOWN_STATES if decl.kind == "rundown" else V.OBJECT_STATES
        return states.index(node.id)
    want = " or ".join(labels) if labels else "true or false"
    comp.fail(node.pos, f"a {decl.kind} starts {want}")
    return 0


def lookup(comp: Compiler, scope, name: str) -> Prim | None:
    """The primitive ``name`` code in ``scope`` refers to (its binding's first)."""
    if scope.binding is not None:
        p = comp.bprims.get((scope.binding.id, scope.side, name))
        if p is not None:
            return p
    return comp.prims.get((scope.driver.id, name))


def reset(path: Path, prim: Prim) -> None:
    """Back to the initial values (a binding context freed and allocated anew)."""
    for idx, init in prim.inits.items():
        path.set(idx, E.const(init))


# -- helpers ---------------------------------------------------------------------------------
def rule(comp: Compiler, key: str) -> str:
    """Declare that the primitives' property ``key`` (rundown, refcount, epoch) is checked;
    returns it."""
    return comp.builtin_rule(key, RULES[key])


def _uaf(comp: Compiler) -> str:
    return comp.builtin_rule(UAF, UAF_TEXT)


uaf = _uaf


def object_valid(
    rc: RoutineContext, obj: Prim, path: Path, what: str, pos: A.Pos
) -> tuple[Path | None, Outcomes]:
    """Split ``path`` on whether object ``obj`` is allocated, for ``what`` done in it."""
    comp = rc.c
    ok, bad = path.split(comp.is_(obj.vars["state"], "VALID", path))
    out: Outcomes = []
    if bad is not None:
        msg = f"{what}: it lives in {obj.name}, which is not allocated"
        out.append((bad.fail(_uaf(comp), msg, pos), "fault"))
    return ok, out


def _arg_prim(
    rc: RoutineContext, call: A.Call, kinds: tuple[str, ...], extra: int = 0
) -> Prim | None:
    """The primitive named by the first argument of ``call``, of one of ``kinds``."""
    comp = rc.c
    what = " or ".join(kinds)
    if len(call.args) not in (1, 1 + extra) or not isinstance(call.args[0], A.Name):
        comp.fail(call.pos, f"{call.func}() takes the name of a {what}")
        return None
    name = call.args[0].id
    p = lookup(comp, rc.scope, name)
    if p is None or p.kind not in kinds:
        options = [
            d.name
            for d in rc.scope.driver.decl.prims
            if d.kind in kinds and (rc.scope.binding is not None or not d.per_binding)
        ]
        comp.fail(call.args[0].pos, f"unknown {what} {name!r}{suggest(name, options)}")
        return None
    return p


def _alive(
    rc: RoutineContext, prim: Prim, path: Path, text: str, pos: A.Pos
) -> tuple[Path | None, Outcomes]:
    """Split on whether the object ``prim`` lives in is allocated (a use of a primitive in
    freed memory is a use after free: "acquire after free")."""
    if prim.obj is None:
        return path, []
    comp = rc.c
    st = prim.obj.vars["state"]
    ok, bad = path.split(comp.is_(st, "VALID", path))
    out: Outcomes = []
    if bad is not None:
        bad.notes.append(text)
        msg = f"{text}: {prim.name} lives in {prim.obj.name}, which is not allocated"
        out.append((bad.fail(_uaf(comp), msg, pos), "fault"))
    return ok, out


def _store(rc: RoutineContext, path: Path, target: str | None, value: Expr, kind: str) -> None:
    """Store a bool or status result in ``target``."""
    if target is None:
        return
    t = rc.lookup_target(target, rc.current_pos)
    if t is None:
        return
    idx, ty = t
    want = {"bool": "bool", "int": "int"}.get(kind, "enum")
    if ty.kind != want or (kind == "status" and ty.labels != V.STATUSES):
        what = {"bool": "bool", "int": "an int"}.get(kind, "NTSTATUS")
        rc.c.fail(rc.current_pos, f"{target!r} must be {what} to receive the result")
        return
    path.set(idx, value)
    rc.c.mark_assigned(path, idx)


def _status(k: int) -> Expr:
    return E.const(k)


# -- rundown protection ----------------------------------------------------------------------
def rundown(rc: RoutineContext, call: A.Call, path: Path, target: str | None) -> Outcomes:
    """ExAcquireRundownProtection / ExReleaseRundownProtection /
    ExWaitForRundownProtectionRelease / ExReInitializeRundownProtection."""
    prim = _arg_prim(rc, call, ("rundown",))
    if prim is None:
        return []
    text = f"{call.func}({call.args[0].id})"
    path, out = _alive(rc, prim, path, text, call.pos)
    if path is None:
        return out
    fn = {
        "ExInitializeRundownProtection": _initialize,
        "ExAcquireRundownProtection": _acquire,
        "ExReleaseRundownProtection": _release,
        "ExWaitForRundownProtectionRelease": _wait,
        "ExReInitializeRundownProtection": _reinit,
    }[call.func]
    return out + fn(rc, call, prim, path, target, text)


def _acquire(rc, call, prim: Prim, path: Path, target, text: str) -> Outcomes:
    comp = rc.c
    st, refs = prim.vars["state"], prim.vars["refs"]
    out: Outcomes = []
    yes, no = path.split(comp.is_(st, "ACTIVE", path))
    if no is not None:
        _store(rc, no, target, E.FALSE, "bool")
        no.notes.append(f"{text} -> FALSE")
        out.append((no, "next"))
    if yes is None:
        return out
    room, full = yes.split(E.lt(comp.rd(refs, yes), E.const(comp.ts.vars[refs].hi)))
    if full is not None:
        full.notes.append(text)
        hi = comp.ts.vars[refs].hi
        msg = f"more than {hi} references on {prim.name} (write 'rundown {prim.decl.name} max N')"
        out.append((full.fail(comp.builtin_rule("range", _RANGE), msg, call.pos), "fault"))
    if room is not None:
        room.set(refs, E.add(comp.rd(refs, room), E.const(1)))
        _store(rc, room, target, E.TRUE, "bool")
        _reference(rc, prim, room, up=True)
        room.notes.append(f"{text} -> TRUE")
        out.append((room, "next"))
    return out


_RANGE = "every assignment stays within the variable's declared range"


def _release(rc, call, prim: Prim, path: Path, target, text: str) -> Outcomes:
    comp = rc.c
    refs = prim.vars["refs"]
    path.notes.append(text)
    some, none = path.split(E.lt(E.const(0), comp.rd(refs, path)))
    out: Outcomes = []
    if none is not None:
        msg = f"{text} without a reference acquired (ExAcquireRundownProtection)"
        out.append((none.fail(rule(comp, "rundown"), msg, call.pos), "fault"))
    if some is not None:
        some.set(refs, E.sub(comp.rd(refs, some), E.const(1)))
        _reference(rc, prim, some, up=False)
        out.append((some, "next"))
    return out


def _wait(rc, call, prim: Prim, path: Path, target, text: str) -> Outcomes:
    """The wait takes effect at once (new acquires fail) and returns when the references
    have drained; on a rundown already run down it does nothing (the DDI: "not an error")."""
    comp = rc.c
    if not rc.at_top:
        comp.fail(call.pos, f"{call.func} cannot be inside an atomic block (it waits)")
        return []
    st, refs = prim.vars["state"], prim.vars["refs"]
    ok, out = irql.needs_passive(comp, rc, path, text, call.pos)
    if ok is None:
        return out
    for lab, p in comp.split_state(ok, st, V.RUNDOWN_STATES).items():
        p.notes.append(text)
        if lab == "RUN_DOWN":
            out.append((p, "next"))
        elif lab == "RUNNING_DOWN":
            msg = f"{text} while another thread already waits for {prim.name}"
            out.append((p.fail(rule(comp, "rundown"), msg, call.pos), "fault"))
        else:
            drained, busy = p.split(E.eq(comp.rd(refs, p), E.const(0)))
            if drained is not None:
                drained.set(st, comp.val(st, "RUN_DOWN"))
                out.append((drained, "next"))
            if busy is not None:
                busy.set(st, comp.val(st, "RUNNING_DOWN"))
                busy.notes[-1] = f"{text}: new acquires fail; waits for the references"
                out.append((busy, Waiting(call, "rundown", (prim.name,))))
    return out


def _initialize(rc, call, prim: Prim, path: Path, target, text: str) -> Outcomes:
    """ExInitializeRundownProtection: a fresh rundown (initialising one that is in use, with
    references held or a waiter, is misuse)."""
    comp = rc.c
    st, refs = prim.vars["state"], prim.vars["refs"]
    path.notes.append(text)
    busy = E.or_(E.lt(E.const(0), comp.rd(refs, path)), comp.is_(st, "RUNNING_DOWN", path))
    bad, ok = path.split(busy)
    why = "is in use (references held, or a thread waits)"
    return _to_active(rc, call, prim, ok, bad, f"{text} while {prim.name} {why}")


def _reinit(rc, call, prim: Prim, path: Path, target, text: str) -> Outcomes:
    """ExReInitializeRundownProtection: a rundown that has run down is ACTIVE again (one
    that has not is misuse)."""
    comp = rc.c
    st = prim.vars["state"]
    path.notes.append(text)
    done, not_done = path.split(comp.is_(st, "RUN_DOWN", path))
    why = "is not run down (the wait has not returned)"
    return _to_active(rc, call, prim, done, not_done, f"{text} while {prim.name} {why}")


def _to_active(
    rc: RoutineContext, call: A.Call, prim: Prim, ok: Path | None, bad: Path | None, msg: str
) -> Outcomes:
    """(Re)initialising rundown ``prim``: on ``ok`` it is ACTIVE; ``bad`` halts with
    ``msg``, misuse of the rundown."""
    comp = rc.c
    st = prim.vars["state"]
    out: Outcomes = []
    if ok is not None:
        ok.set(st, comp.val(st, "ACTIVE"))
        out.append((ok, "next"))
    if bad is not None:
        out.append((bad.fail(rule(comp, "rundown"), msg, call.pos), "fault"))
    return out


def _reference(rc: RoutineContext, prim: Prim, path: Path, up: bool) -> None:
    """A rundown or count reference on this side's binding context counts as a counted
    reference of the thread (CALL-1), as an in-progress counter going up does."""
    if prim.binding is None or rc.scope.binding is None:
        return
    if prim.binding != rc.scope.binding.id or prim.side != rc.scope.side:
        return
    count_reference_delta(rc, path, up)


def rundown_drained(comp: Compiler, rc: RoutineContext, key: Waiting) -> Outcomes:
    """The step in which ExWaitForRundownProtectionRelease returns: the references are 0."""
    prim = _by_name(comp, key.key[0])
    refs, st = prim.vars["refs"], prim.vars["state"]
    path, _ = Path().split(E.eq(comp.rd(refs), E.const(0)))
    if path is None:
        return []
    path.set(st, comp.val(st, "RUN_DOWN"))
    path.notes.append(f"{unparse_call(key.call)} returns: the references are released")
    return [(path, key.after)]


def _inside(comp: Compiler, obj: Prim) -> list[Prim]:
    """The primitives declared ``in`` object ``obj``."""
    return [p for p in (*comp.prims.values(), *comp.bprims.values()) if p.obj is obj]


def _by_name(comp: Compiler, name: str) -> Prim:
    for p in (*comp.prims.values(), *comp.bprims.values()):
        if p.name == name:
            return p
    raise KeyError(name)


def unparse_call(call: A.Call) -> str:
    """The model text of ``call``."""
    return unparse(call)


# -- reference counts ------------------------------------------------------------------------
def refcount(
    rc: RoutineContext, call: A.Call, path: Path, top: bool, target: str | None = None
) -> Outcomes:
    """``reference(C)`` / ``[n =] dereference(C)``; a dereference that brings C to K runs the
    driver's ``on C == K`` action next, on the same thread (as ``if (InterlockedDecrement(&c)
    == K) { ... }`` does), and stores the new count in ``n``."""
    prim = _arg_prim(rc, call, ("refcount",))
    if prim is None:
        return []
    comp = rc.c
    text = f"{call.func}({call.args[0].id})"
    path, out = _alive(rc, prim, path, text, call.pos)
    if path is None:
        return out
    count = prim.vars["count"]
    cur = comp.rd(count, path)
    path.notes.append(text)
    if call.func == "reference":
        dead, live = path.split(E.eq(cur, E.const(0)))
        if dead is not None:
            msg = f"{text} after its last release: the object is freed"
            out.append((dead.fail(_uaf(comp), msg, call.pos), "fault"))
        if live is None:
            return out
        room, full = live.split(E.lt(cur, E.const(comp.ts.vars[count].hi)))
        if full is not None:
            msg = f"more than {comp.ts.vars[count].hi} references on {prim.name} (raise 'max')"
            out.append((full.fail(comp.builtin_rule("range", _RANGE), msg, call.pos), "fault"))
        if room is not None:
            room.set(count, E.add(cur, E.const(1)))
            _reference(rc, prim, room, up=True)
            out.append((room, "next"))
        return out
    under, ok = path.split(E.eq(cur, E.const(0)))
    if under is not None:
        msg = f"{text} below zero: {prim.name} was already released"
        out.append((under.fail(rule(comp, "refcount"), msg, call.pos), "fault"))
    if ok is None:
        return out
    ok.set(count, E.sub(cur, E.const(1)))
    _reference(rc, prim, ok, up=False)
    if target is not None:
        ok, faults = _store_count(rc, ok, target, E.sub(cur, E.const(1)), call.pos)
        out += faults
        if ok is None:
            return out
    rest = ok
    for h in prim.handlers:
        hit, rest = rest.split(E.eq(cur, E.const(h.value + 1)))
        if hit is not None:
            hit.notes[-1] = f"{text} -> {h.value}"
            if top:
                out.append((hit, Goto(h.body)))
            else:
                out += rc.exec_block(h.body, hit)
        if rest is None:
            break
    if rest is not None:
        out.append((rest, "next"))
    return out


def _store_count(
    rc: RoutineContext, path: Path, target: str, value: Expr, pos: A.Pos
) -> tuple[Path | None, Outcomes]:
    """``n = dereference(C)``: the new count into ``n``, within its range (else ``range``)."""
    comp = rc.c
    t = rc.lookup_target(target, pos)
    if t is None or t[1].kind != "int":
        _store(rc, path, target, value, "int")
        return path, []
    lo, hi = t[1].lo, t[1].hi
    ok, bad = path.split(E.and_(E.le(E.const(lo), value), E.le(value, E.const(hi))))
    out: Outcomes = []
    if bad is not None:
        msg = f"value out of range {lo}..{hi} in '{target} = {unparse_call_text(rc)}'"
        out.append((bad.fail(comp.builtin_rule("range", _RANGE), msg, pos), "fault"))
    if ok is not None:
        _store(rc, ok, target, value, "int")
    return ok, out


def unparse_call_text(rc: RoutineContext) -> str:
    return rc.describe_here()


# -- events ----------------------------------------------------------------------------------
def event(rc: RoutineContext, call: A.Call, path: Path, target: str | None, top: bool) -> Outcomes:
    """KeSetEvent / KeClearEvent / KeResetEvent and KeWaitForSingleObject(E[, TIMEOUT])."""
    waiting = call.func == "KeWaitForSingleObject"
    prim = _arg_prim(rc, call, ("event", "syncevent"), extra=1 if waiting else 0)
    if prim is None:
        return []
    comp = rc.c
    text = unparse_call(call)
    path, out = _alive(rc, prim, path, text, call.pos)
    if path is None:
        return out
    sig = prim.vars["set"]
    if not waiting:
        path.set(sig, E.const(call.func == "KeSetEvent"))
        path.notes.append(text)
        return out + [(path, "next")]
    timeout = call.args[1] if len(call.args) == 2 else None
    polls: list[tuple[Path, bool]] = [(path, False)]
    if timeout is not None:
        t = rc.expr(timeout, path, Ty("int", 0, 0))
        zero, timed = path.split(E.eq(t, E.const(0)))
        polls = [(q, z) for q, z in ((zero, True), (timed, False)) if q is not None]
    for p, poll in polls:
        if not poll:  # a wait that may block runs at IRQL <= APC_LEVEL
            p, faults = irql.needs_passive(comp, rc, p, text, call.pos)
            out += faults
            if p is None:
                continue
        done, unset = p.split(E.eq(comp.rd(sig, p), E.const(1)))
        if done is not None:
            if prim.kind == "syncevent":  # a synchronization event resets as it satisfies a wait
                done.set(sig, E.FALSE)
            _store(rc, done, target, _status(V.SUCCESS), "status")
            done.notes.append(f"{text} -> STATUS_SUCCESS")
            out.append((done, "next"))
        if unset is None:
            continue
        if timeout is not None:
            _store(rc, unset, target, _status(V.TIMEOUT), "status")
            unset.notes.append(f"{text} -> STATUS_TIMEOUT")
            out.append((unset, "next"))
        elif top:
            out += rc.blocked(unset, text)
    return out


# -- memory ----------------------------------------------------------------------------------
def memory(rc: RoutineContext, call: A.Call, path: Path, target: str | None) -> Outcomes:
    """``ok = allocate(O)`` (may fail), ``allocate(O)`` (the design assumes it succeeds),
    ``free(O)`` and ``use(O)``."""
    prim = _arg_prim(rc, call, ("object",))
    if prim is None:
        return []
    comp = rc.c
    st = prim.vars["state"]
    text = unparse_call(call)
    out: Outcomes = []
    if call.func == "allocate":
        ok = path
        if target is not None:
            failed = path.fork()
            _store(rc, failed, target, E.FALSE, "bool")
            failed.notes.append(f"{text} -> fails")
            out.append((failed, "next"))
            _store(rc, ok, target, E.TRUE, "bool")
        ok.set(st, comp.val(st, "VALID"))
        for inner in _inside(comp, prim):  # fresh memory: what lives in it starts anew
            reset(ok, inner)
        for idx in comp.lock_obj_vars(prim):
            ok.set(idx, E.const(0))
        for idx in sorted(i for i, o in comp.var_obj.items() if o is prim):
            ok.set(idx, E.const(comp.ts.vars[idx].init))
            if idx in comp.init_flag:
                ok.set(comp.init_flag[idx], E.FALSE)
        ok.notes.append(text)
        return out + [(ok, "next")]
    path.notes.append(text)
    for lab, p in comp.split_state(path, st, V.OBJECT_STATES).items():
        if lab == "VALID":
            if call.func == "free":
                p.set(st, comp.val(st, "FREED"))
            out.append((p, "next"))
            continue
        why = "never allocated" if lab == "NONE" else "already freed"
        verb = "frees" if call.func == "free" else "uses"
        msg = f"{verb} {prim.name}, which is {why}"
        code = _uaf(comp)
        serving = rc.scope.serving
        if call.func == "use" and serving and lab == "FREED":
            code = comp.rule("CALL-3")
            msg += (
                f" while serving a call from its peer ({serving}): it must keep "
                "servicing incoming calls until its cleanup"
            )
        out.append((p.fail(code, msg, call.pos), "fault"))
    return out


def may_fail(rc: RoutineContext, call: A.Call, path: Path, target: str | None) -> Outcomes:
    """``x = may_fail(["what"])``: a step that may succeed or fail, both explored."""
    if len(call.args) > 1 or (call.args and not isinstance(call.args[0], A.Str)):
        rc.c.fail(call.pos, "may_fail() takes an optional string that names the step")
        return []
    if target is None:
        rc.c.fail(call.pos, "may_fail() returns whether it succeeded: x = may_fail()")
        return []
    t = rc.lookup_target(target, rc.current_pos)
    if t is None:
        return []
    kind = "status" if t[1].kind == "enum" else "bool"
    what = f'may_fail("{call.args[0].value}")' if call.args else "may_fail()"
    ok, bad = path, path.fork()
    _store(rc, ok, target, E.TRUE if kind == "bool" else _status(V.SUCCESS), kind)
    _store(rc, bad, target, E.FALSE if kind == "bool" else _status(3), kind)
    ok.notes.append(f"{what} -> succeeds")
    bad.notes.append(f"{what} -> fails")
    return [(ok, "next"), (bad, "next")]


# -- epochs ------------------------------------------------------------------------------------
def epoch(rc: RoutineContext, call: A.Call, path: Path) -> Outcomes:
    """ebpf_epoch_enter / ebpf_epoch_exit / ebpf_epoch_synchronize (eBPF for Windows
    libs/runtime/ebpf_epoch.h): a synchronisation waits until every epoch that was entered
    when it was called has been exited, the caller's own included."""
    comp = rc.c
    if call.args:
        comp.fail(call.pos, f"{call.func}() takes no argument")
        return []
    text = f"{call.func}()"
    mine = comp.epoch_vars.get(rc.slot.id)
    if call.func == "ebpf_epoch_synchronize":
        return _synchronize(rc, call, path, text)
    assert mine is not None  # laid out for every thread whose code enters an epoch
    path.notes.append(text)
    out: Outcomes = []
    inside, outside = path.split(E.not_(comp.is_(mine, "OUT", path)))
    entering = call.func == "ebpf_epoch_enter"
    good, bad = (outside, inside) if entering else (inside, outside)
    if bad is not None:
        msg = "enters an epoch it is already in" if entering else "exits an epoch it is not in"
        out.append((bad.fail(rule(comp, "epoch"), msg, call.pos), "fault"))
    if good is not None:
        good.set(mine, comp.val(mine, "IN" if entering else "OUT"))
        out.append((good, "next"))
    return out


def _synchronize(rc: RoutineContext, call: A.Call, path: Path, text: str) -> Outcomes:
    comp = rc.c
    if not rc.at_top:
        comp.fail(call.pos, f"{call.func} cannot be inside an atomic block (it waits)")
        return []
    ok, out = irql.needs_passive(comp, rc, path, text, call.pos)
    if ok is None:
        return out
    ok.notes.append(text)
    busy = E.or_(*(E.not_(comp.is_(v, "OUT", ok)) for v in comp.epoch_vars.values()))
    waits, free = ok.split(busy)
    if free is not None:
        out.append((free, "next"))
    if waits is not None:
        for v in comp.epoch_vars.values():
            cur = comp.rd(v, waits)
            waits.set(v, E.ite(E.eq(cur, comp.val(v, "IN")), comp.val(v, "IN_OLD"), cur))
        waits.notes[-1] = f"{text}: waits for the epochs entered before it"
        out.append((waits, Waiting(call, "epoch", ())))
    return out


def epoch_ended(comp: Compiler, rc: RoutineContext, key: Waiting) -> Outcomes:
    """The step in which ebpf_epoch_synchronize returns: no older epoch is left."""
    old = [comp.is_(v, "IN_OLD") for v in comp.epoch_vars.values()]
    path, _ = Path().split(E.not_(E.or_(*old)))
    if path is None:
        return []
    path.notes.append("ebpf_epoch_synchronize() returns: the older epochs have ended")
    return [(path, key.after)]
