"""Argument types of the command line (whole numbers and seconds, checked as they are read)
and the model-input options that several subcommands share."""

from __future__ import annotations

import argparse

from nmrcheck import control


def positive(text: str) -> int:
    """A positive whole number."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def cores(text: str) -> int:
    """1 or 2: the processes the explicit engine may use."""
    v = positive(text)
    if v > 2:
        raise argparse.ArgumentTypeError(f"the explicit engine uses at most 2 processes: {text!r}")
    return v


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        return control.check_limit_seconds(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a positive, finite number of seconds: {text!r}") from None


def spec_args(p: argparse.ArgumentParser,
              spec_help: str = "add the properties of a spec file (repeatable)") -> None:
    """``--spec FILE`` (repeatable) and ``--no-bundled-specs``."""
    p.add_argument("--spec", action="append", default=[], metavar="FILE", help=spec_help)
    p.add_argument("--no-bundled-specs", action="store_true",
                   help="do not apply specs/lifecycle.spec")


def knob_arg(p: argparse.ArgumentParser) -> None:
    """``--option NAME=VALUE`` (repeatable): a knob for an UNSPECIFIED NMR behaviour."""
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="set a knob for an UNSPECIFIED NMR behaviour (docs/obligations.md)")
