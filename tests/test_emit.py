"""Generated source: labels as comments that model text cannot break, and --dump-generated."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from nmrcheck.engines.explicit import emit

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "patterns" / "hook-provider-rundown.nmr"


def test_a_comment_cannot_end_its_line() -> None:
    text = "x\ny = 1\r\nz\x0b\x0c\u2028é"
    line = emit.comment(text)
    assert line.startswith("# ")
    assert len(line.splitlines()) == 1
    assert ast.parse(f"a = 1  {line}\n").body[0].lineno == 1
    assert len(ast.parse(f"a = 1  {line}\n").body) == 1


def test_load_without_builtins_by_default() -> None:
    ns = emit.load("def f():\n    return len([])\n", "test")
    try:
        ns["f"]()
    except NameError:
        pass
    else:
        raise AssertionError("generated code saw the builtins")
    assert emit.load("def f():\n    return len([])\n", "test", builtins=True)["f"]() == 0


def _dump(tmp_path: Path, *models: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nmrcheck", "check", *map(str, models),
         "--dump-generated", str(tmp_path / "gen")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )


def test_dump_generated_writes_the_search_code_with_action_labels(tmp_path: Path) -> None:
    run = _dump(tmp_path, MODEL)
    assert run.returncode == 0, run.stderr
    files = sorted(p.name for p in (tmp_path / "gen").iterdir())
    assert "system.py" in files and "edge-expander.py" in files
    system = (tmp_path / "gen" / "system.py").read_text()
    tree = ast.parse(system)  # every dumped part is valid Python
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"successors", "busy", "found"} <= defined
    assert "# OS calls" in system  # an action label, as the report writes it
    # the same run without the flag: the same verdicts
    plain = subprocess.run([sys.executable, "-m", "nmrcheck", "check", str(MODEL)],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert plain.returncode == run.returncode
    assert plain.stdout == run.stdout


@pytest.mark.slow  # full suite only (one model in the fast tier)
def test_dump_generated_with_several_models_one_folder_each(tmp_path: Path) -> None:
    other = ROOT / "models" / "patterns" / "progcons-free-in-detach.nmr"
    run = _dump(tmp_path, MODEL, other)
    assert run.returncode in (0, 1), run.stderr
    folders = sorted(p.name for p in (tmp_path / "gen").iterdir())
    assert folders == sorted([MODEL.stem, other.stem])
    for f in folders:
        assert (tmp_path / "gen" / f / "system.py").is_file()
