"""``nmrcheck swarm MODEL``: independent randomised searches, each a job with its own seed.

The runs (:mod:`nmrcheck.engines.swarm`) are planned from ``--seed`` alone, submitted at once
(Ray tasks with ``--ray``, else one after the other here) and taken back in run order. The
first run, in that order, that met a violation decides the report: its run is shortened,
proved shortest when a bounded breadth-first search can, replayed, and printed as ``check``
prints a counterexample (exit 1); the runs after it are cancelled. So the same seed gives the
same runs and the same report, with or without Ray. When no run meets one, the report says
what was searched, "not a proof", and the exit code is 3.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from typing import TextIO

from nmrcheck import control, inputs
from nmrcheck.commands.types import knob_arg, spec_args
from nmrcheck.distributed.cluster import Pool, WorkerLost, connect
from nmrcheck.distributed.tasks import swarm_task
from nmrcheck.engines import swarm
from nmrcheck.engines.common.results import HANG, CheckResult
from nmrcheck.engines.explicit import probe
from nmrcheck.engines.explicit.search import safety_view
from nmrcheck.ir import INVARIANT, LIVENESS_KINDS, TransitionSystem
from nmrcheck.traces.replay import check_replays

EXIT_VIOLATED, EXIT_INCONCLUSIVE, EXIT_INTERRUPTED = 1, 3, 130
DEFAULT_RUNS, DEFAULT_DEPTH = 16, 200
NOT_SEARCHED = "not searched by a swarm: it needs the whole graph, as nmrcheck check explores it"


def add_arguments(sp: argparse.ArgumentParser, positive, seconds) -> None:
    """The options of ``nmrcheck swarm``."""
    sp.add_argument("model", metavar="MODEL")
    sp.add_argument("--walks", type=positive, default=DEFAULT_RUNS, metavar="K",
                    help=f"number of independent runs (default {DEFAULT_RUNS}); they take "
                    "the kinds random-order depth-first, random walks, bitstate in turn")
    sp.add_argument("--depth", type=positive, default=DEFAULT_DEPTH, metavar="D",
                    help=f"no run goes deeper than D steps (default {DEFAULT_DEPTH})")
    sp.add_argument("--states", type=positive, default=swarm.RUN_STATES, metavar="N",
                    help=f"states (steps, for walks) each run may visit (default "
                    f"{swarm.RUN_STATES:,})")
    sp.add_argument("--seed", type=int, default=0, metavar="S",
                    help="the swarm's seed: the same seed gives the same runs (default 0)")
    sp.add_argument("--time", type=seconds, metavar="T",
                    help="stop every run after T seconds (the runs then depend on the machine)")
    spec_args(sp)
    knob_arg(sp)
    sp.add_argument("--ray", metavar="ADDRESS",
                    help="run each search as a Ray task: 'local' starts Ray on this machine's "
                    "cores, any other address joins that cluster (docs/distributed.md)")


def run(args: argparse.Namespace, argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """``nmrcheck swarm``; returns the exit code."""
    from nmrcheck.report import text

    ts = inputs.load_models(argparse.Namespace(**{**vars(args), "models": [args.model]}))[
        args.model]
    specs = swarm.plan(args.walks, args.depth, args.seed, args.states)
    start = time.monotonic()
    pool = connect(args.ray)
    ctl = control.Control()
    try:
        with ctl.installed():
            deadline = None if args.time is None else time.time() + args.time
            runs, lost, stop = _gather(pool, ts, specs, deadline)
            found = next((r for r in runs if r.found is not None), None)
            if found is not None:
                result = _violation(ts, found, specs, args)
    finally:
        pool.close()
    if found is not None and not stop:
        out.write(text.render(ts, result, args.model, _check_argv(argv),
                              color=text.use_color(out)))
        code = EXIT_INTERRUPTED if ctl.interrupted else EXIT_VIOLATED
    else:
        out.write(coverage_report(ts, args.model, runs, lost, specs, args.seed, stop))
        code = EXIT_INTERRUPTED if ctl.interrupted else EXIT_INCONCLUSIVE
    err.write(f"nmrcheck: {args.model}: swarm of {len(specs)} runs on {pool.workers} "
              f"worker{'s' if pool.workers > 1 else ''}; {time.monotonic() - start:.2f} s in "
              f"all, exit {code}\n")
    return code


def _gather(pool: Pool, ts: TransitionSystem, specs: list[swarm.RunSpec],
            deadline: float | None) -> tuple[list[swarm.RunResult], list[int], str]:
    """The runs' results in run order, up to the first that met a violation (the later ones
    are cancelled); the runs whose worker died twice; why the swarm stopped early ("")."""
    shared, key = pool.put(ts), uuid.uuid4().hex
    tickets = [pool.submit(swarm_task, shared, key, spec, deadline) for spec in specs]
    runs: list[swarm.RunResult] = []
    lost: list[int] = []
    for k, ticket in enumerate(tickets):
        try:
            r = pool.result(ticket)
        except WorkerLost:
            lost.append(k)
            continue
        except control.Stopped as stopped:
            return runs, lost, stopped.reason
        runs.append(r)
        if r.found is not None:
            pool.cancel(tickets[k + 1:])
            break
        if r.stopped and r.stopped != "time limit reached":
            return runs, lost, r.stopped
    return runs, lost, ""


def _violation(ts: TransitionSystem, run: swarm.RunResult, specs: list[swarm.RunSpec],
               args: argparse.Namespace) -> CheckResult:
    """The report of the first violation: shortened, proved shortest where possible (as
    found, when a stop cuts that short), every trace replayed on the model."""
    target = probe.prepare(ts)
    try:
        with control.current().abortable():
            short, ex = swarm.shortest(target, run.found)
    except control.Stopped:
        short, ex = run.found, None
    names = [p.name for p in safety_view(ts).properties]
    others = {p.name: NOT_SEARCHED for p in ts.properties if p.kind in LIVENESS_KINDS}
    others[HANG] = NOT_SEARCHED
    stats = {"swarm": {"runs": len(specs), "depth": args.depth, "seed": args.seed,
                       "run": run.index, "kind": run.kind, "states_per_run": args.states}}
    result = swarm.violation_result(target, short, ex, names, others, stats)
    for r in result.results:
        if r.trace is not None:
            check_replays(ts, r.trace)
    return result


def _check_argv(argv: Sequence[str]) -> list[str]:
    """The part of the swarm's command line that a ``check`` reproduction keeps."""
    return [a for a in argv if a != "swarm"]


