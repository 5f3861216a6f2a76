"""``nmrcheck check MODEL...``: check the properties of each model and report them."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from nmrcheck import __version__, control, inputs
from nmrcheck.commands import EXIT_INCONCLUSIVE, EXIT_INTERRUPTED, EXIT_OK, outputs
from nmrcheck.engines.common.results import HANG, PROOF_FAILED, UNKNOWN, CheckResult, PropertyResult
from nmrcheck.engines.explicit.search import Limits
from nmrcheck.engines.run import Plan
from nmrcheck.engines.run import run as run_engines
from nmrcheck.errors import InputError
from nmrcheck.ir import TransitionSystem
from nmrcheck.traces.replay import check_replays

if TYPE_CHECKING:
    from nmrcheck.distributed.checks import Checks


def load_model(args: argparse.Namespace, model: str) -> TransitionSystem:
    """Load ``model`` with the specs and knobs of ``args``."""
    from nmrcheck.nmr.load import load
    from nmrcheck.nmr.options import parse_assignments

    options = parse_assignments(args.option)
    return load(model, args.spec, bundled=not args.no_bundled_specs, options=options)


def _progress(err: TextIO, enabled: bool) -> Callable[[dict], None] | None:
    """A callback that shows the running phase and its figures on one stderr line, or None."""
    if not enabled:
        return None
    tty = err.isatty()

    def show(f: dict) -> None:
        phase = f.get("phase") or "load"
        if "states" in f and phase == "search":
            secs = f.get("seconds") or 0.0
            rate = f["states"] / secs if secs > 0 else 0.0
            body = (f"{f['states']:,} states, {rate:,.0f} states/s, depth {f['depth']}, "
                    f"queue {f['queue']:,}")
            if f.get("to_go") is not None:
                body += f", about {f['to_go']:,} more"
        elif "done" in f:
            body = f"{f['done']:,} of {f['total']:,} {f.get('unit', 'states')}"
        else:
            body = f"{f.get('elapsed', 0.0):.0f} s"
        line = f"  {phase}: {body}, {control.resident_mb():,.0f} MiB"
        err.write(("\r" + line + "\x1b[K") if tty else line + "\n")
        err.flush()

    return show


def _select(ts: TransitionSystem, result: CheckResult, names: list[str]) -> CheckResult:
    if not names:
        return result
    known = {r.property for r in result.results}
    for n in names:
        if n not in known:
            from nmrcheck.nmr.design import suggest

            raise InputError(f"unknown property {n!r}{suggest(n, sorted(known))}")
    return CheckResult(
        [r for r in result.results if r.property in names], result.engine, result.stats
    )


def summary_line(model: str, result: CheckResult, phases: dict[str, float],
                 seconds: float, code: int) -> str:
    """The closing line on stderr: the figures that vary from run to run (times), each
    phase's time, and the exit code the process returns."""
    st = result.stats
    spent = ", ".join(f"{p} {t:.2f} s" for p, t in phases.items())
    head = f"nmrcheck: {model}: "
    if "states" in st:
        head += f"{st.get('states', 0):,} states, {st.get('transitions', 0):,} transitions; "
    else:
        head += f"{result.engine}; "
    mem = f", peak {st['peak_memory_mb']:,.0f} MiB" if st.get("peak_memory_mb") else ""
    return (f"{head}{spent + '; ' if spent else ''}{seconds:.2f} s in all{mem}, "
            f"exit {code}\n")


def _stopped_result(ts: TransitionSystem | None, stop: control.Stopped) -> CheckResult:
    """The answer of a run stopped before its engines answered (while loading or setting
    up): every property unknown, for the reason it stopped."""
    results = [PropertyResult(p.name, UNKNOWN, "explicit", "partial", reason=stop.reason)
               for p in (ts.properties if ts is not None else [])]
    return CheckResult(results, "explicit", {"complete": False,
                                              "interrupted": stop.interrupted})


def _exit(code: int, interrupted: bool) -> int:
    return EXIT_INTERRUPTED if interrupted else code


@dataclass
class _Run:
    """One ``check`` run: its options, streams and limits, and what it has found so far."""

    args: argparse.Namespace
    argv: Sequence[str]
    out: TextIO
    err: TextIO
    ctl: control.Control
    limits: Limits
    remote: Checks | None
    loaded: dict[str, TransitionSystem] = field(default_factory=dict)
    worst: int = EXIT_OK
    docs: list[dict] = field(default_factory=list)


