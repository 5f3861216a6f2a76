"""Render check results as text: verdict first, the trace, then how to reproduce it."""

from __future__ import annotations

import io
import os
import re
import shlex
from collections.abc import Callable, Sequence
from typing import TextIO

from nmrcheck.engines.common.results import CheckResult, PropertyResult
from nmrcheck.ir import TransitionSystem
from nmrcheck.report.describe import defined_at, hang_message, loop_message, meaning, ordered
from nmrcheck.traces.steps import describe, step_line, step_lines

__all__ = ["render", "step_line", "step_lines"]

VERDICT_WORD = {0: "all properties hold", 1: "VIOLATED", 3: "INCONCLUSIVE"}


def search_lines(result: CheckResult) -> list[str]:
    """What the search covered: states for explicit search, the bound or proofs otherwise."""
    st = result.stats
    if result.engine == "swarm":
        return swarm_lines(st.get("swarm", {}))
    if "states" in st:
        scope = "exhaustive" if st.get("complete") else "partial"
        out = [
            f"search: {result.engine}, {scope}, {st.get('states', 0)} states, "
            f"{st.get('transitions', 0)} transitions, depth {st.get('depth', 0)}"
        ]
        sym = st.get("symmetry")
        if sym:
            out.append(symmetry_line(sym))
        por = st.get("por")
        if por and (por.get("used") or por.get("requested") == "on"):
            out.append(por_line(por))
        if st.get("stopped_at_violation"):
            out.append("  (stopped at the first violation; --continue decides every property)")
        handed = st.get("handed_to_pdr")
        if handed:
            out.append(f"  (the search reached the memory limit; pdr decided "
                       f"{len(handed['decided'])} of the {len(handed['tried'])} safety "
                       "properties left open; hangs and liveness need the whole graph)")
            how = proof_methods(result)
            if how:
                out.append(f"  proofs: {how}")
        return out
    if result.engine == "explicit":
        return ["search: explicit, stopped before it began"]
    what = {"bmc": f"bounded model checking to depth {st.get('depth')}",
            "induction": f"k-induction up to k = {st.get('depth')}",
            "pdr": "PDR, every proof re-checked from its certificate"}
    out = [f"search: {result.engine}, {what.get(result.engine, result.engine)}"]
    how = proof_methods(result)
    if how:
        out.append(f"  proofs: {how}")
    if st.get("hangs"):
        out.append(f"  hangs: {st['hangs']}")
    return out


def swarm_lines(sw: dict) -> list[str]:
    """Which run of a swarm met the violation (nmrcheck swarm)."""
    kind = {"dfs": "random-order depth-first", "walk": "random walks",
            "bitstate": "bitstate"}.get(sw.get("kind", ""), sw.get("kind", ""))
    return [f"search: swarm of {sw.get('runs')} randomised runs of depth {sw.get('depth')} "
            f"(seed {sw.get('seed')}); run {sw.get('run')} ({kind}) met the violation",
            "  (the swarm stops at the first violation and proves nothing else)"]


def proof_methods(result: CheckResult) -> str:
    """How the solver's proofs were found, counted by method (``strategy`` of each proof)."""
    counts: dict[str, int] = {}
    for r in result.results:
        if r.coverage == "proved":
            m = str(r.stats.get("strategy", "pdr"))
            counts[m] = counts.get(m, 0) + 1
    names = {"houdini": "invariant inference (Houdini)", "spacer": "Spacer",
             "reachable set": "the reachable set as invariant"}
    return ", ".join(f"{n} by {names.get(m, m)}" for m, n in sorted(counts.items()))


def symmetry_line(sym: dict) -> str:
    """What symmetry reduction did: the groups and orbits, or why it was off."""
    if not sym.get("used"):
        return f"symmetry: off ({sym.get('reason', '')})"
    groups = ", ".join(f"{n} instances of {d}" for d, n in sym["groups"].items())
    return f"symmetry: {groups}, {sym['orbits']:,} orbits stored"


def por_line(por: dict) -> str:
    """What partial-order reduction did, or why it was off."""
    if not por.get("used"):
        return f"partial-order reduction: off ({por.get('reason', '')})"
    line = (
        f"partial-order reduction: followed {por['followed']:,} of {por['enabled']:,} "
        f"enabled transitions in {por['expanded']:,} states"
    )
    if por.get("stopped"):
        line += " (then stopped: it saved too little)"
    if por.get("rerun"):
        line += "; re-run unreduced for shortest counterexamples"
    return line


def _verdict(r: PropertyResult) -> str:
    v = r.verdict
    if v == "holds" and r.coverage:
        if r.engine == "k-induction" and r.stats.get("k"):
            return f"holds ({r.coverage}, {r.stats['k']}-inductive)"
        return f"holds ({r.coverage})"
    if v == "proof failed":
        return f"proof failed ({r.reason})" if r.reason else v
    if v == "holds up to bound":
        return f"holds up to bound {r.bound}"
    if v == "unknown" and r.reason:
        return f"unknown ({r.reason})"
    return v




def state_lines(ts: TransitionSystem, state: Sequence[int], indent: str) -> list[str]:
    """A full state, one line per owner (driver, registration, binding, routine)."""
    groups: dict[str, list[str]] = {}
    for v, x in zip(ts.vars, state):
        owner, _, field = v.name.rpartition(".")
        groups.setdefault(owner, []).append(f"{field} = {v.show(x)}")
    out = []
    for owner, fields in groups.items():
        head = f"{owner}: " if owner else ""
        out.append(f"{indent}{head}{', '.join(fields)}")
    return out


