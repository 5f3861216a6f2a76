"""The argument parser of ``nmrcheck``: every subcommand and its options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from nmrcheck import __version__
from nmrcheck.commands.types import cores as _cores
from nmrcheck.commands.types import positive as _positive
from nmrcheck.commands.types import seconds as _seconds
from nmrcheck.commands.types import spec_args
from nmrcheck.engines.run import ENGINES
from nmrcheck.errors import InputError

RAY_HELP = ("run each model's check as a Ray task: 'local' starts Ray on this machine's cores, "
            "any other address joins that cluster (docs/distributed.md)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one clear line
        self.print_usage(sys.stderr)
        raise InputError(f"usage: {message}")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``nmrcheck``: one subparser per subcommand.

    With ``argv``, only the subcommand it names gets its options, so only that command's
    modules are imported (start-up time is part of every run); ``nmrcheck --help`` lists
    the subcommands from their one-line help either way."""
    p = _Parser(prog="nmrcheck", description="Model checker for Windows NMR lifecycle designs.")
    p.add_argument("--version", action="version", version=f"nmrcheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    named = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, help_, options in _COMMANDS:
        sp = sub.add_parser(name, help=help_)
        if named is None or named == name:
            options(sp)
    return p


def _check(c: argparse.ArgumentParser) -> None:
    from nmrcheck.commands import outputs

    c.add_argument("models", nargs="+", metavar="MODEL")
    _model_args(c)
    _check_report_args(c)
    _check_search_args(c)
    outputs.add_arguments(c)


def _certify(cf: argparse.ArgumentParser) -> None:
    cf.add_argument("certificate", metavar="FILE")
    cf.add_argument("model", metavar="MODEL")
    _model_args(cf)


def _swarm(sw: argparse.ArgumentParser) -> None:
    from nmrcheck.distributed import swarm_cmd

    swarm_cmd.add_arguments(sw, _positive, _seconds)


def _sweep(sp: argparse.ArgumentParser) -> None:
    from nmrcheck.distributed import sweep

    sweep.add_arguments(sp, _positive, _seconds)


def _replay(rp: argparse.ArgumentParser) -> None:
    from nmrcheck.commands import replay

    replay.add_arguments(rp)


def _model_args(sp: argparse.ArgumentParser) -> None:
    """The options of every subcommand that loads a model: specs, limits and knobs."""
    spec_args(sp)
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


def _check_report_args(c: argparse.ArgumentParser) -> None:
    """The options of ``check`` that choose what it reports and how."""
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


def _check_search_args(c: argparse.ArgumentParser) -> None:
    """The options of ``check`` that choose how it searches."""
    c.add_argument(
        "--symmetry",
        choices=("auto", "off"),
        default="auto",
        help="auto (default): explore one state per permutation of the instances of a "
        "replicated driver (driver X[N]) where that is sound for every property; off",
    )
    c.add_argument(
        "--cores",
        type=_cores,
        default=0,
        metavar="N",
        help="processes the explicit engine may use: 1, or 2 (default: 2 where the machine "
        "has two cores; the result is the same)",
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


def _graph(g: argparse.ArgumentParser) -> None:
    g.add_argument("model", metavar="MODEL")
    _model_args(g)
    g.add_argument("--dot", action="store_true", help="print the graph as Graphviz DOT")
    g.add_argument("--svg", metavar="FILE", help="draw the graph as SVG (needs Graphviz 'dot')")
    g.add_argument(
        "--property", metavar="NAME", help="highlight the counterexample of this property"
    )
    g.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


# ``simulate``, ``new`` and ``lsp`` (issue 18): each module adds its own arguments
def _simulate(sp: argparse.ArgumentParser) -> None:
    from nmrcheck import simulate

    simulate.add_arguments(sp)


def _new(sp: argparse.ArgumentParser) -> None:
    from nmrcheck.patterns import cli as new_cli

    new_cli.add_arguments(sp)


def _lsp(sp: argparse.ArgumentParser) -> None:
    from nmrcheck.lsp import cli as lsp_cli

    lsp_cli.add_arguments(sp)


_COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None]]] = [
    ("check", "check the properties of one or more models", _check),
    ("certify", "re-check a saved proof certificate against a model", _certify),
    ("swarm", "many randomised bounded searches for a violation (designs too big to exhaust; "
     "never a proof)", _swarm),
    ("sweep", "check one model under every knob setting and instance count given", _sweep),
    ("replay", "re-execute a saved trace (JSON or ITF) on a model", _replay),
    ("graph", "explore a small model and print its reachable graph", _graph),
    ("simulate", "one random run of a model (--seed S), or pick each step (--interactive)",
     _simulate),
    ("new", "start a design from a catalogue pattern (--list shows them)", _new),
    ("lsp", "the language server for editors (LSP over stdio)", _lsp),
]