def cmd_check(args: argparse.Namespace, argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """Check every model of ``args``, print its report; returns the exit code."""
    ctl = control.Control(args.timeout, args.max_memory or control.default_memory_mb())
    ctl.progress = _progress(err, args.progress or err.isatty())
    limits = Limits(args.max_states)
    with _remote(args) as remote, ctl.installed():
        run = _Run(args, argv, out, err, ctl, limits, remote)
        try:  # every model and output path, before any search
            with ctl.abortable(), ctl.timed("load"):
                run.loaded = (inputs.preflight_check(args) if remote is None else
                              remote.preflight(args,
                                               lambda ts, m: _plan(args, ts, limits, err, m)))
        except control.Stopped:
            err.write(f"nmrcheck: {ctl.reason} while loading, exit {EXIT_INCONCLUSIVE}\n")
            return _exit(EXIT_INCONCLUSIVE, ctl.interrupted)
        for i, model in enumerate(args.models):
            if ctl.interrupted:
                break
            start = 0.0 if i == 0 else ctl.elapsed()
            if i:
                ctl.phases = {}
            _check_model(run, model, start)
    if args.json:
        _write_json(out, run.docs, _exit(run.worst, ctl.interrupted))
    return _exit(run.worst, ctl.interrupted)


def _remote(args: argparse.Namespace) -> AbstractContextManager[Checks | None]:
    """The checks on Ray of ``--ray ADDRESS`` (None without it: Ray's side is then not even
    imported, start-up time being part of every check)."""
    if args.ray is None:
        return nullcontext()
    from nmrcheck.distributed.checks import checking

    return checking(args.ray, args.max_memory)


def _search(run: _Run, model: str) -> tuple[TransitionSystem | None, CheckResult]:
    """Load ``model`` (unless preflight did) and answer its properties; the model is None
    when the run stopped while loading it."""
    ts = None
    try:
        with run.ctl.abortable(), run.ctl.timed("load"):
            ts = run.loaded.pop(model, None) or load_model(run.args, model)
            _check_names(ts, run.args.property)
        if run.remote is None:
            return ts, run_engines(ts, _plan(run.args, ts, run.limits, run.err, model))
        return ts, run.remote.result(model, _plan(run.args, ts, run.limits, run.err,
                                                  model).notice)
    except control.Stopped as stop:
        return ts, _stopped_result(ts, stop)


def _check_model(run: _Run, model: str, start: float) -> None:
    """Check one model, write its summary line, files and report (or keep its JSON)."""
    from nmrcheck.report import json_report, text

    args, ctl, err = run.args, run.ctl, run.err
    ts, result = _search(run, model)
    if ctl.progress is not None and err.isatty():
        err.write("\r\x1b[K")
    if ts is None:  # stopped while loading: nothing to report on
        err.write(f"nmrcheck: {model}: {ctl.reason} while loading\n")
        run.worst = max(run.worst, EXIT_INCONCLUSIVE, key=_rank)
        return
    for r in result.results:
        if r.trace is not None and r.verdict != PROOF_FAILED:
            check_replays(ts, r.trace)
    if args.certificate:
        _write_certificates(args.certificate, model, result, err)
    result = _select(ts, result, args.property)
    run.worst = max(run.worst, result.exit_code, key=_rank)
    code = _exit(run.worst, ctl.interrupted)
    err.write(summary_line(model, result, ctl.phases, ctl.elapsed() - start, code))
    outputs.write(args, ts, result, model, err)
    if args.json:
        run.docs.append(json_report.to_dict(ts, result, model))
    else:
        run.out.write(
            text.render(
                ts, result, model, run.argv, verbose=args.verbose, color=text.use_color(run.out)
            )
        )


def _write_json(out: TextIO, docs: list[dict], code: int) -> None:
    """Print the one JSON object of a ``check --json`` run (docs/json.md)."""
    from nmrcheck.report import json_report

    out.write(
        json.dumps(
            {
                "version": json_report.SCHEMA_VERSION,
                "tool": f"nmrcheck {__version__}",
                "exit_code": code,
                "models": docs,
            },
            indent=2,
        )
        + "\n"
    )


def _rank(code: int) -> int:
    return {0: 0, 3: 1, 1: 2}[code]


def _check_names(ts: TransitionSystem, names: Sequence[str]) -> None:
    known = {p.name for p in ts.properties} | {HANG}
    for name in names:
        if name not in known:
            from nmrcheck.nmr.design import suggest

            raise InputError(f"unknown property {name!r}{suggest(name, sorted(known))}")


def _plan(args: argparse.Namespace, ts: TransitionSystem, limits: Limits, err: TextIO,
          model: str) -> Plan:
    want_hang = not args.no_hang and (not args.property or HANG in args.property)
    return Plan(
        engine=args.engine,
        limits=limits,
        depth=args.depth,
        hangs=want_hang,
        properties=tuple(args.property),
        symmetry=args.symmetry,
        cores=args.cores,
        por=args.por,
        keep_going=args.keep_going,
        dump_generated=_dump_dir(args, model),
        notice=lambda text, model=model: err.write(f"nmrcheck: {model}: {text}\n"),
    )


def _dump_dir(args: argparse.Namespace, model: str) -> str | None:
    """Where the generated source of ``model`` goes (one folder per model when several)."""
    if not args.dump_generated or len(args.models) == 1:
        return args.dump_generated
    from pathlib import Path

    return str(Path(args.dump_generated) / Path(model).stem)


def _write_certificates(path: str, model: str, result: CheckResult, err: TextIO) -> None:
    """Write each proof's certificate: to ``path`` when there is one, else beside it."""
    from pathlib import Path

    from nmrcheck.engines.symbolic import write_certificate

    proved = [r for r in result.results if r.certificate is not None]
    if not proved:
        err.write(f"nmrcheck: {model}: no proof, so no certificate written\n")
        return
    for r in proved:
        where = Path(outputs.certificate_path(path, r.property, len(proved)))
        with outputs.writing(str(where)):
            write_certificate(r.certificate, where)
        err.write(f"nmrcheck: certificate of {r.property} written to {where}\n")