def coverage_report(ts: TransitionSystem, model: str, runs: list[swarm.RunResult],
                    lost: list[int], specs: list[swarm.RunSpec], seed: int, stop: str) -> str:
    """What a swarm that met no violation searched: never ``holds``."""
    done = len(runs)
    depth = specs[0].depth if specs else 0
    distinct = swarm.distinct_states(tuple(r.sketch for r in runs))
    cut = sum(1 for r in runs if r.stopped)
    kinds = {k: sum(1 for r in runs if r.kind == k) for k in swarm.KINDS}
    invariants = sum(1 for p in ts.properties if p.kind == INVARIANT)
    lines = [f"{model}: INCONCLUSIVE",
             f"  no violation in {done} run{'s' if done != 1 else ''} of depth {depth}, "
             f"covering about {swarm.about(distinct)} distinct states; not a proof",
             f"search: swarm, seed {seed}: " + ", ".join(
                 f"{n} {swarm.KIND_WORDS[k]}" for k, n in kinds.items() if n)
             + f"; at most {specs[0].budget:,} states a run" if specs else "search: swarm",
             f"  {sum(r.visited for r in runs):,} states visited in all (with repeats)",
             f"  looked for: the {invariants} invariants (obligations, built-in properties and "
             "specs); hangs and liveness need the whole graph (nmrcheck check)"]
    if cut:
        lines.append(f"  {cut} run{'s were' if cut != 1 else ' was'} cut short by the time limit")
    if lost:
        lines.append(f"  runs lost (their worker died twice): {', '.join(map(str, lost))}")
    if stop:
        lines.append(f"  stopped: {stop}; {len(specs) - done - len(lost)} runs not done")
    return "\n".join(lines) + "\n"