def render_trace(ts: TransitionSystem, r: PropertyResult, verbose: bool = False) -> list[str]:
    out = []
    steps = describe(ts, r.trace, verbose, r.property)
    if verbose:
        out.append("      initial state:")
        out.extend(state_lines(ts, r.trace.states[0], "        "))
    for s in steps:
        out.extend(step_lines(s))
        if verbose:
            out.append(f"      state after [{s.index}]:")
            out.extend(state_lines(ts, r.trace.states[s.index], "        "))
    loop = loop_message(r)
    if loop is not None:
        out.append(f"  ({loop})")
    return out


def render(
    ts: TransitionSystem,
    result: CheckResult,
    model: str,
    argv: Sequence[str],
    verbose: bool = False,
    color: bool = False,
    rerun: Callable[[str], str] | None = None,
) -> str:
    """The whole text report of one model (with terminal colours when ``color``);
    ``rerun(property)``: the reproduction command, when it is not ``check``'s."""
    plain = _render(ts, result, model, argv, verbose, rerun)
    return colorize(plain) if color else plain


def _render(
    ts: TransitionSystem,
    result: CheckResult,
    model: str,
    argv: Sequence[str],
    verbose: bool,
    rerun: Callable[[str], str] | None = None,
) -> str:
    code = result.exit_code
    props = {p.name: p for p in ts.properties}
    lines = [f"{model}: {VERDICT_WORD[code]}"]
    results = ordered(ts, result.results)
    width = max(len(r.property) for r in results) if results else 0
    for r in results:
        lines.append(f"  {r.property:<{width}}  {_verdict(r)}")
    lines.extend(search_lines(result))
    live = result.stats.get("liveness")
    if live:
        n = live["properties"]
        how = ("decided on the search's symmetry-reduced graph" if live.get("reduced")
               else f"by {live['engine']}" if live.get("engine")
               else "decided on the search's graph")
        lines.append(
            f"liveness: {n} propert{'y' if n == 1 else 'ies'} on the fair runs "
            f"({live['fairness_groups']} fairness groups), {how}"
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
        elif r.trace.loop_start is not None:  # a lasso: a liveness counterexample
            if r.stats.get("instance", r.property) != r.property:
                lines.append(f"  For {r.stats['instance']}:")
            lines.append(
                f"  {kind}, {len(r.trace)} steps, then forever as the last line says (a fair run):"
            )
        elif r.engine == "swarm" and not r.stats.get("shortest", True):
            lines.append(f"  {kind}, {len(r.trace)} steps (found by a swarm run and shortened; "
                         "not proved shortest):")
        elif r.stats.get("shortest", True):
            lines.append(f"  {kind}, {len(r.trace)} steps (shortest):")
        else:
            lines.append(f"  {kind}, {len(r.trace)} steps (found by the depth-first probe and "
                         "shortened; not proved shortest: --continue searches breadth first):")
        lines.extend(render_trace(ts, r, verbose))
        for msg in hang_message(ts, r):
            lines.append(f"  {msg}")
        again = rerun(r.property) if rerun else reproduce(argv, model, r.property)
        lines.append(f"  Reproduce: {again}")
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
        if a in ("--spec", "--max-states", "--timeout", "--engine", "--depth", "--option"):
            extra += [a, args[i + 1]] if i + 1 < len(args) else []
            skip = True
        elif a == "--no-bundled-specs":
            extra.append(a)
    return shlex.join(["nmrcheck", "check", model, *extra, "--property", prop])


# -- terminal colours (rich), only when stdout is a terminal ---------------------------------
_STYLES = (
    (r"\bVIOLATED\b|\bviolated\b", "bold red"),
    (r"\bINCONCLUSIVE\b|\bunknown\b.*|\bholds up to bound \d+", "yellow"),
    (r"\ball properties hold\b|\bholds \((exhaustive|proved)\)|\bunreachable\b", "green"),
    (r"\bwitnessed\b", "bold yellow"),
    (r"^  \[\d+\]", "bold"),
    (r"STATUS_[A-Z_]+", "cyan"),
    (r"\(([^()\s]+:\d+)\)$", "dim"),
    (r"!! .*", "bold red"),
    (r"^  Reproduce:", "bold"),
    (r"^search: .*", "dim"),
)


def use_color(out: TextIO) -> bool:
    """Colour only for a terminal (and not when NO_COLOR is set or TERM is dumb)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


def colorize(report: str, width: int | None = None) -> str:
    """The plain report with colours and a rule above each counterexample (rich)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(
        file=io.StringIO(), force_terminal=True, width=width, highlight=False, soft_wrap=True
    )
    lines = report.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("violated: ", "witnessed: ")):
            console.rule(Text(line, style="bold"), align="left", style="red")
            continue
        if not line and i + 1 < len(lines) and lines[i + 1].startswith(("violated: ", "witn")):
            console.print()
            continue
        t = Text(line)
        if i == 0:
            t.stylize("bold")
        for pattern, style in _STYLES:
            for m in re.finditer(pattern, line):
                t.stylize(style, m.start(), m.end())
        console.print(t)
    return console.file.getvalue()
