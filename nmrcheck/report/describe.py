"""What a report says about a property: where it is defined and what it means."""

from __future__ import annotations

from nmrcheck.engines.common.results import HANG, PropertyResult
from nmrcheck.ir import Property, TransitionSystem
from nmrcheck.nmr.explain import waits_for


def defined_at(p: Property | None, name: str) -> str:
    """Where a property comes from: a spec line, a model line, or nmr-semantics.md."""
    if p is None:
        return "built in (hang detection)" if name == HANG else "?"
    m = p.meta
    kind = m.get("kind")
    if kind == "spec" or kind in ("assert", "error"):
        pos = m["pos"]
        return f"{pos.file}:{pos.line}"
    if kind == "obligation":
        return f"nmr-semantics.md {m.get('section', '§5')} {p.name}"
    return "built in"


def meaning(p: Property | None, name: str) -> str:
    if p is None:
        return "no routine is blocked forever (a wait or await that can never return)"
    return p.meta.get("doc") or p.meta.get("text", "")


def hang_message(ts: TransitionSystem, r: PropertyResult) -> list[str]:
    """One line per thread that is blocked forever in the last state of a hang trace."""
    if r.trace is None:
        return []
    last = r.trace.states[-1]
    out = []
    for k in r.stats.get("blocked_slots", []):
        slot = ts.slots[k]
        pc = last[slot.pc]
        label = ts.vars[slot.pc].show(pc)
        pos = (
            slot.meta.get("positions", ())[pc] if pc < len(slot.meta.get("positions", ())) else None
        )
        where = f" ({pos.file}:{pos.line})" if pos is not None else ""
        why = waits_for(ts, k, last)
        why = f": {why}" if why else ""
        out.append(
            f"{slot.meta.get('actor', slot.name)} is blocked forever in {label}{where}{why}"
        )
    return out


def loop_message(r: PropertyResult) -> str | None:
    """How a lasso counterexample goes on forever after its last step (None: not a lasso)."""
    t = r.trace
    if t is None or t.loop_start is None:
        return None
    n = len(t)
    if r.stats.get("stutter"):
        return (
            f"after step {n} the run stays in this state forever: no thread can move and NMR "
            "has nothing to do; only the environment could act (the OS, a task), and it need not"
        )
    j = t.loop_start
    steps = f"step {j}" if j == n else f"steps {j} to {n}"
    return f"the run loops back to step {j}: {steps} repeat forever"


def ordered(ts: TransitionSystem, results: list[PropertyResult]) -> list[PropertyResult]:
    """Spec properties first, then obligations and assertions, then hang freedom."""
    props = {p.name: p for p in ts.properties}

    def rank(r: PropertyResult) -> tuple[int, int]:
        p = props.get(r.property)
        if p is None:
            return (2, 0)
        return (0 if p.meta.get("kind") == "spec" else 1, ts.properties.index(p))

    return sorted(results, key=rank)
