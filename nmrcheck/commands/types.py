"""Argument types of the command line: whole numbers and seconds, checked as they are read."""

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


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        return control.check_limit_seconds(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a positive, finite number of seconds: {text!r}") from None
