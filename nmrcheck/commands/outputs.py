"""Trace files written beside the report (--itf, --mermaid, --sarif, --html).

`add_arguments` adds their options to `nmrcheck check`; `write` writes the files a run asked for.

File naming (docs/formats.md):

- ``--mermaid FILE``, ``--sarif FILE`` and ``--html FILE`` each write ONE file for the whole run,
  with every model checked (rewritten after each model, so it is complete when the run ends).
- ``--itf FILE`` writes one ITF file per counterexample (an ITF file holds one trace). FILE is
  used as it is when the run checks one model that has exactly one counterexample; otherwise
  each counterexample goes to ``STEM[.MODEL].PROPERTY.itf.json`` beside FILE, where STEM is
  FILE without ``.itf.json`` (or without its last suffix, which replaces ``.itf.json``), MODEL
  (only when several models are checked) is the model's file name without ``.nmr``, and
  PROPERTY is the property name with characters other than letters, digits, ``_``, ``-`` and
  ``.`` replaced by ``_``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nmrcheck.engines.common.results import CheckResult
from nmrcheck.errors import Finding, InputError
from nmrcheck.ir import TransitionSystem

if TYPE_CHECKING:
    from nmrcheck.report.sarif import SarifLog

OPTIONS = ("itf", "mermaid", "sarif", "html")
ITF_SUFFIX = ".itf.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the output-file options to the ``check`` subcommand."""
    g = parser.add_argument_group("trace files (see docs/formats.md)")
    g.add_argument(
        "--itf",
        metavar="FILE",
        help="write each counterexample as an Apalache ITF trace (FILE when there is one, "
        "else STEM[.MODEL].PROPERTY.itf.json); `nmrcheck replay` reads it back",
    )
    g.add_argument(
        "--mermaid",
        metavar="FILE",
        help="write the counterexamples as Mermaid sequence diagrams in one Markdown file",
    )
    g.add_argument("--sarif", metavar="FILE", help="write the violations as one SARIF 2.1.0 log")
    g.add_argument(
        "--html", metavar="FILE", help="write one self-contained HTML report (no network)"
    )


@dataclass
class _Run:
    """What the files of one run hold so far (the run's models are written one by one)."""

    count: int = 0
    mermaid: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    sarif: SarifLog | None = None
    announced: set[str] = field(default_factory=set)


def _run(args: argparse.Namespace) -> _Run:
    run = getattr(args, "_trace_files", None)
    if run is None:
        run = _Run()
        args._trace_files = run
    return run


def check_argv(args: argparse.Namespace) -> list[str]:
    """The options of ``args`` that a reproduction command must repeat."""
    out: list[str] = []
    for s in getattr(args, "spec", None) or []:
        out += ["--spec", s]
    if getattr(args, "no_bundled_specs", False):
        out.append("--no-bundled-specs")
    for o in getattr(args, "option", None) or []:
        out += ["--option", o]
    if getattr(args, "max_states", None):
        out += ["--max-states", str(args.max_states)]
    if getattr(args, "timeout", None):
        out += ["--timeout", f"{args.timeout:g}"]
    return out


def knobs(args: argparse.Namespace) -> dict[str, str]:
    """The ``--option NAME=VALUE`` knobs of ``args`` (checked by the CLI before a model loads)."""
    out = {}
    for item in getattr(args, "option", None) or []:
        name, _, value = item.partition("=")
        out[name.strip()] = value.strip()
    return out


