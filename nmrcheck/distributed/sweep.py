"""``nmrcheck sweep MODEL``: one design under every knob setting and instance count.

``--option NAME=V1,V2`` and ``--instances DRIVER=2..6`` (each repeatable) span a grid of
configurations, taken in a fixed order (the product of the axes in command-line order, each
axis's values in the order given). Every configuration is loaded first (a bad value is exit 2
before anything is checked), each check is one job (a Ray task with ``--ray``), and the
reports are printed in the grid's order, then one summary line per configuration: the same
bytes with or without Ray.

An instance count is set by rewriting the ``driver NAME[N]`` declaration on its own line of
the model text, so every other line, and every position a report names, stays where it is.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
from collections.abc import Sequence
from typing import TextIO

from nmrcheck import control
from nmrcheck.commands.types import spec_args
from nmrcheck.distributed.checks import CompiledChecks
from nmrcheck.distributed.cluster import connect
from nmrcheck.engines.common.checker import Limits
from nmrcheck.engines.common.results import HANG, PROOF_FAILED, CheckResult
from nmrcheck.engines.run import ENGINES, Plan
from nmrcheck.errors import InputError
from nmrcheck.ir import TransitionSystem
from nmrcheck.lang.parser import parse_model, read_source
from nmrcheck.nmr.design import MAX_INSTANCES, suggest
from nmrcheck.nmr.load import bundled_specs, load_text
from nmrcheck.traces.replay import check_replays

VERDICT = {0: "holds", 1: "VIOLATED", 3: "INCONCLUSIVE"}
RANK = {0: 0, 3: 1, 1: 2}
EXIT_INTERRUPTED = 130

Axis = tuple[str, str, tuple[str, ...]]  # ("option" | "instances", name, values)


def add_arguments(sp: argparse.ArgumentParser, positive, seconds) -> None:
    """The options of ``nmrcheck sweep``."""
    sp.add_argument("model", metavar="MODEL")
    sp.add_argument("--option", action="append", default=[], metavar="NAME=V1,V2",
                    help="a knob and the values to check it with (repeatable)")
    sp.add_argument("--instances", action="append", default=[], metavar="DRIVER=LO..HI",
                    help="instance counts of a replicated driver: 2..6, or 2,4 (repeatable)")
    spec_args(sp)
    sp.add_argument("--property", action="append", default=[], metavar="NAME",
                    help="report only this property (repeatable)")
    sp.add_argument("--engine", choices=ENGINES, default="auto", help="as for check")
    sp.add_argument("--depth", type=positive, default=40, metavar="K", help="as for check")
    sp.add_argument("--no-hang", action="store_true", help="skip hang detection")
    sp.add_argument("--continue", dest="keep_going", action="store_true",
                    help="decide every property, past the first violation")
    sp.add_argument("--max-states", type=positive, metavar="N", help="as for check")
    sp.add_argument("--timeout", type=seconds, metavar="SECONDS",
                    help="stop the whole sweep after this many seconds")
    sp.add_argument("--max-memory", type=positive, metavar="MIB",
                    help="stop a check whose process uses more than MIB MiB")
    sp.add_argument("--ray", metavar="ADDRESS",
                    help="run each configuration's check as a Ray task: 'local' starts Ray "
                    "on this machine's cores, any other address joins that cluster")


def axes(args: argparse.Namespace) -> list[Axis]:
    """The grid's axes from ``--option`` and ``--instances``, in command-line order."""
    out: list[Axis] = []
    for item in args.option:
        name, sep, values = item.partition("=")
        vals = tuple(v.strip() for v in values.split(",") if v.strip())
        if not sep or not name.strip() or not vals:
            raise InputError(f"usage: --option takes NAME=V1,V2,..., not {item!r}")
        out.append(("option", name.strip(), vals))
    for item in args.instances:
        name, sep, counts = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"usage: --instances takes DRIVER=LO..HI or DRIVER=N,M, "
                             f"not {item!r}")
        out.append(("instances", name.strip(), tuple(map(str, _counts(item, counts)))))
    names = [(kind, name) for kind, name, _ in out]
    for key in names:
        if names.count(key) > 1:
            raise InputError(f"usage: --{key[0]} {key[1]} is given twice")
    return out


