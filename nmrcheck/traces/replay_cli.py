"""`nmrcheck replay TRACE MODEL`: re-execute a saved trace on a model."""

from __future__ import annotations

import argparse
from typing import TextIO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of the ``replay`` subcommand."""
    parser.add_argument("trace", metavar="TRACE")
    parser.add_argument("model", metavar="MODEL")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Replay ``args.trace`` on ``args.model``; returns the exit code."""
    from nmrcheck.errors import InputError

    raise InputError("replay is not implemented yet")
