"""Render check results as text: verdict first, the trace, then how to reproduce it."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from nmrcheck.engines.result import CheckResult, PropertyResult
from nmrcheck.ir import TransitionSystem
from nmrcheck.report.describe import defined_at, hang_message, meaning, ordered
from nmrcheck.traces.steps import Step, describe

VERDICT_WORD = {0: "all properties hold", 1: "VIOLATED", 3: "INCONCLUSIVE"}


def _verdict(r: PropertyResult) -> str:
    v = r.verdict
    if v == "holds" and r.coverage:
        return f"holds ({r.coverage})"
    if v == "holds up to bound":
        return f"holds up to bound {r.bound}"
    if v == "unknown" and r.reason:
        return f"unknown ({r.reason})"
    return v


def step_line(s: Step) -> str:
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


def render_trace(ts: TransitionSystem, r: PropertyResult, verbose: bool = False) -> list[str]:
    out = []
    steps = describe(ts, r.trace, verbose)
    for s in steps:
        out.append("  " + step_line(s))
        if s.changes:
            changed = ", ".join(f"{n}: {a} -> {b}" for n, a, b in s.changes)
            out.append(f"      {changed}")
    if r.trace.loop_start is not None:
        out.append(f"  (the run loops back to step {r.trace.loop_start})")
    return out


def render(
    ts: TransitionSystem,
    result: CheckResult,
    model: str,
    argv: Sequence[str],
    verbose: bool = False,
) -> str:
    """The whole text report of one model."""
    code = result.exit_code
    props = {p.name: p for p in ts.properties}
    lines = [f"{model}: {VERDICT_WORD[code]}"]
    results = ordered(ts, result.results)
    width = max(len(r.property) for r in results) if results else 0
    for r in results:
        lines.append(f"  {r.property:<{width}}  {_verdict(r)}")
    st = result.stats
    scope = "exhaustive" if st.get("complete") else "partial"
    lines.append(
        f"search: {result.engine}, {scope}, {st.get('states', 0)} states, "
        f"{st.get('transitions', 0)} transitions, depth {st.get('depth', 0)}"
    )
    for r in results:
        if r.trace is None or r.verdict not in ("violated", "witnessed"):
            continue
        p = props.get(r.property)
        lines.append("")
        kind = "Witness" if r.verdict == "witnessed" else "Counterexample"
        lines.append(f"{r.verdict}: {r.property}  (defined at {defined_at(p, r.property)})")
        text = meaning(p, r.property)
        if text:
            lines.append(f"  {text}")
        if "blocked_from" in r.stats:
            lines.append(
                f"  {kind}, {len(r.trace)} steps (blocked forever from step "
                f"{r.stats['blocked_from']} on; shortest to there):"
            )
        else:
            lines.append(f"  {kind}, {len(r.trace)} steps (shortest):")
        lines.extend(render_trace(ts, r, verbose))
        for msg in hang_message(ts, r):
            lines.append(f"  {msg}")
        lines.append(f"  Reproduce: {reproduce(argv, model, r.property)}")
    return "\n".join(lines) + "\n"


def reproduce(argv: Sequence[str], model: str, prop: str) -> str:
    """A command that checks just this model and property again."""
    extra = []
    skip = False
    args = list(argv)
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in ("--spec", "--max-states", "--timeout", "--engine", "--depth"):
            extra += [a, args[i + 1]] if i + 1 < len(args) else []
            skip = True
        elif a == "--no-bundled-specs":
            extra.append(a)
    return shlex.join(["nmrcheck", "check", model, *extra, "--property", prop])