def _counts(item: str, text: str) -> list[int]:
    lo, dots, hi = text.partition("..")
    try:
        vals = (list(range(int(lo), int(hi) + 1)) if dots
                else [int(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise InputError(f"usage: --instances takes DRIVER=LO..HI or DRIVER=N,M, "
                         f"not {item!r}") from None
    if not vals or any(not 1 <= v <= MAX_INSTANCES for v in vals):
        raise InputError(f"usage: --instances {item!r}: counts must be 1..{MAX_INSTANCES}")
    return vals


def configurations(grid: list[Axis]) -> list[tuple[tuple[str, str, str], ...]]:
    """Every point of the grid, in its fixed order: ((kind, name, value), ...)."""
    return [tuple((k, n, v) for (k, n, _), v in zip(grid, point))
            for point in itertools.product(*(vals for _, _, vals in grid))]


def label(config: Sequence[tuple[str, str, str]]) -> str:
    """``detach_order=any, Client=3``."""
    return ", ".join(f"{n}={v}" for _, n, v in config)


def with_instances(text: str, file: str, counts: dict[str, int]) -> str:
    """``text`` with ``driver NAME[N]`` declared for each of ``counts``, on the same lines."""
    if not counts:
        return text
    model = parse_model(text, file)
    lines = text.splitlines(keepends=True)
    drivers = {d.name: d for d in model.drivers}
    for name, n in counts.items():
        d = drivers.get(name)
        if d is None:
            raise InputError(f"--instances: {file} has no driver {name!r}"
                             f"{suggest(name, sorted(drivers))}")
        i = d.pos.line - 1
        pattern = rf"\bdriver\s+{re.escape(name)}\b(\s*\[\s*\d+\s*\])?"
        new, k = re.subn(pattern, f"driver {name}[{n}]", lines[i], count=1)
        if k != 1:
            raise InputError(f"--instances: cannot find the declaration of driver {name!r} "
                             f"on line {d.pos.line} of {file}")
        lines[i] = new
    return "".join(lines)


def _load(args: argparse.Namespace, text: str,
          config: Sequence[tuple[str, str, str]]) -> TransitionSystem:
    """The model of one configuration: its instance counts in the text, its knobs set."""
    options = {n: v for k, n, v in config if k == "option"}
    counts = {n: int(v) for k, n, v in config if k == "instances"}
    files = (bundled_specs() if not args.no_bundled_specs else []) + list(args.spec)
    specs = [(f, read_source(f)) for f in files]
    return load_text(with_instances(text, args.model, counts), args.model, specs, options)


def _plan(args: argparse.Namespace) -> Plan:
    return Plan(engine=args.engine, limits=Limits(args.max_states), depth=args.depth,
                hangs=not args.no_hang and (not args.property or HANG in args.property),
                properties=tuple(args.property), keep_going=args.keep_going)


def rerun(args: argparse.Namespace, config: Sequence[tuple[str, str, str]], prop: str) -> str:
    """The command that checks one configuration's property again."""
    cmd = ["nmrcheck", "sweep", args.model]
    for kind, name, value in config:
        cmd += [f"--{kind}", f"{name}={value}"]
    for spec in args.spec:
        cmd += ["--spec", spec]
    if args.no_bundled_specs:
        cmd.append("--no-bundled-specs")
    if args.engine != "auto":
        cmd += ["--engine", args.engine]
    return shlex.join(cmd + ["--property", prop])


def run(args: argparse.Namespace, argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """``nmrcheck sweep``; returns the exit code."""
    from nmrcheck.report import text as text_report

    grid = axes(args)
    body = read_source(args.model)
    configs = configurations(grid)
    systems = [(c, _load(args, body, c)) for c in configs]  # all of them, before any check
    for _, ts in systems:
        _known_properties(ts, args.property)
    pool = connect(args.ray)
    ctl = control.Control(args.timeout, args.max_memory or control.default_memory_mb())
    worst, rows = 0, []
    try:
        with ctl.installed():
            checks = CompiledChecks(pool, args.max_memory)
            for c, ts in systems:
                checks.submit(label(c), ts, _plan(args))
            for c, ts in systems:
                result = _answer(checks, c, ts, args, err)
                code = result.exit_code
                worst = max(worst, code, key=RANK.__getitem__)
                rows.append((label(c), code))
                out.write(text_report.render(
                    ts, result, f"{args.model} [{label(c)}]", argv,
                    color=text_report.use_color(out),
                    rerun=lambda prop, c=c: rerun(args, c, prop)))
                out.write("\n")
                if ctl.interrupted:
                    break
    finally:
        pool.close()
    out.write(summary(args.model, rows))
    code = EXIT_INTERRUPTED if ctl.interrupted else worst
    err.write(f"nmrcheck: {args.model}: sweep of {len(configs)} configurations on "
              f"{pool.workers} worker{'s' if pool.workers > 1 else ''}; "
              f"{ctl.elapsed():.2f} s in all, exit {code}\n")
    return code


def _answer(checks: CompiledChecks, config: Sequence[tuple[str, str, str]], ts: TransitionSystem,
            args: argparse.Namespace, err: TextIO) -> CheckResult:
    """One configuration's answer, its traces replayed, only the properties asked for."""
    name = label(config)
    try:
        result = checks.result(name, lambda t: err.write(f"nmrcheck: {args.model} [{name}]: "
                                                         f"{t}\n"))
    except control.Stopped as stop:
        from nmrcheck.distributed.tasks import stopped_result

        result = stopped_result(ts, _plan(args), stop.reason, stop.interrupted)
    for r in result.results:
        if r.trace is not None and r.verdict != PROOF_FAILED:
            check_replays(ts, r.trace)
    if args.property:
        result = CheckResult([r for r in result.results if r.property in args.property],
                             result.engine, result.stats)
    return result


def _known_properties(ts: TransitionSystem, names: Sequence[str]) -> None:
    known = {p.name for p in ts.properties} | {HANG}
    for name in names:
        if name not in known:
            raise InputError(f"unknown property {name!r}{suggest(name, sorted(known))}")


def summary(model: str, rows: list[tuple[str, int]]) -> str:
    """One line per configuration, in the grid's order."""
    width = max((len(r) for r, _ in rows), default=0)
    lines = [f"sweep: {model}, {len(rows)} configuration{'s' if len(rows) != 1 else ''}"]
    lines += [f"  {name:<{width}}  {VERDICT[code]}" for name, code in rows]
    return "\n".join(lines) + "\n"
