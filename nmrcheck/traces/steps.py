"""Read a Trace in NMR words: who did what, where in the model, and what changed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from nmrcheck.ir import TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.nmr.explain import waits_for, why_violated
from nmrcheck.nmr.vocab import CLIENT_CALLBACKS, PROVIDER_CALLBACKS

CALLBACKS = frozenset(CLIENT_CALLBACKS + PROVIDER_CALLBACKS)  # the NMR callback names
__all__ = ["CALLBACKS", "Step", "describe", "step_line", "step_lines", "waits_for"]


@dataclass(frozen=True)
class Step:
    """One step of a counterexample, as a person reads it."""

    index: int  # 1-based
    actor: str  # driver instance, "NMR" or "OS"
    routine: str | None  # the routine running (or called), if any
    text: str  # what happened, in NMR API words
    status: str | None
    file: str | None
    line: int | None
    binding: str | None
    kind: str  # "step" (driver code), "callback" (NMR calls a driver), "call" (OS), "nmr"
    callee: str | None = None
    fault: str | None = None  # the obligation broken by this step, if any
    fault_msg: str = ""
    changes: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # (var, old, new)


HIDDEN_SUFFIXES = (
    ".pc",
    ".attach_status",
    ".dereg_in_unload",
    "_pending_returned",
    ".counted_ref",
)


def is_internal(name: str) -> bool:
    """Variables that are bookkeeping, not design state (shown with --verbose only)."""
    return name.endswith(HIDDEN_SUFFIXES) or name == "fault" or name.startswith("violated.")


def step_line(s: Step) -> str:
    """``[n] WHO: what happened (file:line)``, and the ``!! ID: message`` line of a fault."""
    where = f" ({s.file}:{s.line})" if s.file and s.line else ""
    if s.kind == "callback":
        head = f"NMR -> {s.callee}"
    elif s.kind == "call":
        head = f"OS -> {s.callee}"
    elif s.kind == "nmr":
        head = "NMR"
    else:
        head = f"{s.actor} {s.routine}" if s.routine else s.actor
    line = f"[{s.index}] {head}: {s.text}{where}"
    if s.fault:
        line += f"\n      !! {s.fault}: {s.fault_msg}"
    return line


def step_lines(s: Step) -> list[str]:
    """A step as the text report prints it: its line and the variables it changed."""
    out = ["  " + step_line(s)]
    if s.changes:
        out.append("      " + ", ".join(f"{n}: {a} -> {b}" for n, a, b in s.changes))
    return out


def describe(
    ts: TransitionSystem, trace: Trace, verbose: bool = False, prop: str | None = None
) -> list[Step]:
    """The steps of ``trace`` with their provenance and the variables each one changed. For
    the trace of spec invariant ``prop``, the last step also says what it breaks."""
    steps = _steps(ts, trace, verbose)
    why = why_violated(ts, prop, trace.states[-1]) if prop and steps else None
    if why is not None:
        last = steps[-1]
        fault = f"{last.fault}, {prop}" if last.fault else prop
        msg = f"{last.fault_msg}; {why}" if last.fault_msg else why
        steps[-1] = replace(last, fault=fault, fault_msg=msg)
    return steps


def _steps(ts: TransitionSystem, trace: Trace, verbose: bool) -> list[Step]:
    steps = []
    for k, a in enumerate(trace.actions):
        act = ts.actions[a]
        m = act.meta
        before, after = trace.states[k], trace.states[k + 1]
        changes = tuple(
            (v.name, v.show(x), v.show(y))
            for v, x, y in zip(ts.vars, before, after)
            if x != y and (verbose or not is_internal(v.name))
        )
        pos = m.get("pos")
        fault, fault_msg = m.get("fault"), m.get("fault_msg", "")
        flags = m.get("flags") or []
        if flags:
            codes = [c for c, _m, _p in flags]
            msgs = [m for _c, m, _p in flags]
            if fault is not None:
                codes.insert(0, fault)
                msgs.insert(0, fault_msg)
            fault, fault_msg = ", ".join(codes), "; ".join(msgs)
            if pos is None or flags[0][2] is not None:
                pos = flags[0][2] or pos
        steps.append(
            Step(
                index=k + 1,
                actor=m.get("actor") or "NMR",
                routine=m.get("routine"),
                text=m.get("text") or act.label,
                status=m.get("status"),
                file=pos.file if pos is not None else None,
                line=pos.line if pos is not None else None,
                binding=m.get("binding"),
                kind=m.get("kind", "step"),
                callee=m.get("callee"),
                fault=fault,
                fault_msg=fault_msg,
                changes=changes,
            )
        )
    return steps
