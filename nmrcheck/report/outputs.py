"""Trace files written beside the report (--itf, --mermaid, --sarif, --html).

`add_arguments` adds their options to `nmrcheck check`; `write` writes the files a run asked for.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from nmrcheck.engines.result import CheckResult
from nmrcheck.ir import TransitionSystem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the output-file options to the ``check`` subcommand."""


def write(
    args: argparse.Namespace, ts: TransitionSystem, result: CheckResult, model: str, err: TextIO
) -> None:
    """Write every output file ``args`` asks for, for one checked model."""
