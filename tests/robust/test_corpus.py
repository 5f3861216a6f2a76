"""Issue 7: thousands of malformed models from the catalogue each give a positioned error
(exit 2) or a normal verdict, never an uncaught exception."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mutate import mutate  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1]))
from ahead import ahead  # noqa: E402

from nmrcheck.engines.explicit.checker import check  # noqa: E402
from nmrcheck.engines.explicit.search import Limits
from nmrcheck.errors import InputError  # noqa: E402
from nmrcheck.nmr.load import load_text  # noqa: E402

pytestmark = pytest.mark.slow  # the fast tier (-m "not slow") leaves these out

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted((ROOT / "models").rglob("*.nmr"))
COUNT = 2000


def corpus(seed: int, n: int):
    rng = random.Random(seed)
    for k in range(n):
        src = MODELS[k % len(MODELS)]
        text = src.read_text()
        for _ in range(rng.randrange(1, 4)):
            text = mutate(text, rng)
        yield src.name, text


def check_corpus(start: int, stop: int) -> tuple[int, int]:
    """Entries ``start`` to ``stop - 1`` of the corpus: (models checked, positioned errors).
    The two halves run side by side in worker processes (tests/ahead.py; 15 to 20 s in all);
    a failed assertion or an uncaught exception there fails the test with its traceback."""
    checked = errors = 0
    for k, (name, text) in enumerate(corpus(20261122, stop)):
        if k < start:
            continue
        try:
            ts = load_text(text, "m.nmr")
        except InputError as exc:
            errors += 1
            for f in exc.findings:
                assert f.file == "m.nmr"
                if "declares no driver" not in f.message:
                    assert f.line >= 1 and f.col >= 1, (name, str(f), text)
                assert "Traceback" not in f.message
            continue
        result, _ = check(ts, Limits(max_states=300))
        assert result.exit_code in (0, 1, 3), (name, result.exit_code, text)
        checked += 1
    return checked, errors


def test_malformed_corpus_never_crashes():
    half = COUNT // 2
    with ahead(check_corpus, {"first": (0, half), "second": (half, COUNT)}) as runs:
        (c1, e1), (c2, e2) = runs.get("first"), runs.get("second")
    checked, errors = c1 + c2, e1 + e2
    assert checked + errors == COUNT
    # the mutator must exercise both sides: errors and models that still check
    assert checked > 50 and errors > 1000


@pytest.mark.parametrize(
    "text,where",
    [
        ("", "m.nmr:1:1"),
        ("\n\n\n", "m.nmr:"),
        ("npi X\ndriver D { client C of X }\n" + "// é ü ß 漢字\n", None),
        ("npi Ünïcode\n", "m.nmr:1:5"),
        (
            "npi X\ndriver D { client C of X\n var s: {A, B} = A\n"
            " task T when (s in {A, Q}) { skip } }",
            "m.nmr:4:24",
        ),
    ],
)
def test_odd_inputs(text, where):
    try:
        load_text(text, "m.nmr")
    except InputError as exc:
        assert where is not None, exc
        assert str(exc.findings[0]).startswith(where), str(exc.findings[0])
    else:
        assert where is None


def test_huge_file_is_refused(tmp_path):
    from support import run_cli

    big = tmp_path / "big.nmr"
    big.write_text("// x\n" * 1_000_000)
    r = run_cli("check", str(big))
    assert r.code == 2 and "larger than" in r.err
