"""Test helpers: run the CLI in-process, compile and check model text."""

from __future__ import annotations

import functools
import io
import json
import os
from pathlib import Path

import pytest

from nmrcheck.cli import main
from nmrcheck.engines.explicit.checker import check
from nmrcheck.nmr.load import bundled_specs, load_text

ROOT = Path(__file__).resolve().parents[1]

# The designs and their mutants (models/designs; 13,000 to 41,000 states for D1, D2 and D4, and
# D3's long runs) cost a catalogue-wide test 0.5 to 13 s each: they run in the full suite
# only, and the small D5 family (under 500 states) stands for the designs in the fast tier
# (-m "not slow").
SMALL_DESIGNS = ("d5-",)


def heavy_design(path: Path) -> bool:
    """A design of models/designs too large for the fast tier (a new family is, by default)."""
    return path.parent.name == "designs" and not path.name.startswith(SMALL_DESIGNS)


def heavy_model(path: Path) -> bool:
    """A catalogue model a search costs more than about half a second on, twice over in the
    sweeps that compare two searches: the large designs, the progcons patterns and the docs'
    models (1,000 to 8,000 states)."""
    return (heavy_design(path) or path.parent.name in ("patterns", "docs")
            or "progcons" in path.stem)


def sweep_slow(path: Path) -> bool:
    """For a catalogue-wide sweep: the heavy models and the 38 small obligation models (whose
    obligations tests/test_docs_claims.py checks in the fast tier) run in the full suite only;
    the seeds, bugs, liveness models and small designs stand for the catalogue in the fast
    tier."""
    return heavy_model(path) or path.parent.name == "obligations"


def model_params(paths, slow=heavy_design) -> list:
    """``paths`` as pytest parameters named by their path from the root; those ``slow``
    selects are marked slow (the full suite only)."""
    return [pytest.param(p, id=str(p.relative_to(ROOT)),
                         marks=[pytest.mark.slow] if slow(p) else []) for p in paths]


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


@functools.cache
def check_json(model: str) -> Run:
    """``nmrcheck check --continue --json MODEL`` (a path from the root, the working
    directory), run once per session: the catalogue, seed and golden tests read one report."""
    return run_cli("check", "--continue", "--json", model)


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
