"""Threads, IRQL and locks (nmr-semantics.md §2.3, N5, N10, DET-7, DRG-6, ATT-8).

A slot is a routine's thread of control. NMR may run a binding callback on its own thread or
nested inside an ``NmrRegister*``/``NmrDeregister*`` call, on the caller's thread: the
callback slot's ``thread`` variable then holds the caller's thread id + 1. Locks are owned by
threads, so a nested callback that takes a lock its caller holds deadlocks, as on Windows.
"""

from __future__ import annotations

from nmrcheck.ir import expr as E
from nmrcheck.lang import ast as A
from nmrcheck.nmr import irql
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.context import Compiler, RoutineContext, thread_of
from nmrcheck.nmr.irql import DISPATCH_ROUTINES
from nmrcheck.nmr.paths import Path

CALLBACKS = frozenset(V.CLIENT_CALLBACKS + V.PROVIDER_CALLBACKS)


def needs_passive(
    comp: Compiler, rc: RoutineContext, path: Path, what: str, pos: A.Pos, rule: str = "DET-7"
) -> tuple[Path | None, list[tuple[Path, object]]]:
    """Split ``path`` for a statement that must run at PASSIVE_LEVEL (see irql.needs_passive)."""
    return irql.needs_passive(comp, rc, path, what, pos, rule)


def lock_names_acquired(stmts: tuple[A.Node, ...]) -> set[str]:
    """Names passed to ``acquire`` or ``acquire_shared`` anywhere in ``stmts``."""
    return {
        c.args[0].id
        for c in A.calls(stmts)
        if c.func in ("acquire", "acquire_shared") and c.args and isinstance(c.args[0], A.Name)
    }


def completion_locks(d: A.DriverDecl) -> set[str]:
    """Locks that the driver's detach, completion and cleanup paths may take (DRG-6): its
    detach and cleanup callbacks, and the binding tasks and work items that complete a
    detach."""
    out: set[str] = set()
    for r in d.routines:
        if r.name in DISPATCH_ROUTINES:
            out |= lock_names_acquired(r.body)
    for t in d.tasks:
        if t.per_binding and _completes(t.body):
            out |= lock_names_acquired(t.body)
    return out


def _completes(stmts: tuple[A.Node, ...]) -> bool:
    return any(c.func in V.COMPLETE.values() for c in A.calls(stmts))


def npi_path_locks(d: A.DriverDecl) -> set[str]:
    """Locks that the driver's NPI call paths (binding tasks and work items) take (ATT-8)."""
    out: set[str] = set()
    for t in d.tasks:
        if t.per_binding:
            out |= lock_names_acquired(t.body)
    return out


def acquire(
    comp: Compiler, rc: RoutineContext, call: A.Call, name: str, idx: int, path: Path, text: str
) -> list[tuple[Path, object]]:
    """``acquire(L)``: blocks while another thread holds L (or threads hold it shared); a
    thread that already holds L deadlocks on itself, which is reported at once."""
    path, out = _may_take(comp, rc, call, idx, path, text)
    if path is None:
        return out
    mine = comp.shared.get((idx, rc.slot.id))
    if mine is not None:
        again, path = path.split(E.eq(comp.rd(mine, path), E.const(1)))
        if again is not None:
            _lock_rule(comp)
            msg = f"takes lock {name!r} exclusive while it holds it shared (self-deadlock)"
            again.notes.append(text)
            out.append((again.fail("lock", msg, call.pos), "fault"))
        if path is None:
            return out
    me = E.add(thread_of(comp, rc.slot, path), E.const(1))
    held = comp.rd(idx, path)
    readers = comp.readers.get(idx)
    no_readers = E.TRUE if readers is None else E.eq(comp.rd(readers, path), E.const(0))
    free, taken = path.split(E.and_(E.eq(held, E.const(0)), no_readers))
    if free is not None:
        free.set(idx, me)
        free.notes.append(text)
        out.append((free, "next"))
    if taken is not None:
        mine, _other = taken.split(E.eq(held, me))
        if mine is not None:
            mine.notes.append(text)
            if rc.slot.thread_var is not None:
                nested = E.not_(E.eq(comp.rd(rc.slot.thread_var, mine), E.const(0)))
                inside, alone = mine.split(nested)
            else:
                inside, alone = None, mine
            if inside is not None:
                comp.rule("DRG-6")
                msg = (
                    f"{rc.routine} takes lock {name!r}, which its own thread already holds: "
                    "NMR runs it inside the caller's NmrRegister*/NmrDeregister* call "
                    "(N5, N10), so the thread deadlocks"
                )
                out.append((inside.fail("DRG-6", msg, call.pos), "fault"))
            if alone is not None:
                comp.builtin_rule(
                    "lock", "a thread never takes a lock it holds, and releases only locks it holds"
                )
                out.append(
                    (
                        alone.fail("lock", f"takes lock {name!r} twice (self-deadlock)", call.pos),
                        "fault",
                    )
                )
        # held by another thread: the step is not enabled (the thread waits)
    return out


def _lock_rule(comp: Compiler) -> str:
    return comp.builtin_rule(
        "lock", "a thread never takes a lock it holds, and releases only locks it holds"
    )


