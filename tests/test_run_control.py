"""The command honours its limits and signals in every phase, says what it covered, and
states the exit code the process really returns (the whole process, as a user runs it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from support import ROOT, run_cli

BIG = "bench/models/provider-clients-4.nmr"  # about 10 s of search on this machine


def start(*args: str) -> subprocess.Popen:
    """The command in a process group of its own (a terminal's Ctrl-C reaches the group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "nmrcheck", "check", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def nothing_left(proc: subprocess.Popen) -> bool:
    """No process of the command's group is left (the search's second process included)."""
    for _ in range(50):
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def finish(proc: subprocess.Popen, limit: float) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=limit)
    return proc.returncode, out, err, time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.parametrize("signum, word, group", [
    (signal.SIGINT, "interrupted", False), (signal.SIGTERM, "terminated", False),
    (signal.SIGINT, "interrupted", True)], ids=["sigint", "sigterm", "ctrl-c-to-the-group"])
def test_a_signal_stops_the_search_with_a_partial_report_and_exit_130(signum, word, group):
    proc = start(BIG, "--json")
    time.sleep(3.0)  # loading is done: the search runs, its large levels in two processes
    if group:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    code, out, err, took = finish(proc, 60)
    assert nothing_left(proc)
    assert code == 130 and took < 3.0, (code, took, err)
    doc = json.loads(out)
    assert doc["exit_code"] == 130
    props = doc["models"][0]["properties"]
    assert props and all(p["verdict"] == "unknown" for p in props)
    assert all(p["reason"].startswith(word) for p in props)
    assert err.rstrip().endswith("exit 130")  # the summary line states the real exit code


@pytest.mark.slow
def test_a_timeout_counts_every_phase_and_ends_with_exit_3():
    t0 = time.monotonic()
    proc = start(BIG, "--timeout", "2")
    code, out, err, _ = finish(proc, 60)
    assert code == 3 and time.monotonic() - t0 < 5.0, (code, err)
    assert nothing_left(proc)
    assert "unknown (time limit 2 s reached" in out
    assert err.rstrip().endswith("exit 3")


@pytest.mark.slow
def test_a_memory_limit_ends_the_search_with_what_to_try():
    code, out, err, _ = finish(start(BIG, "--max-memory", "60"), 120)
    assert code == 3, err
    assert "unknown (memory limit 60 MiB reached" in out
    assert "--max-memory" in out  # what to try


@pytest.mark.parametrize("value", ["nan", "inf", "-3", "0", "x"])
def test_unusable_timeouts_are_rejected(value):
    r = run_cli("check", "models/seeds/provider-unload.nmr", "--timeout", value)
    assert r.code == 2 and "seconds" in r.err


def test_the_summary_gives_each_phase_its_time():
    r = run_cli("check", "models/seeds/detach-pending.nmr")
    assert r.code == 0
    line = r.err.strip().splitlines()[-1]
    for phase in ("load", "search", "components", "hangs", "liveness"):
        assert f"{phase} " in line, line
    assert line.endswith("exit 0")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "getpgid"), reason="POSIX only")
def test_a_timeout_cuts_symmetry_set_up_and_code_generation_short(tmp_path):
    # many instances: set-up and code generation alone take longer than the limit
    model = tmp_path / "many.nmr"
    model.write_text("npi N\ndriver P {\n  provider Prov of N\n}\n"
                     "driver C[40] {\n  client Cli of N\n}\n")
    t0 = time.monotonic()
    code, out, err, _ = finish(start(str(model), "--timeout", "3"), 120)
    assert code == 3 and time.monotonic() - t0 < 7.0, (code, time.monotonic() - t0, err)