def safe_name(text: str) -> str:
    """``text`` usable in a file name: letters, digits, ``_``, ``-`` and ``.`` only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "_"


def model_tags(models: list[str]) -> list[str]:
    """A distinct file-name tag per model: its file name without ``.nmr`` (numbered when
    two models share a name)."""
    stems = [safe_name(Path(m).name.removesuffix(".nmr")) for m in models]
    return [s if stems.count(s) == 1 else f"{s}-{i + 1}" for i, s in enumerate(stems)]


def itf_paths(base: str, model_tag: str | None, props: list[str]) -> list[str]:
    """The ITF file of each property in ``props`` (see the module docstring)."""
    if model_tag is None and len(props) == 1:
        return [base]
    if base.endswith(ITF_SUFFIX):
        stem = base[: -len(ITF_SUFFIX)]
    else:
        p = Path(base)
        stem = str(p.with_suffix("")) if p.suffix else base
    tag = f".{model_tag}" if model_tag is not None else ""
    return [f"{stem}{tag}.{safe_name(prop)}{ITF_SUFFIX}" for prop in props]


def certificate_path(base: str, prop: str, count: int) -> str:
    """Where the certificate of ``prop`` goes: ``base`` when the run proved one property,
    else ``STEM.PROPERTY.SUFFIX`` beside it, with the property name made a safe file name
    (``error@models/x.nmr:18`` becomes ``error_models_x.nmr_18``)."""
    if count == 1:
        return base
    p = Path(base)
    return str(p.with_name(f"{p.stem}.{safe_name(prop)}{p.suffix or '.smt2'}"))


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away


def broken_pipe(out: TextIO) -> int:
    """The reader of ``out`` went away (``nmrcheck ... | head``): stop quietly; when ``out``
    is the process's stdout, nothing more goes to the closed pipe when Python exits."""
    import os
    import sys

    if out is not sys.stdout:
        return EXIT_BROKEN_PIPE
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


@contextmanager
def writing(path: str) -> Iterator[None]:
    """Turn a failure to write ``path`` into a one-line input error (exit 2)."""
    try:
        yield
    except OSError as exc:
        raise InputError(Finding(path, 0, 0, f"cannot write: {exc.strerror or exc}")) from None


def _save(path: str, content: str, run: _Run, err: TextIO) -> None:
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(content)
    except OSError as exc:
        raise InputError(Finding(path, 0, 0, f"cannot write: {exc.strerror or exc}")) from None
    if path not in run.announced:
        run.announced.add(path)
        err.write(f"nmrcheck: wrote {path}\n")


def write(
    args: argparse.Namespace, ts: TransitionSystem, result: CheckResult, model: str, err: TextIO
) -> None:
    """Write every output file ``args`` asks for, for one checked model."""
    if not any(getattr(args, o, None) for o in OPTIONS):
        return
    # imported only when a file is asked for: start-up time is part of every check
    from nmrcheck.report import html, itf, mermaid, sarif, text

    run = _run(args)
    models = list(getattr(args, "models", None) or [model])
    index = run.count
    run.count += 1
    argv = check_argv(args)
    if getattr(args, "itf", None):
        shown = mermaid.traces(ts, result)
        specs = list(getattr(args, "spec", None) or [])
        tag = model_tags(models)[index] if len(models) > 1 and index < len(models) else None
        if not shown:
            err.write(f"nmrcheck: {model}: no counterexample, no ITF file written\n")
        for r, path in zip(shown, itf_paths(args.itf, tag, [r.property for r in shown])):
            doc = itf.render(ts, r, model, specs, knobs(args))
            _save(path, doc, run, err)
    if getattr(args, "mermaid", None):
        run.mermaid.append(mermaid.render(ts, result, model, level=2))
        doc = "# nmrcheck counterexamples\n\n" + "\n".join(run.mermaid)
        _save(args.mermaid, doc.rstrip("\n") + "\n", run, err)
    if getattr(args, "sarif", None):
        if run.sarif is None:
            run.sarif = sarif.SarifLog()
        run.sarif.add(ts, result, model, lambda m, p: text.reproduce(argv, m, p))
        _save(args.sarif, run.sarif.render(), run, err)
    if getattr(args, "html", None):
        run.html.append(html.model_section(ts, result, model, index, argv))
        title = f"nmrcheck: {model}" if len(models) == 1 else f"nmrcheck: {len(models)} models"
        _save(args.html, html.document(run.html, title), run, err)
