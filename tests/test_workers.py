"""`--workers N`: the explicit search on several processes makes the same exploration as one
process, index for index, so the same verdicts, shortest traces, hangs and text output; limits,
Ctrl-C and a failing worker stop it cleanly, with no process left behind."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import ROOT, run_cli

from nmrcheck.engines.explicit.liveness import without_liveness
from nmrcheck.engines.explicit.parallel import explore_parallel
from nmrcheck.engines.explicit.search import HANG, Limits, explore
from nmrcheck.engines.explicit.symmetry import analyse
from nmrcheck.errors import InternalError
from nmrcheck.nmr.load import load

CATALOGUE = sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "models").glob("**/*.nmr")
) + ["bench/models/provider-clients-2.nmr"]
SMALL = [m for m in CATALOGUE if "/seeds/" in m or "/bugs/" in m] + [
    "bench/models/provider-clients-2.nmr"
]
HANGS = "models/seeds/detach-pending-never-completed.nmr"
FIELDS = [
    "states", "parent", "via", "edges_src", "edges_dst", "edges_act", "edges_perm",
    "slot_perms", "waiting", "complete", "stop_reason", "transitions", "max_depth", "found",
    "initial",
]  # fmt: skip


def _ts(model: str):
    return without_liveness(load(model, [], bundled=True, options={}))


def _same(a, b) -> None:
    for f in FIELDS:
        assert getattr(a, f) == getattr(b, f), f


def _no_children() -> None:
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("model", SMALL)
def test_same_exploration_index_for_index(model):
    ts = _ts(model)
    sym = analyse(ts)[0]
    for edges, workers, symmetry in [(True, 2, sym), (False, 3, sym), (True, 3, None)]:
        one = explore(ts, keep_edges=edges, symmetry=symmetry)
        many = explore_parallel(ts, workers=workers, keep_edges=edges, symmetry=symmetry)
        _same(one, many)
        assert many.workers == workers
    _no_children()


@pytest.mark.parametrize("limit", [1, 2, 100, 777, 2721])
def test_same_exploration_under_a_state_limit(limit):
    ts = _ts("bench/models/provider-clients-2.nmr")
    sym = analyse(ts)[0]
    for edges, workers, symmetry in [(True, 2, sym), (False, 3, None), (True, 3, None)]:
        one = explore(ts, Limits(max_states=limit), keep_edges=edges, symmetry=symmetry)
        many = explore_parallel(ts, Limits(max_states=limit), workers=workers,
                                keep_edges=edges, symmetry=symmetry)
        _same(one, many)


def test_canonical_hook_and_one_worker():
    ts = _ts("bench/models/provider-clients-2.nmr")
    sym = analyse(ts)[0]
    assert sym is not None
    one = explore(ts, keep_edges=False, symmetry=sym)
    # the machinery on one process, and the hook a reduction plugs into
    many = explore_parallel(ts, workers=1, keep_edges=False, canonical=sym.canon)
    assert many.states == one.states and many.found == one.found
    assert many.transitions == one.transitions and many.max_depth == one.max_depth


@pytest.mark.parametrize("model", CATALOGUE)
def test_cli_output_identical(model):
    one = run_cli("check", model, "--workers", "1")
    two = run_cli("check", model, "--workers", "2")
    assert two.code == one.code and two.code != 4
    assert two.out == one.out
    assert ", 2 workers)" in two.err.splitlines()[-1] or "states" not in two.err


def test_hangs_agree_and_traces_replay(tmp_path):
    one = run_cli("check", HANGS, "--json", "--workers", "1").json["models"][0]
    two = run_cli("check", HANGS, "--json", "--workers", "2").json["models"][0]
    hang = [r for r in two["properties"] if r["property"] == HANG]
    assert hang and hang == [r for r in one["properties"] if r["property"] == HANG]
    assert [r["verdict"] for r in two["properties"]] == [r["verdict"] for r in one["properties"]]
    report = tmp_path / "two.json"
    report.write_text(run_cli("check", HANGS, "--json", "--workers", "2").out)
    replay = run_cli("replay", str(report), HANGS)
    assert replay.code == 0 and "reaches violation of no_hang" in replay.out


def test_state_limit_cuts_where_one_process_does():
    model = "bench/models/provider-clients-2.nmr"
    for limit in ("1", "777", "1000"):
        args = ("check", model, "--engine", "explicit", "--max-states", limit)
        one = run_cli(*args, "--workers", "1")
        two = run_cli(*args, "--workers", "3")
        assert two.code == one.code == 3
        assert two.out == one.out and "unknown" in two.out


def test_timeout_stops_with_progress():
    ts = load("bench/models/provider-clients-4.nmr", [], bundled=False, options={})
    calls: list[dict] = []
    start = time.monotonic()
    ex = explore_parallel(ts, Limits(timeout=2.0), workers=2, keep_edges=False,
                          progress=calls.append)
    assert time.monotonic() - start < 30
    assert not ex.complete and ex.stop_reason == "time limit 2 s reached"
    assert calls and {"states", "transitions", "depth", "queue", "memory_mb"} <= set(calls[-1])
    # the states kept form a BFS tree: every parent comes first
    assert all(0 <= ex.parent[j] < j for j in range(1, len(ex.states)))
    _no_children()


def test_memory_limit_and_bad_worker_count():
    r = run_cli("check", "bench/models/provider-clients-4.nmr", "--engine", "explicit",
                "--workers", "2", "--max-memory", "1")
    assert r.code == 3 and "unknown" in r.out
    assert run_cli("check", HANGS, "--workers", "0").code == 2
    assert run_cli("check", HANGS, "--workers", "17").code == 2
    _no_children()


def test_failing_worker_is_an_internal_error_and_leaves_no_process():
    ts = _ts("bench/models/provider-clients-2.nmr")

    calls = [0]

    def canon(t: int) -> int:  # fine for the initial state, then fails in the workers
        calls[0] += 1
        if calls[0] > 5:
            raise ValueError("boom")
        return t

    with pytest.raises(InternalError, match="worker process"):
        explore_parallel(ts, workers=2, canonical=canon)
    _no_children()


def _group_members(pgid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(d.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_ctrl_c_exits_130_and_leaves_no_process():
    proc = subprocess.Popen(
        [sys.executable, "-m", "nmrcheck", "check", "bench/models/provider-clients-4.nmr",
         "--engine", "explicit", "--no-hang", "--workers", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        deadline = time.monotonic() + 30
        while len(_group_members(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # until both workers run
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "unknown" in out and "Traceback" not in err
    for _ in range(50):
        if not _group_members(proc.pid):
            break
        time.sleep(0.1)
    assert _group_members(proc.pid) == []
