"""Test helpers: run the CLI in-process, compile and check model text."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from nmrcheck.cli import main
from nmrcheck.engines.explicit.checker import check
from nmrcheck.nmr.load import bundled_specs, load_text

ROOT = Path(__file__).resolve().parents[1]


class Run:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    @property
    def json(self):
        return json.loads(self.out)


def run_cli(*argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return Run(code, out.getvalue(), err.getvalue())


def check_all(ts):
    """Every property of ``ts`` decided as ``nmrcheck check --engine explicit --continue``
    decides them: the safety properties, hangs and liveness on one exploration."""
    result, _ = check(ts)
    return result


def check_text(text: str, spec: str | None = None, file: str = "t.nmr"):
    """Compile and check model text; returns ({property: result}, ts)."""
    specs = [(f, Path(f).read_text()) for f in bundled_specs()]
    specs += [("t.spec", spec)] if spec else []
    ts = load_text(text, file, specs)
    result, _ = check(ts)
    return {r.property: r for r in result.results}, ts


def verdicts(text: str, spec: str | None = None) -> dict[str, str]:
    res, _ = check_text(text, spec)
    return {k: r.verdict for k, r in res.items()}


def seeds() -> list[str]:
    return sorted(os.listdir(ROOT / "models" / "seeds"))
