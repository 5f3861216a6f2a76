"""IRQL per thread (docs/language.md section 6.2): PASSIVE_LEVEL or DISPATCH_LEVEL.

A thread runs at DISPATCH_LEVEL while

* its routine runs there: a task or binding task declared ``at DISPATCH_LEVEL``, a DPC;
* it has raised its IRQL with ``KeRaiseIrql(DISPATCH_LEVEL)`` and not lowered it again;
* it holds a spin lock (``lock``, ``spinlock``, a ``rwspinlock`` exclusive or shared).

A callback NMR runs nested inside another thread's call runs at that thread's IRQL (N5).
NMR may call detach and cleanup callbacks at DISPATCH_LEVEL (O11): by default a blocking
statement there is the recorded DET-7; ``option detach_irql = caller`` narrows this to the
behaviour Windows shows (the callback runs at the IRQL of the thread it runs on).
"""

from __future__ import annotations

from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.lang import ast as A
from nmrcheck.nmr.context import Compiler, RoutineContext, held_by_me, thread_of
from nmrcheck.nmr.paths import Path

DISPATCH_ROUTINES = frozenset(
    (
        "ClientDetachProvider",
        "ProviderDetachClient",
        "ClientCleanupBindingContext",
        "ProviderCleanupBindingContext",
    )
)
IRQL_TEXT = (
    "code that must run at PASSIVE_LEVEL never runs at DISPATCH_LEVEL (holding a spin lock, "
    "raised, or in a routine that runs there), and IRQL is raised and lowered in pairs"
)


def irql_rule(comp: Compiler) -> str:
    return comp.builtin_rule("irql", IRQL_TEXT)


def _thread(comp: Compiler, rc: RoutineContext, path: Path) -> Expr:
    return thread_of(comp, rc.slot, path)


def static_dispatch(comp: Compiler, rc: RoutineContext, path: Path) -> Expr:
    """Whether the thread runs a routine that runs at DISPATCH_LEVEL (a DPC, a task at
    DISPATCH_LEVEL), its own or the one it runs nested in."""
    me = _thread(comp, rc, path)
    return E.or_(*(E.eq(me, E.const(s)) for s in sorted(comp.dispatch_slots)))


def raised(comp: Compiler, rc: RoutineContext, path: Path) -> Expr:
    """Whether the thread has raised its IRQL with KeRaiseIrql."""
    me = _thread(comp, rc, path)
    parts = []
    for sid, idx in sorted(comp.raised.items()):
        held = E.eq(comp.rd(idx, path), E.const(1))
        parts.append(held if sid == rc.slot.id else E.and_(E.eq(me, E.const(sid)), held))
    return E.or_(*parts)


def spinning(comp: Compiler, rc: RoutineContext, path: Path) -> Expr:
    """Whether the thread holds a spin lock."""
    return held_by_me(comp, rc, path, None, spin_only=True)


def at_dispatch(comp: Compiler, rc: RoutineContext, path: Path) -> Expr:
    """Whether the thread certainly runs at DISPATCH_LEVEL at this point of the step."""
    return E.or_(static_dispatch(comp, rc, path), raised(comp, rc, path), spinning(comp, rc, path))


def _why(comp: Compiler, rc: RoutineContext, path: Path) -> str:
    if rc.slot.id in comp.dispatch_slots:
        return f"in {rc.routine}, which runs at DISPATCH_LEVEL"
    if static_dispatch(comp, rc, path) is E.FALSE and raised(comp, rc, path) is E.FALSE:
        return "while holding a spin lock (DISPATCH_LEVEL)"
    return "at DISPATCH_LEVEL (a spin lock held, KeRaiseIrql, or a routine that runs there)"


def needs_passive(
    comp: Compiler, rc: RoutineContext, path: Path, what: str, pos: A.Pos, rule: str = "DET-7"
) -> tuple[Path | None, list[tuple[Path, object]]]:
    """Split ``path`` for a statement that must run below DISPATCH_LEVEL (it may block).

    In a detach or cleanup callback NMR may run at DISPATCH_LEVEL, ``rule`` (DET-7, REG-4)
    is recorded and the run goes on as if at PASSIVE_LEVEL (unless ``option detach_irql =
    caller``); where the thread certainly runs at DISPATCH_LEVEL the run halts with ``irql``.
    """
    if rc.routine in DISPATCH_ROUTINES and comp.options.get("detach_irql", "any") == "any":
        comp.rule(rule)
        path.flag(rule, f"{what} in {rc.routine}, which NMR may call at DISPATCH_LEVEL", pos)
    hot = at_dispatch(comp, rc, path)
    if hot is E.FALSE:
        return path, []
    bad, ok = path.split(hot)
    faults: list[tuple[Path, object]] = []
    if bad is not None:
        bad.notes.append(what)
        faults.append((bad.fail(irql_rule(comp), f"{what} {_why(comp, rc, bad)}", pos), "fault"))
    return ok, faults


def raise_lower(rc: RoutineContext, call: A.Call, path: Path) -> list[tuple[Path, object]]:
    """``KeRaiseIrql(DISPATCH_LEVEL)`` and ``KeLowerIrql(PASSIVE_LEVEL)``."""
    comp = rc.c
    want = "DISPATCH_LEVEL" if call.func == "KeRaiseIrql" else "PASSIVE_LEVEL"
    if len(call.args) != 1 or not (isinstance(call.args[0], A.Name) and call.args[0].id == want):
        comp.fail(call.pos, f"write {call.func}({want})")
        return []
    idx = comp.raised[rc.slot.id]
    text = f"{call.func}({want})"
    path.notes.append(text)
    out: list[tuple[Path, object]] = []
    if call.func == "KeRaiseIrql":
        path.set(idx, E.TRUE)
        return [(path, "next")]
    up, down = path.split(E.eq(comp.rd(idx, path), E.const(1)))
    if down is not None:
        msg = f"{text} without a KeRaiseIrql: the thread did not raise its IRQL"
        out.append((down.fail(irql_rule(comp), msg, call.pos), "fault"))
    if up is None:
        return out
    locked, ok = up.split(spinning(comp, rc, up))
    if locked is not None:
        msg = f"{text} while holding a spin lock (release it first)"
        out.append((locked.fail(irql_rule(comp), msg, call.pos), "fault"))
    if ok is not None:
        ok.set(idx, E.FALSE)
        out.append((ok, "next"))
    return out


def exit_raised(rc: RoutineContext, path: Path) -> tuple[Path | None, Path | None]:
    """Split a returning path on whether its thread is still raised (a bug check)."""
    idx = rc.c.raised.get(rc.slot.id)
    if idx is None:
        return path, None
    ok, bad = path.split(E.eq(rc.c.rd(idx, path), E.const(0)))
    if bad is not None:
        bad.fail(
            irql_rule(rc.c),
            f"{rc.routine} returns at DISPATCH_LEVEL (KeRaiseIrql not undone)",
            rc.pos,
        )
    return ok, bad
