"""``nmrcheck new PATTERN FILE`` and ``nmrcheck new --list``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from nmrcheck import patterns
from nmrcheck.errors import Finding, InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", metavar="PATTERN")
    p.add_argument("file", nargs="?", metavar="FILE", help="the design to write (.nmr)")
    p.add_argument("--list", action="store_true", help="list the patterns")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """List the patterns, or write FILE from PATTERN; returns the exit code."""
    if args.list:
        width = max(len(n) for n in patterns.names())
        for p in patterns.PATTERNS:
            out.write(f"{p.name:<{width}}  {p.summary} (models/{p.model})\n")
        return 0
    if not args.pattern or not args.file:
        raise InputError("usage: nmrcheck new PATTERN FILE (nmrcheck new --list shows the "
                         "patterns)")
    pat = patterns.find(args.pattern)
    text = patterns.render(pat, args.file)
    _write(Path(args.file), text, args.force)
    out.write(f"{args.file}: new design from pattern {pat.name}; check it with: "
              f"nmrcheck check {args.file}\n")
    return 0


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise InputError(Finding(str(path), 0, 0, "already exists (pass --force to "
                                 "overwrite it)"))
    if path.is_dir():
        raise InputError(Finding(str(path), 0, 0, "is a folder; give a file name"))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(Finding(str(path), 0, 0,
                                 f"cannot write: {exc.strerror or exc}")) from None
