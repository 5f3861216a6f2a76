"""`nmrcheck replay TRACE MODEL`: re-execute a saved trace on a model.

TRACE is an ITF file written by ``check --itf`` or a ``check --json`` report. Each step is
matched against the model's enabled actions (by action label and whole state for ITF, by
description and changes for JSON); the first step that does not replay is reported as
``diverges at step k: why`` (exit 1), followed by the steps that did replay. A trace that
replays is then checked to reach what it was saved for: ``trace replays: reaches violation of
P at step n`` (exit 0), followed by the replayed run, step by step, as ``check`` prints it.
Bad files and options exit 2.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from nmrcheck.commands.types import spec_args
from nmrcheck.engines.common.paths import TooLarge, shortest_path
from nmrcheck.engines.common.results import HANG
from nmrcheck.errors import InputError
from nmrcheck.ir import INVARIANT, LIVENESS_KINDS, Property, TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import evaluate
from nmrcheck.nmr.explain import waits_for
from nmrcheck.nmr.options import parse_assignments
from nmrcheck.traces.load import Divergence, SavedTrace, read, rebuild
from nmrcheck.traces.replay import divergence
from nmrcheck.traces.steps import describe, step_lines

HANG_SEARCH_LIMIT = 50_000  # states explored to confirm that a thread never moves again


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of the ``replay`` subcommand."""
    parser.add_argument("trace", metavar="TRACE", help="an ITF trace or a --json report")
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument(
        "--property",
        metavar="NAME",
        help="replay the trace of this property (a --json report may hold several)",
    )
    spec_args(parser, "add the properties of a spec file (default for ITF: the specs it was "
                      "saved with)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a knob, as for check (default for ITF: the knobs it was saved with)",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Replay ``args.trace`` on ``args.model``; returns the exit code."""
    from nmrcheck.nmr.load import load

    saved = read(args.trace, args.model, args.property)
    specs = list(args.spec) or list(saved[0].specs)
    options = {**dict(saved[0].options), **parse_assignments(args.option)}
    ts = load(args.model, specs, bundled=not args.no_bundled_specs, options=options or None)
    names = {p.name for p in ts.properties} | {HANG}
    for t in saved:
        if t.property is not None and t.property not in names:
            hint = f" (the trace was saved with --spec {' '.join(t.specs)})" if t.specs else ""
            raise InputError(
                f"{args.model} has no property {t.property!r}: if a spec file defines it, "
                f"pass it with --spec{hint}"
            )
    worst = 0
    for t in saved:
        prefix = f"{t.property}: " if len(saved) > 1 else ""
        ok, line, run = replay_one(ts, t)
        out.write(prefix + line + "\n")
        if run is not None and len(run):
            if not ok:
                out.write("  the steps that replay:\n")
            for s in describe(ts, run, prop=t.property if ok else None):
                out.write("\n".join(step_lines(s)) + "\n")
        worst = max(worst, 0 if ok else 1)
    return worst


def replay_one(ts: TransitionSystem, saved: SavedTrace) -> tuple[bool, str, Trace | None]:
    """Replay one saved trace: (confirmed, the line that says so, the run that replayed)."""
    try:
        trace = rebuild(ts, saved)
    except Divergence as d:
        return False, str(d), d.replayed
    why = divergence(ts, trace)
    if why is not None:  # rebuild only takes enabled steps: this would be a bug
        return False, f"diverges at {why}", None
    if saved.property is None:
        return True, f"trace replays: {len(trace)} steps (the file names no property)", trace
    ok, line = reaches(ts, trace, saved.property)
    return ok, line, trace


def reaches(ts: TransitionSystem, trace: Trace, prop: str) -> tuple[bool, str]:
    """Whether the run ``trace`` reaches what ``prop`` forbids (or, if reachable, asks for)."""
    n = len(trace)
    if prop == HANG:
        return _reaches_hang(ts, trace)
    p = next(q for q in ts.properties if q.name == prop)
    if p.kind in LIVENESS_KINDS:
        return _violates_liveness(ts, trace, p)
    want = p.kind != INVARIANT  # an invariant is violated where it is false
    for k, s in enumerate(trace.states):
        if bool(evaluate(p.expr, s)) == want:
            if p.kind == INVARIANT:
                return True, f"trace replays: reaches violation of {prop} at step {k}"
            return True, f"trace replays: reaches {prop} (witnessed) at step {k}"
    word = "never violates" if p.kind == INVARIANT else "never reaches"
    return False, f"trace replays ({n} steps) but {word} {prop}"


def _violates_liveness(ts: TransitionSystem, trace: Trace, p: Property) -> tuple[bool, str]:
    """Whether the lasso ``trace`` is a fair run on which liveness property ``p`` fails."""
    from nmrcheck.engines.common.lasso import lasso_problem

    n, j = len(trace), trace.loop_start
    if j is None:
        return False, f"trace replays ({n} steps) but does not loop, so it cannot violate {p.name}"
    why = ""
    for inst in p.instances():
        why = lasso_problem(ts, inst, trace)
        if why is None:
            stays = j == n and (n == 0 or trace.states[n - 1] != trace.states[n])
            tail = "stays in its last state forever" if stays else f"repeats steps {j} to {n}"
            return True, f"trace replays: violates {p.name} on a fair run of {n} steps that {tail}"
    return False, f"trace replays ({n} steps) but is not a fair run that violates {p.name}: {why}"


def _free(ts: TransitionSystem, s: tuple[int, ...], k: int, mine: list[int]) -> bool:
    """Slot ``k`` is not blocked in ``s``: idle, able to move, or the state is halted."""
    slot = ts.slots[k]
    if s[slot.pc] == slot.idle or evaluate(ts.halted, s):
        return True
    return any(evaluate(ts.actions[a].guard, s) for a in mine)


def blocked_forever(ts: TransitionSystem, s: tuple[int, ...], k: int) -> bool | None:
    """True if slot ``k`` can never move again from ``s``; None if the search limit is hit."""
    mine = [a for a, act in enumerate(ts.actions) if act.slot == k]
    try:
        free = shortest_path(s, lambda u: ((ts.fire(a, u), a) for a in ts.enabled(u)),
                             lambda u: _free(ts, u, k, mine), HANG_SEARCH_LIMIT)
    except TooLarge:
        return None
    return free is None


def _where(ts: TransitionSystem, s: tuple[int, ...], k: int) -> str:
    """``ACTOR is blocked in ROUTINE: STATEMENT (file:line)`` for slot ``k`` in ``s``."""
    slot = ts.slots[k]
    pc = s[slot.pc]
    positions = slot.meta.get("positions", ())
    pos = positions[pc] if pc < len(positions) else None
    at = f" ({pos.file}:{pos.line})" if pos is not None else ""
    why = waits_for(ts, k, s)
    why = f": {why}" if why else ""
    actor = slot.meta.get("actor", slot.name)
    return f"{actor} is blocked forever in {ts.vars[slot.pc].show(pc)}{at}{why}"


def _reaches_hang(ts: TransitionSystem, trace: Trace) -> tuple[bool, str]:
    last = trace.states[-1]
    for k in range(len(ts.slots)):
        if _free(ts, last, k, [a for a, act in enumerate(ts.actions) if act.slot == k]):
            continue
        verdict = blocked_forever(ts, last, k)
        if verdict is None:
            return False, (
                f"trace replays ({len(trace)} steps), but whether {ts.slots[k].name} is blocked "
                f"forever is beyond {HANG_SEARCH_LIMIT} states"
            )
        if not verdict:
            continue
        j = len(trace)
        while j > 0 and blocked_forever(ts, trace.states[j - 1], k):
            j -= 1
        msg = _where(ts, last, k)
        return True, f"trace replays: reaches violation of {HANG} at step {j}: {msg} from there on"
    return False, f"trace replays ({len(trace)} steps) but no routine is blocked forever at its end"
