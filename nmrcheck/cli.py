"""The command line: thin; it parses the arguments and hands them to a subcommand of
``nmrcheck.commands``, which returns an exit code.

Exit codes: 0 every property holds, 1 a property is violated, 2 bad input or usage,
3 inconclusive (a limit was reached, a bounded search, or a solver said unknown),
4 internal error (a bug in nmrcheck: please report it), 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from nmrcheck import __version__
from nmrcheck.commands import EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED
from nmrcheck.commands.parser import build_parser
from nmrcheck.errors import InputError, InternalError


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run nmrcheck with ``argv``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser(argv).parse_args(argv)
        return _command(args, argv, out, err)
    except InputError as exc:
        for f in exc.findings:
            err.write(f"{f}\n")
        return EXIT_INPUT
    except KeyboardInterrupt:
        err.write(f"nmrcheck: interrupted, exit {EXIT_INTERRUPTED}\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        from nmrcheck.commands import outputs

        return outputs.broken_pipe(out)
    except Exception as exc:  # noqa: BLE001 (every escaping exception is reported so)
        what = str(exc) if isinstance(exc, InternalError) else f"{type(exc).__name__}: {exc}"
        err.write(
            f"nmrcheck {__version__}: internal error: {what}\n"
            f"  while running: nmrcheck {' '.join(argv)}\n"
            "  This is a bug in nmrcheck, not in your model; please report it.\n"
        )
        return EXIT_INTERNAL


def _command(args: argparse.Namespace, argv: list[str], out: TextIO, err: TextIO) -> int:
    """Run the subcommand; only its own modules are imported (start-up time is part of
    every run)."""
    if args.command == "check":
        from nmrcheck.commands.check import cmd_check

        return cmd_check(args, argv, out, err)
    if args.command == "swarm":
        from nmrcheck.distributed import swarm_cmd

        return swarm_cmd.run(args, argv, out, err)
    if args.command == "sweep":
        from nmrcheck.distributed import sweep

        return sweep.run(args, argv, out, err)
    if args.command == "replay":
        from nmrcheck.commands import replay

        return replay.run(args, out, err)
    if args.command == "certify":
        from nmrcheck.commands.certify import cmd_certify

        return cmd_certify(args, out)
    if args.command in ("simulate", "new", "lsp"):
        return _editor_command(args, out, err)
    from nmrcheck.commands.graph import cmd_graph

    return cmd_graph(args, out)


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
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.exit(code)  # Python's exit waits for them
    # as Python's own exit, but without freeing every object one by one first (about
    # 50 ms after a large search): the operating system takes the memory back at once
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away before the last of the report
        from nmrcheck.commands import outputs

        code = outputs.broken_pipe(sys.stdout)
    except (OSError, ValueError):
        sys.exit(code)  # Python's exit reports what went wrong with the stream
    os._exit(code)
