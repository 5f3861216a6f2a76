"""The command line: thin; each subcommand parses its arguments and returns an exit code.

Exit codes: 0 every property holds, 1 a property is violated, 2 bad input or usage,
3 inconclusive (a limit was reached, a bounded search, or a solver said unknown),
4 internal error (a bug in nmrcheck: please report it), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from nmrcheck import __version__, control, inputs
from nmrcheck.distributed import swarm_cmd, sweep
from nmrcheck.engines.common.results import HANG, PROOF_FAILED, UNKNOWN, CheckResult, PropertyResult
from nmrcheck.engines.explicit.search import Limits
from nmrcheck.engines.run import ENGINES, Plan
from nmrcheck.engines.run import run as run_engines
from nmrcheck.errors import InputError, InternalError
from nmrcheck.ir import TransitionSystem
from nmrcheck.report import outputs
from nmrcheck.traces import replay_cli
from nmrcheck.traces.replay import check_replays

EXIT_OK, EXIT_VIOLATED, EXIT_INPUT, EXIT_INCONCLUSIVE, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
DOT_STATE_LIMIT = 5000
RAY_HELP = ("run each model's check as a Ray task: 'local' starts Ray on this machine's cores, "
            "any other address joins that cluster (docs/distributed.md)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one clear line
        self.print_usage(sys.stderr)
        raise InputError(f"usage: {message}")


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def _seconds(text: str) -> float:
    try:
        return control.check_limit_seconds(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a positive, finite number of seconds: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nmrcheck", description="Model checker for Windows NMR lifecycle designs.")
    p.add_argument("--version", action="version", version=f"nmrcheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def model_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--spec",
            action="append",
            default=[],
            metavar="FILE",
            help="add the properties of a spec file (repeatable)",
        )
        sp.add_argument(
            "--no-bundled-specs", action="store_true", help="do not apply specs/lifecycle.spec"
        )
        sp.add_argument(
            "--max-states",
            type=_positive,
            metavar="N",
            help="stop the explicit search after N states (open properties are then unknown)",
        )
        sp.add_argument(
            "--timeout",
            type=_seconds,
            metavar="SECONDS",
            help="stop after this many seconds, every phase included (open properties are "
            "then unknown)",
        )
        sp.add_argument(
            "--max-memory",
            type=_positive,
            metavar="MIB",
            help="stop when the process uses more than MIB MiB (default: 80%% of this "
            "machine's memory; open properties are then unknown)",
        )
        sp.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="set a knob for an UNSPECIFIED NMR behaviour (docs/obligations.md)",
        )

    c = sub.add_parser("check", help="check the properties of one or more models")
    c.add_argument("models", nargs="+", metavar="MODEL")
    model_args(c)
    c.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="NAME",
        help="report only this property (repeatable)",
    )
    c.add_argument("--json", action="store_true", help="print one JSON object (docs/json.md)")
    c.add_argument(
        "--verbose",
        action="store_true",
        help="show full states per step, and every variable that changes",
    )
    c.add_argument("--no-hang", action="store_true", help="skip hang detection")
    c.add_argument(
        "--symmetry",
        choices=("auto", "off"),
        default="auto",
        help="auto (default): explore one state per permutation of the instances of a "
        "replicated driver (driver X[N]) where that is sound for every property; off",
    )
    c.add_argument(
        "--por",
        choices=("auto", "on", "off"),
        default="off",
        help="partial-order reduction of the safety search where it is sound (not with hang "
        "detection: use --no-hang): off (default: on the bundled designs it costs more than it "
        "saves), auto (stops when it saves little), on",
    )
    c.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr (the default when stderr is a terminal)",
    )
    c.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto (default: explicit search of every property; PDR for the safety "
        "properties left open if the search outgrows the memory), explicit, bmc, induction "
        "or pdr",
    )
    c.add_argument(
        "--depth",
        type=_positive,
        default=40,
        metavar="K",
        help="bound of bmc, and the largest k of induction (default 40)",
    )
    c.add_argument(
        "--certificate",
        metavar="FILE",
        help="write the inductive invariant of each proof as SMT-LIB (re-check: certify)",
    )
    c.add_argument(
        "--continue",
        dest="keep_going",
        action="store_true",
        help="decide every property: go on past the first violation (by default the search "
        "stops there, as SPIN and TLC do, with a shortest counterexample)",
    )
    c.add_argument("--ray", metavar="ADDRESS", help=RAY_HELP)

    c.add_argument(
        "--dump-generated",
        metavar="DIR",
        help="write the Python the explicit engine generates for the model to DIR (one file "
        "per part, each action's label as a comment), to read what the search runs",
    )

    cf = sub.add_parser("certify", help="re-check a saved proof certificate against a model")
    cf.add_argument("certificate", metavar="FILE")
    cf.add_argument("model", metavar="MODEL")
    model_args(cf)
    outputs.add_arguments(c)

    sw = sub.add_parser("swarm", help="many randomised bounded searches for a violation "
                        "(designs too big to exhaust; never a proof)")
    swarm_cmd.add_arguments(sw, _positive, _seconds)

    sp = sub.add_parser("sweep", help="check one model under every knob setting and instance "
                        "count given")
    sweep.add_arguments(sp, _positive, _seconds)

    rp = sub.add_parser("replay", help="re-execute a saved trace (JSON or ITF) on a model")
    replay_cli.add_arguments(rp)

    g = sub.add_parser("graph", help="explore a small model and print its reachable graph")
    g.add_argument("model", metavar="MODEL")
    model_args(g)
    g.add_argument("--dot", action="store_true", help="print the graph as Graphviz DOT")
    g.add_argument("--svg", metavar="FILE", help="draw the graph as SVG (needs Graphviz 'dot')")
    g.add_argument(
        "--property", metavar="NAME", help="highlight the counterexample of this property"
    )
    g.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    _editor_subparsers(sub)
    return p


def _editor_subparsers(sub) -> None:
    """``simulate``, ``new`` and ``lsp`` (issue 18): each module adds its own arguments."""
    from nmrcheck import simulate
    from nmrcheck.lsp import cli as lsp_cli
    from nmrcheck.patterns import cli as new_cli

    simulate.add_arguments(sub.add_parser(
        "simulate", help="one random run of a model (--seed S), or pick each step "
        "(--interactive)"))
    new_cli.add_arguments(sub.add_parser(
        "new", help="start a design from a catalogue pattern (--list shows them)"))
    lsp_cli.add_arguments(sub.add_parser(
        "lsp", help="the language server for editors (LSP over stdio)"))


def _load(args: argparse.Namespace, model: str) -> TransitionSystem:
    from nmrcheck.nmr.load import load
    from nmrcheck.nmr.options import parse_assignments

    options = parse_assignments(args.option)
    return load(model, args.spec, bundled=not args.no_bundled_specs, options=options)


def _progress(err: TextIO, enabled: bool):
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


def cmd_check(args: argparse.Namespace, argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    from nmrcheck.report import json_report, text

    ctl = control.Control(args.timeout, args.max_memory or control.default_memory_mb())
    ctl.progress = _progress(err, args.progress or err.isatty())
    limits = Limits(args.max_states)
    worst = EXIT_OK
    docs = []
    from nmrcheck.distributed.checks import checking

    with checking(args.ray, args.max_memory) as remote, ctl.installed():
        try:  # every model and output path, before any search
            with ctl.abortable(), ctl.timed("load"):
                loaded = (inputs.preflight_check(args) if remote is None else remote.preflight(
                    args, lambda ts, m: _plan(args, ts, limits, err, m)))
        except control.Stopped:
            err.write(f"nmrcheck: {ctl.reason} while loading, exit {EXIT_INCONCLUSIVE}\n")
            return _exit(EXIT_INCONCLUSIVE, ctl.interrupted)
        first = True
        for model in args.models:
            if ctl.interrupted:
                break
            start = 0.0 if first else ctl.elapsed()
            if not first:
                ctl.phases = {}
            first = False
            ts = None
            try:
                with ctl.abortable(), ctl.timed("load"):
                    ts = loaded.pop(model, None) or _load(args, model)
                    _check_names(ts, args.property)
                if remote is None:
                    result = run_engines(ts, _plan(args, ts, limits, err, model))
                else:
                    result = remote.result(model, _plan(args, ts, limits, err, model).notice)
            except control.Stopped as stop:
                result = _stopped_result(ts, stop)
            if ctl.progress is not None and err.isatty():
                err.write("\r\x1b[K")
            if ts is None:  # stopped while loading: nothing to report on
                err.write(f"nmrcheck: {model}: {ctl.reason} while loading\n")
                worst = max(worst, EXIT_INCONCLUSIVE, key=_rank)
                continue
            for r in result.results:
                if r.trace is not None and r.verdict != PROOF_FAILED:
                    check_replays(ts, r.trace)
            if args.certificate:
                _write_certificates(args.certificate, model, result, err)
            result = _select(ts, result, args.property)
            worst = max(worst, result.exit_code, key=_rank)
            code = _exit(worst, ctl.interrupted)
            err.write(summary_line(model, result, ctl.phases, ctl.elapsed() - start, code))
            outputs.write(args, ts, result, model, err)
            if args.json:
                docs.append(json_report.to_dict(ts, result, model))
            else:
                out.write(
                    text.render(
                        ts, result, model, argv, verbose=args.verbose, color=text.use_color(out)
                    )
                )
    if args.json:
        out.write(
            json.dumps(
                {
                    "version": json_report.SCHEMA_VERSION,
                    "tool": f"nmrcheck {__version__}",
                    "exit_code": _exit(worst, ctl.interrupted),
                    "models": docs,
                },
                indent=2,
            )
            + "\n"
        )
    return _exit(worst, ctl.interrupted)


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


def cmd_certify(args: argparse.Namespace, out: TextIO) -> int:
    """Re-check a saved certificate against a model, with a fresh solver."""
    from nmrcheck.engines.symbolic import check_certificate, read_certificate

    inputs.check_readable(args.certificate, "certificate")
    cert = read_certificate(args.certificate)
    ts = _load(args, args.model)
    if cert.property not in {p.name for p in ts.properties}:
        raise InputError(
            f"{args.certificate}: certifies property {cert.property!r}, which "
            f"{args.model} does not have"
        )
    ok, message = check_certificate(ts, cert)
    verdict = "valid" if ok else "INVALID"
    out.write(
        f"{args.certificate}: {verdict} certificate of {cert.property} for {args.model}"
        f"\n  {message}\n"
    )
    return EXIT_OK if ok else EXIT_VIOLATED


def _draw_svg(dot_text: str, path: str) -> None:
    """Run Graphviz on ``dot_text`` and write SVG to ``path``."""
    import shutil
    import subprocess

    exe = shutil.which("dot")
    if exe is None:
        raise InputError("--svg needs Graphviz's 'dot' (apt-get install graphviz); "
                         "--dot prints the DOT text instead")
    proc = subprocess.run([exe, "-Tsvg", "-o", path], input=dot_text, text=True,
                          capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise InputError(f"Graphviz failed: {proc.stderr.strip()[:200]}")


def cmd_graph(args: argparse.Namespace, out: TextIO) -> int:
    from nmrcheck.engines.explicit.graph import to_networkx
    from nmrcheck.engines.explicit.search import explore
    from nmrcheck.report import dot

    inputs.preflight_graph(args)
    ts = _load(args, args.model)
    limit = args.max_states or DOT_STATE_LIMIT
    ex = explore(ts, Limits(limit + 1, args.timeout), keep_edges=True)
    if not ex.complete:
        raise InputError(
            f"{args.model}: more than {limit} states; the graph is for small models "
            "(raise --max-states to draw more)"
        )
    g = to_networkx(ts, ex)
    highlight = None
    if args.property:
        names = [p.name for p in ts.properties]
        if args.property not in names:
            from nmrcheck.nmr.design import suggest

            raise InputError(f"unknown property {args.property!r}{suggest(args.property, names)}")
        pi = names.index(args.property)
        j = ex.found.get(pi)
        if j is not None:
            highlight = []
            while j >= 0:
                highlight.append(j)
                j = ex.parent[j]
            highlight.reverse()
    if args.svg:
        _draw_svg(dot.render(ts, g, highlight), args.svg)
        out.write(f"{args.model}: {g.number_of_nodes()} states drawn to {args.svg}\n")
        return EXIT_OK
    if args.dot:
        text_out = dot.render(ts, g, highlight)
    else:
        import networkx as nx

        sccs = nx.number_strongly_connected_components(g)
        dead = sum(1 for n in g.nodes if g.out_degree(n) == 0)
        text_out = (
            f"{args.model}: {g.number_of_nodes()} states, {g.number_of_edges()} edges, "
            f"{sccs} strongly connected components, {dead} states without successors\n"
        )
    if args.output:
        with outputs.writing(args.output), open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text_out)
    else:
        out.write(text_out)
    return EXIT_OK


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run nmrcheck with ``argv``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
        if args.command == "check":
            return cmd_check(args, argv, out, err)
        if args.command == "swarm":
            return swarm_cmd.run(args, argv, out, err)
        if args.command == "sweep":
            return sweep.run(args, argv, out, err)
        if args.command == "replay":
            return replay_cli.run(args, out, err)
        if args.command == "certify":
            return cmd_certify(args, out)
        if args.command in ("simulate", "new", "lsp"):
            return _editor_command(args, out, err)
        return cmd_graph(args, out)
    except InputError as exc:
        for f in exc.findings:
            err.write(f"{f}\n")
        return EXIT_INPUT
    except KeyboardInterrupt:
        err.write(f"nmrcheck: interrupted, exit {EXIT_INTERRUPTED}\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return outputs.broken_pipe(out)
    except Exception as exc:  # noqa: BLE001 (every escaping exception is reported so)
        what = str(exc) if isinstance(exc, InternalError) else f"{type(exc).__name__}: {exc}"
        err.write(
            f"nmrcheck {__version__}: internal error: {what}\n"
            f"  while running: nmrcheck {' '.join(argv)}\n"
            "  This is a bug in nmrcheck, not in your model; please report it.\n"
        )
        return EXIT_INTERNAL


def _editor_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "simulate":
        from nmrcheck import simulate

        return simulate.run(args, sys.stdin, out)
    if args.command == "new":
        from nmrcheck.patterns import cli as new_cli

        return new_cli.run(args, out)
    from nmrcheck.lsp import cli as lsp_cli

    return lsp_cli.run(args, err)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
