"""Every subcommand, given bad paths and odd files, answers with one line and exit 2 (or the
internal-error report, exit 4): never a Python traceback. Inputs and output paths are checked
before any search starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, run_cli

MODEL = "models/seeds/provider-unload.nmr"


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, str]:
    rand = tmp_path / "random.bin"
    rand.write_bytes(bytes((i * 97 + 13) % 256 for i in range(600)))
    folder = tmp_path / "folder"
    folder.mkdir()
    text = tmp_path / "text.txt"
    text.write_text("hello\n")
    return {
        "missing": str(tmp_path / "missing.nmr"),
        "random": str(rand),
        "folder": str(folder),
        "under_a_file": str(text / "x.nmr"),  # a path through a file: not a folder
        "no_folder": str(tmp_path / "no" / "such" / "out.txt"),
        "text": str(text),
    }


def _no_traceback(argv: list[str]) -> int:
    r = run_cli(*argv)
    assert "Traceback" not in r.out + r.err, (argv, r.err)
    assert "internal error" not in r.err, (argv, r.err)
    return r.code


BAD_INPUTS = ("missing", "random", "folder", "under_a_file", "text")


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_every_subcommand_rejects_a_bad_input_file(files, kind):
    bad = files[kind]
    commands = [
        ["check", bad],
        ["check", MODEL, "--spec", bad],
        ["graph", bad],
        ["certify", bad, MODEL],
        ["certify", files["text"], bad] if kind != "text" else ["certify", bad, MODEL],
        ["replay", bad, MODEL],
    ]
    for argv in commands:
        code = _no_traceback(argv)
        assert code == 2, (argv, code)


@pytest.mark.parametrize("kind", ("no_folder",  # 0.5 s each: the first in the fast tier
                                  pytest.param("folder", marks=pytest.mark.slow),
                                  pytest.param("under_a_file", marks=pytest.mark.slow)))
def test_every_output_option_rejects_a_path_it_cannot_write(files, kind):
    bad = files[kind]
    commands = [["check", MODEL, f"--{o}", bad] for o in ("certificate", "itf", "mermaid")]
    commands += [["check", MODEL, f"--{o}", bad] for o in ("sarif", "html")]
    commands += [["graph", MODEL, "-o", bad], ["graph", MODEL, "--dot", "-o", bad]]
    for argv in commands:
        r = run_cli(*argv)
        assert "Traceback" not in r.out + r.err
        assert r.code == 2, (argv, r.code, r.err)
        # checked before the search: no search summary on stderr
        assert " states, " not in r.err, argv


def test_a_syntax_error_in_a_later_model_stops_the_run_before_any_search(tmp_path):
    bad = tmp_path / "second.nmr"
    bad.write_text("npi N\ndriver D { client C of N\n  Unload { x = = 1 }\n}\n")
    r = run_cli("check", MODEL, str(bad))
    assert r.code == 2
    assert f"{bad}:3:" in r.err
    assert MODEL not in r.err and r.out == ""  # the first model was not searched


def test_certificates_of_assert_and_error_properties_get_safe_file_names(tmp_path):
    base = tmp_path / "proof.smt2"
    prop = "error@models/seeds/provider-unload.nmr:15"
    r = run_cli(
        "check", MODEL, "--engine", "pdr", "--certificate", str(base),
        "--property", prop, "--property", "REG-5",
    )
    assert r.code == 0, r.err
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["proof.REG-5.smt2", "proof.error_models_seeds_provider-unload.nmr_15.smt2"]
    c = run_cli("certify", str(tmp_path / written[1]), MODEL)
    assert c.code == 0 and "valid certificate" in c.out


def test_an_escaping_exception_is_the_internal_error_report(monkeypatch):
    from nmrcheck.commands import graph

    def boom(*_a, **_k):
        raise RecursionError("deep")

    monkeypatch.setattr(graph, "cmd_graph", boom)
    r = run_cli("graph", MODEL)
    assert r.code == 4
    assert "internal error: RecursionError: deep" in r.err
    assert "nmrcheck graph " in r.err and "Traceback" not in r.err


@pytest.mark.slow  # two processes, 2 s: full suite only
def test_json_stdout_is_the_same_byte_for_byte_on_every_run():
    argv = [sys.executable, "-m", "nmrcheck", "check", MODEL, "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [subprocess.run(argv, capture_output=True, cwd=ROOT, env=env) for _ in range(2)]
    assert runs[0].returncode == 0
    assert runs[0].stdout == runs[1].stdout
    assert b"peak_memory_mb" not in runs[0].stdout and b"MiB" in runs[0].stderr


def test_a_reader_that_goes_away_ends_the_run_quietly():
    import io

    from nmrcheck.cli import main

    class Closed(io.StringIO):  # stdout of `nmrcheck ... | head -1` once head has exited
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    err = io.StringIO()
    assert main(["graph", MODEL, "--dot"], Closed(), err) == 141
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue()
