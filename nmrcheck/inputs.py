"""Checks of a run's files before any search starts.

A run fails fast: every model and spec is read, parsed and compiled, and every file the run
will write is checked to be writable, before the first state is explored. A mistake in the
last of several models, or an output folder that does not exist, is then a one-line
``file: error: ...`` with exit 2 at once, not after a long search.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from nmrcheck.errors import Finding, InputError
from nmrcheck.ir import TransitionSystem

OUTPUT_OPTIONS = ("certificate", "itf", "mermaid", "sarif", "html")
MAX_INPUT_BYTES = 64 * 1024 * 1024


def _bad(path: str, why: str) -> InputError:
    return InputError(Finding(path, 0, 0, why))


def check_writable(path: str, option: str) -> None:
    """Raise InputError unless a file can be written at ``path`` (given with ``option``)."""
    p = Path(path)
    if p.is_dir():
        raise _bad(path, f"cannot write ({option}): it is a folder; give a file name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise _bad(path, f"cannot write ({option}): folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _bad(path, f"cannot write ({option}): folder {str(folder)!r} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise _bad(path, f"cannot write ({option}): the file is read-only")


def check_readable(path: str, what: str) -> str:
    """The UTF-8 text of the ``what`` file ``path``, or InputError with one line."""
    p = Path(path)
    try:
        if p.is_dir():
            raise _bad(path, f"is a folder, not a {what}")
        data = p.read_bytes()
    except FileNotFoundError:
        raise _bad(path, "no such file") from None
    except OSError as exc:
        raise _bad(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise _bad(path, f"file is larger than {MAX_INPUT_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(path, f"not a {what}: not UTF-8 text") from None


def knob_options(args: argparse.Namespace) -> dict[str, str]:
    """The ``--option NAME=VALUE`` knobs of ``args``; a malformed one is a usage error."""
    from nmrcheck.nmr.options import parse_assignments

    return parse_assignments(getattr(args, "option", None) or [])


def check_outputs(args: argparse.Namespace) -> None:
    """Every output file ``check`` was asked to write can be written."""
    for name in OUTPUT_OPTIONS:
        path = getattr(args, name, None)
        if path:
            check_writable(path, f"--{name}")


def load_models(args: argparse.Namespace) -> dict[str, TransitionSystem]:
    """Every model of ``args.models``, compiled with its specs and knobs (InputError at the
    first bad one, before anything is searched)."""
    from nmrcheck.nmr.load import load

    options = knob_options(args)
    bundled = not getattr(args, "no_bundled_specs", False)
    loaded: dict[str, TransitionSystem] = {}
    for model in args.models:
        if model not in loaded:
            loaded[model] = load(model, list(args.spec), bundled=bundled, options=options)
    return loaded


def preflight_check(args: argparse.Namespace) -> dict[str, TransitionSystem]:
    """For ``nmrcheck check``: the output files, then every model; returns the models."""
    check_outputs(args)
    return load_models(args)


def preflight_graph(args: argparse.Namespace) -> None:
    """For ``nmrcheck graph``: the files it will write."""
    for option, path in (("-o", args.output), ("--svg", getattr(args, "svg", None))):
        if path:
            check_writable(path, option)