def _may_take(
    comp: Compiler, rc: RoutineContext, call: A.Call, idx: int, path: Path, text: str
) -> tuple[Path | None, list[tuple[Path, object]]]:
    """Where lock ``idx`` may be taken: its object is alive (_lock_alive) and, for a lock
    taken at PASSIVE_LEVEL only, the thread runs there. Returns that path, and the faults."""
    path, out = _lock_alive(comp, rc, call, idx, path, text)
    if path is not None and comp.lock_passive.get(idx, False):
        path, faults = needs_passive(comp, rc, path, text, call.pos)
        out += faults
    return path, out


def _lock_alive(
    comp: Compiler, rc: RoutineContext, call: A.Call, idx: int, path: Path, text: str
) -> tuple[Path | None, list[tuple[Path, object]]]:
    """A lock that lives in an object (``pushlock L in O``) is used only while O is."""
    obj = comp.lock_obj.get(idx)
    if obj is None:
        return path, []
    ok, bad = path.split(comp.is_(obj.vars["state"], "VALID", path))
    out: list[tuple[Path, object]] = []
    if bad is not None:
        bad.notes.append(text)
        msg = f"{text}: the lock lives in {obj.name}, which is not allocated"
        code = comp.builtin_rule("use_after_free", "nothing is used after it was freed")
        out.append((bad.fail(code, msg, call.pos), "fault"))
    return ok, out


_NOT_SHAREABLE = "{name!r} cannot be taken shared (a pushlock or rwspinlock can)"


def acquire_shared(
    comp: Compiler, rc: RoutineContext, call: A.Call, name: str, idx: int, path: Path, text: str
) -> list[tuple[Path, object]]:
    """``acquire_shared(L)`` of a push lock or EX_SPIN_LOCK: waits while a thread holds L
    exclusive; any number of threads may hold it shared."""
    bit = comp.shared.get((idx, rc.slot.id))
    if bit is None:  # only locks that can be taken shared get shared bits (see build)
        comp.fail(call.args[0].pos, _NOT_SHAREABLE.format(name=name))
        return []
    path, out = _may_take(comp, rc, call, idx, path, text)
    if path is None:
        return out
    me = E.add(thread_of(comp, rc.slot, path), E.const(1))
    held = comp.rd(idx, path)
    again, path = path.split(E.or_(E.eq(comp.rd(bit, path), E.const(1)), E.eq(held, me)))
    if again is not None:
        _lock_rule(comp)
        again.notes.append(text)
        msg = f"takes lock {name!r} again while it holds it (self-deadlock)"
        out.append((again.fail("lock", msg, call.pos), "fault"))
    if path is None:
        return out
    free, _busy = path.split(E.eq(held, E.const(0)))  # held exclusive elsewhere: waits
    if free is not None:
        readers = comp.readers[idx]
        free.set(bit, E.TRUE)
        free.set(readers, E.add(comp.rd(readers, free), E.const(1)))
        free.notes.append(text)
        out.append((free, "next"))
    return out


def release_shared(
    comp: Compiler, rc: RoutineContext, call: A.Call, name: str, idx: int, path: Path, text: str
) -> list[tuple[Path, object]]:
    bit = comp.shared.get((idx, rc.slot.id))
    if bit is None:
        comp.fail(call.args[0].pos, _NOT_SHAREABLE.format(name=name))
        return []
    path, out = _lock_alive(comp, rc, call, idx, path, text)
    if path is None:
        return out
    path.notes.append(text)
    ok, bad = path.split(E.eq(comp.rd(bit, path), E.const(1)))
    if ok is not None:
        readers = comp.readers[idx]
        ok.set(bit, E.FALSE)
        ok.set(readers, E.sub(comp.rd(readers, ok), E.const(1)))
        out.append((ok, "next"))
    if bad is not None:
        _lock_rule(comp)
        msg = f"releases lock {name!r} shared, which this thread does not hold shared"
        out.append((bad.fail("lock", msg, call.pos), "fault"))
    return out


def release(
    comp: Compiler, rc: RoutineContext, call: A.Call, name: str, idx: int, path: Path, text: str
) -> list[tuple[Path, object]]:
    path, pre = _lock_alive(comp, rc, call, idx, path, text)
    if path is None:
        return pre
    me = E.add(thread_of(comp, rc.slot, path), E.const(1))
    ok, bad = path.split(E.eq(comp.rd(idx, path), me))
    out: list[tuple[Path, object]] = []
    if ok is not None:
        ok.set(idx, E.const(0))
        ok.notes.append(text)
        out.append((ok, "next"))
    if bad is not None:
        comp.builtin_rule(
            "lock", "a thread never takes a lock it holds, and releases only locks it holds"
        )
        bad.notes.append(text)
        out.append(
            (
                bad.fail(
                    "lock", f"releases lock {name!r}, which this thread does not hold", call.pos
                ),
                "fault",
            )
        )
    return pre + out


BLOCKING_CALLS = frozenset(
    {
        "acquire",
        "acquire_shared",
        "ExWaitForRundownProtectionRelease",
        "KeWaitForSingleObject",
        "ebpf_epoch_synchronize",
    }
    | set(V.WAIT.values())
)


def can_block(stmts: tuple[A.Node, ...]) -> bool:
    """Whether ``stmts`` may wait for something (await, acquire, NmrWaitFor*)."""
    return any(isinstance(s, A.Await) for s in A.statements(stmts)) or any(
        c.func in BLOCKING_CALLS for c in A.calls(stmts)
    )


def callbacks_can_block(d: A.DriverDecl) -> bool:
    """Whether a binding callback of ``d`` may wait: only then does running it nested on a
    caller's thread add behaviour to running it on its own thread."""
    return any(r.name in CALLBACKS and can_block(r.body) for r in d.routines)
