"""Threads, IRQL and locks (nmr-semantics.md §2.3, N5, N10, DET-7, DRG-6, ATT-8).

A slot is a routine's thread of control. NMR may run a binding callback on its own thread or
nested inside an ``NmrRegister*``/``NmrDeregister*`` call, on the caller's thread: the
callback slot's ``thread`` variable then holds the caller's thread id + 1. Locks are owned by
threads, so a nested callback that takes a lock its caller holds deadlocks, as on Windows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.lang import ast as A
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.paths import Path

if TYPE_CHECKING:
    from nmrcheck.nmr.compile import Compiler, SlotInfo
    from nmrcheck.nmr.routines import RoutineCompiler, Scope

DISPATCH_ROUTINES = frozenset(
    (
        "ClientDetachProvider",
        "ProviderDetachClient",
        "ClientCleanupBindingContext",
        "ProviderCleanupBindingContext",
    )
)
CALLBACKS = frozenset(V.CLIENT_CALLBACKS + V.PROVIDER_CALLBACKS)


def thread_of(comp: Compiler, slot: SlotInfo, path: Path | None = None) -> Expr:
    """The id of the OS thread that runs ``slot`` now (a nested callback runs on its caller's)."""
    if slot.thread_var is None:
        return E.const(slot.id)
    thr = comp.rd(slot.thread_var, path)
    return E.ite(E.eq(thr, E.const(0)), E.const(slot.id), E.sub(thr, E.const(1)))


def locks_in_scope(comp: Compiler, scope: Scope) -> list[tuple[str, int]]:
    """(name, variable) of every lock code in ``scope`` can take."""
    out = [(name, idx) for (d, name), idx in comp.locks.items() if d == scope.driver.id]
    if scope.binding is not None:
        out += [
            (name, idx)
            for (b, s, name), idx in comp.block.items()
            if b == scope.binding.id and s == scope.side
        ]
    return sorted(out)


def held_by_me(
    comp: Compiler, rc: RoutineCompiler, path: Path, names: set[str] | None, spin_only: bool = False
) -> Expr:
    """Whether this thread holds one of the locks ``names`` (all when None)."""
    me = E.add(thread_of(comp, rc.slot, path), E.const(1))
    parts = []
    for name, idx in locks_in_scope(comp, rc.scope):
        if names is not None and name not in names:
            continue
        if spin_only and comp.lock_passive.get(idx, False):
            continue
        parts.append(E.eq(comp.rd(idx, path), me))
    return E.or_(*parts)


def needs_passive(
    comp: Compiler, rc: RoutineCompiler, path: Path, what: str, pos: A.Pos, rule: str = "DET-7"
) -> tuple[Path | None, list[tuple[Path, object]]]:
    """Split ``path`` for a statement that must run at PASSIVE_LEVEL.

    Returns the path on which it may go on, and the faulting paths: in a detach or cleanup
    callback (NMR may call those at DISPATCH_LEVEL, DET-7), or while holding a spin lock.
    """
    if rc.routine in DISPATCH_ROUTINES:
        # NMR may call these at DISPATCH_LEVEL but usually does not: the violation is
        # recorded and the run goes on as if at PASSIVE_LEVEL, so what follows is still found
        comp.rule(rule)
        path.flag(rule, f"{what} in {rc.routine}, which NMR may call at DISPATCH_LEVEL", pos)
    spinning = held_by_me(comp, rc, path, None, spin_only=True)
    if spinning is E.FALSE:
        return path, []
    bad, ok = path.split(spinning)
    faults: list[tuple[Path, object]] = []
    if bad is not None:
        comp.builtin_rule(
            "irql",
            "code that must run at PASSIVE_LEVEL never runs while "
            "holding a spin lock (DISPATCH_LEVEL)",
        )
        bad.notes.append(what)
        faults.append(
            (bad.fail("irql", f"{what} while holding a spin lock (DISPATCH_LEVEL)", pos), "fault")
        )
    return ok, faults


def lock_names_acquired(stmts: tuple[A.Node, ...]) -> set[str]:
    """Names passed to ``acquire`` anywhere in ``stmts``."""
    return {
        c.args[0].id
        for c in A.calls(stmts)
        if c.func == "acquire" and c.args and isinstance(c.args[0], A.Name)
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
    comp: Compiler, rc: RoutineCompiler, call: A.Call, name: str, idx: int, path: Path, text: str
) -> list[tuple[Path, object]]:
    """``acquire(L)``: blocks while another thread holds L; a thread that already holds L
    deadlocks on itself, which is reported at once."""
    out: list[tuple[Path, object]] = []
    if comp.lock_passive.get(idx, False):
        ok, faults = needs_passive(comp, rc, path, text, call.pos)
        out += faults
        if ok is None:
            return out
        path = ok
    me = E.add(thread_of(comp, rc.slot, path), E.const(1))
    held = comp.rd(idx, path)
    free, taken = path.split(E.eq(held, E.const(0)))
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


def release(
    comp: Compiler, rc: RoutineCompiler, call: A.Call, name: str, idx: int, path: Path, text: str
) -> list[tuple[Path, object]]:
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
    return out


BLOCKING_CALLS = frozenset({"acquire"} | set(V.WAIT.values()))


def can_block(stmts: tuple[A.Node, ...]) -> bool:
    """Whether ``stmts`` may wait for something (await, acquire, NmrWaitFor*)."""
    return any(isinstance(s, A.Await) for s in A.statements(stmts)) or any(
        c.func in BLOCKING_CALLS for c in A.calls(stmts)
    )


def callbacks_can_block(d: A.DriverDecl) -> bool:
    """Whether a binding callback of ``d`` may wait: only then does running it nested on a
    caller's thread add behaviour to running it on its own thread."""
    return any(r.name in CALLBACKS and can_block(r.body) for r in d.routines)
