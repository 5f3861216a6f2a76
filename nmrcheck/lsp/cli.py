"""``nmrcheck lsp``: start the language server on stdin and stdout (pygls is imported only
here, so the other commands work without it)."""

from __future__ import annotations

import argparse
from typing import TextIO

from nmrcheck.errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stdio", action="store_true",
                   help="speak LSP on stdin and stdout (the default and only transport)")


def run(args: argparse.Namespace, err: TextIO) -> int:
    try:
        from nmrcheck.lsp.server import serve
    except ImportError as exc:
        raise InputError(f"nmrcheck lsp needs pygls ({exc}): pip install 'pygls>=2'") from None
    serve()
    return 0
