"""The built-in statements of model code (docs/language.md): ``assert`` and ``error``,
locks, work items, binding contexts and registration data, NPI call counters, and the kernel
primitives (nmrcheck.nmr.prims, nmrcheck.nmr.irql); nmrcheck.nmr.routines calls
:func:`builtin` for each.
"""

from __future__ import annotations

from nmrcheck.ir import expr as E
from nmrcheck.lang import ast as A
from nmrcheck.nmr import irql, lifetimes, prims, threads
from nmrcheck.nmr.context import Compiler, RoutineContext, locks_in_scope
from nmrcheck.nmr.paths import Path
from nmrcheck.nmr.unparse import unparse

_LOCK_CALLS = {"acquire": threads.acquire, "release": threads.release,
               "acquire_shared": threads.acquire_shared, "release_shared": threads.release_shared}


def builtin(
    comp: Compiler,
    rc: RoutineContext,
    call: A.Call,
    path: Path,
    target: str | None = None,
    top: bool = True,
) -> list[tuple[Path, object]]:
    """Compile the built-in statement ``call`` (its result into ``target``; ``top``: not
    inside an atomic block) to the paths it leaves and where each goes."""
    f, args = call.func, call.args
    text = unparse(call)
    kernel = _kernel(comp, rc, call, path, target, top)
    if kernel is not None:
        return kernel
    if f in ("assert", "error"):
        want = (1, 2) if f == "assert" else (0, 1)
        if len(args) not in want:
            comp.fail(call.pos, f"{f}() takes {' or '.join(map(str, want))} arguments")
            return []
        msg_node = args[-1] if (f == "error" and args) or len(args) == 2 else None
        if msg_node is not None and not isinstance(msg_node, A.Str):
            comp.fail(msg_node.pos, f"the message of {f}() must be a string")
            return []
        msg = msg_node.value if isinstance(msg_node, A.Str) else ""
        key = f"{f}@{call.pos.file}:{call.pos.line}"
        what = "assertion" if f == "assert" else "error()"
        comp.fault_code(
            key,
            {
                "kind": f,
                "pos": call.pos,
                "message": msg,
                "text": f"{what} at line {call.pos.line} never fails"
                + (f": {msg}" if msg else ""),
            },
        )
        if f == "error":
            path.notes.append(text)
            return [(path.fail(key, f"error: {msg}" if msg else "error()", call.pos), "fault")]
        cond = rc.cond(args[0], path)
        ok, bad = path.split(cond)
        out: list[tuple[Path, object]] = []
        if ok is not None:
            ok.notes.append(text)
            out.append((ok, "next"))
        if bad is not None:
            bad.notes.append(text)
            detail = f"assertion failed: {unparse(args[0])}" + (f" ({msg})" if msg else "")
            out.append((bad.fail(key, detail, call.pos), "fault"))
        return out
    if f in ("npi_call_begin", "npi_call_end"):
        return lifetimes.npi_call(rc, call, path, begin=f == "npi_call_begin")
    if f == "free_binding_context":
        return lifetimes.free_context(rc, call, path)
    if f == "allocate_binding_context":
        return lifetimes.allocate_context(rc, call, path)
    if f == "free_registration_data":
        return lifetimes.free_registration(rc, call, path)
    if len(args) != 1 or not isinstance(args[0], A.Name):
        comp.fail(call.pos, f"{f}() takes one name")
        return []
    name = args[0].id
    lock_call = _LOCK_CALLS.get(f)
    if lock_call is not None:
        idx = comp.lock_var(rc.scope, name)
        if idx is None:
            locks = [n for n, _ in locks_in_scope(comp, rc.scope)]
            comp.fail(args[0].pos, comp.unknown_name(rc.scope, name, "lock", locks))
            return []
        return lock_call(comp, rc, call, name, idx, path, text)
    # queue(W)
    q = comp.queue_var(rc.scope, name)
    if q is None:
        comp.fail(args[0].pos, f"unknown work item {name!r} (declare it with 'workitem')")
        return []
    path.set(q, E.TRUE)
    path.notes.append(text)
    return [(path, "next")]


def _kernel(
    comp: Compiler, rc: RoutineContext, call: A.Call, path: Path, target: str | None, top: bool
) -> list[tuple[Path, object]] | None:
    """The kernel primitives (nmrcheck.nmr.prims), or None for another built-in."""
    f = call.func
    rc.at_top = top
    if f.startswith("Ex") and "Rundown" in f:
        return prims.rundown(rc, call, path, target)
    if f in ("reference", "dereference"):
        return prims.refcount(rc, call, path, top, target)
    if f in ("KeSetEvent", "KeClearEvent", "KeResetEvent", "KeWaitForSingleObject"):
        return prims.event(rc, call, path, target, top)
    if f in ("allocate", "free", "use"):
        return prims.memory(rc, call, path, target)
    if f == "may_fail":
        return prims.may_fail(rc, call, path, target)
    if f.startswith("ebpf_epoch_"):
        return prims.epoch(rc, call, path)
    if f in ("KeRaiseIrql", "KeLowerIrql"):
        return irql.raise_lower(rc, call, path)
    if f == "npi_call":  # reached only where it cannot run a body
        comp.fail(call.pos, "npi_call() runs the peer's function: write it as a statement")
        return []
    return None
