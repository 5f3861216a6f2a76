"""Ctrl-C prints the partial summary and exits 130; limits give unknown, never holds."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def big_model(tmp_path: Path) -> Path:
    text = (ROOT / "models/patterns/progcons.nmr").read_text()
    path = tmp_path / "big.nmr"
    path.write_text(text.replace("driver Client {", "driver Client[4] {"))
    return path


@pytest.mark.slow  # a process of its own, 1.5 s: full suite only
def test_ctrl_c_prints_partial_summary_and_exits_130(tmp_path):
    model = big_model(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nmrcheck",
            "check",
            str(model),
            "--engine",
            "explicit",
            "--progress",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait until the search runs (the first progress line), then press Ctrl-C
    first = proc.stderr.readline()
    assert "states/s" in first, first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "INCONCLUSIVE" in out.splitlines()[0]
    assert "unknown (interrupted (Ctrl-C))" in out
    assert "holds" not in out
    assert "Traceback" not in err


def test_timeout_gives_unknown_exit_3(tmp_path):
    model = big_model(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nmrcheck",
            "check",
            str(model),
            "--timeout",
            "1",
            "--json",
            "--engine",
            "explicit",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 3
    import json

    doc = json.loads(proc.stdout)["models"][0]
    assert doc["stats"]["complete"] is False
    assert all(p["verdict"] == "unknown" for p in doc["properties"])
    assert all("time limit 1 s reached" in p["reason"] for p in doc["properties"])
