"""On a real Ray cluster (2 CPUs on 127.0.0.1): check, sweep and swarm print the same bytes
as without Ray; a worker killed mid-run is retried once, then reported; Ctrl-C leaves no
process behind. Skipped, with the reason, only where Ray is not installed (nmrcheck[ray])."""

from __future__ import annotations

import glob
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'nmrcheck[ray]')")
pytestmark = pytest.mark.slow  # each starts a Ray cluster: in the full suite, not the fast tier

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "NO_COLOR": "1",
       "PYTHONPATH": str(ROOT)}
SLOW_CHECK = "bench/models/provider-clients-3.nmr"  # a check of about 3 s
CHECKING = b"ray::CheckWorker.check"  # the title of a worker process running a check


def nmrcheck(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command line, in a process of its own (as a user runs it)."""
    return subprocess.run([sys.executable, "-m", "nmrcheck", *argv], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """`ray start --head` on 127.0.0.1 with 2 CPUs, in the foreground (--block), so that
    ending it ends every process it started."""
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="nmrray", dir="/tmp")
    head = subprocess.Popen(
        ["ray", "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={tmp}"],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(port, head)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        for pid in _pids_with(tmp.encode()):
            os.kill(pid, signal.SIGKILL)


def _wait_for(port: int, head: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert head.poll() is None, "ray start --head ended"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            time.sleep(1.0)  # the raylet registers just after the GCS listens
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the Ray head did not come up in 120 s")


def _pids_with(needle: bytes) -> list[int]:
    """Running processes whose command line holds ``needle``."""
    out = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        pid = int(path.split("/")[2])
        try:
            if needle in Path(path).read_bytes() and _state(pid) != "Z":
                out.append(pid)
        except OSError:
            continue
    return out


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            ppid = int(Path(path).read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(path.split("/")[2]))
    out, todo = set(), [root]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def test_check_of_the_catalogue_on_ray_prints_what_one_process_prints(cluster):
    models = sorted(glob.glob("models/*/*.nmr", root_dir=ROOT))
    alone = nmrcheck("check", *models)
    spread = nmrcheck("check", *models, "--ray", cluster)
    assert alone.returncode == spread.returncode == 1
    assert spread.stdout == alone.stdout
    json_alone = nmrcheck("check", *models[:12], "--json")
    assert nmrcheck("check", *models[:12], "--json", "--ray", cluster).stdout == json_alone.stdout


def test_a_bad_model_on_ray_is_exit_2_before_anything_is_printed(cluster, tmp_path):
    bad = tmp_path / "bad.nmr"
    bad.write_text("npi X\ndriver D {\n  client C of Y\n}\n")
    models = sorted(glob.glob("models/seeds/*.nmr", root_dir=ROOT))
    argv = ("check", *models[:3], str(bad), *models[3:], str(tmp_path / "missing.nmr"))
    alone, spread = nmrcheck(*argv), nmrcheck(*argv, "--ray", cluster)
    assert alone.returncode == spread.returncode == 2
    assert spread.stdout == alone.stdout == ""
    assert spread.stderr == alone.stderr  # and no line of Ray's own C++ core
    assert str(bad) in spread.stderr


def test_sweep_on_ray_prints_what_one_process_prints(cluster):
    argv = ("sweep", "models/seeds/provider-unload-no-wait.nmr", "--option",
            "detach_order=any,client_first", "--instances", "ExampleClient=1..3")
    alone, spread = nmrcheck(*argv), nmrcheck(*argv, "--ray", cluster)
    assert alone.returncode == spread.returncode == 1
    assert spread.stdout == alone.stdout
    assert spread.stdout.count("VIOLATED") == 6 + 6  # each report and its summary line
    one = nmrcheck("check", "models/seeds/provider-unload-no-wait.nmr", "--option",
                   "detach_order=client_first")
    section = spread.stdout.split("\n\n")  # the first counterexample of that configuration
    assert any("[detach_order=client_first, ExampleClient=2]" in s for s in section)
    assert _first_trace(one.stdout) in spread.stdout


def _first_trace(report: str) -> str:
    lines = report.splitlines()
    k = next(i for i, x in enumerate(lines) if x.startswith("  Counterexample"))
    end = next(i for i in range(k, len(lines)) if lines[i].startswith("  Reproduce"))
    return "\n".join(lines[k:end])


@pytest.mark.parametrize("model, code", [("models/seeds/client-unload-no-wait.nmr", 1),
                                         ("models/seeds/provider-unload.nmr", 3)])
def test_swarm_on_ray_prints_what_one_process_prints(cluster, model, code):
    argv = ("swarm", model, "--walks", "6", "--depth", "60", "--states", "20000", "--seed", "3")
    alone, spread = nmrcheck(*argv), nmrcheck(*argv, "--ray", cluster)
    assert alone.returncode == spread.returncode == code
    assert spread.stdout == alone.stdout
    if code == 3:
        assert "no violation in 6 runs of depth 60" in spread.stdout
        assert "not a proof" in spread.stdout


def _kill_task_worker(proc: subprocess.Popen, times: int) -> int:
    """SIGKILL the worker running a check up to ``times`` times; returns how many."""
    killed, seen = 0, set()
    deadline = time.monotonic() + 120
    while killed < times and proc.poll() is None and time.monotonic() < deadline:
        for pid in _pids_with(CHECKING):
            if pid not in seen:
                seen.add(pid)
                time.sleep(0.5)  # mid-run: the check is under way
                os.kill(pid, signal.SIGKILL)
                killed += 1
                break
        time.sleep(0.05)
    return killed


def _start(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nmrcheck", *argv], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_worker_killed_mid_run_is_retried_and_the_answer_unchanged(cluster):
    alone = nmrcheck("check", SLOW_CHECK)
    proc = _start("check", SLOW_CHECK, "--ray", cluster)
    assert _kill_task_worker(proc, 1) == 1
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == alone.returncode == 0
    assert out == alone.stdout


def test_a_worker_killed_twice_is_reported_unknown(cluster):
    proc = _start("check", SLOW_CHECK, "--ray", cluster)
    assert _kill_task_worker(proc, 2) == 2
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 3
    assert "died twice" in out
    assert "holds" not in out


def test_local_cluster_answers_and_ctrl_c_leaves_no_process_behind():
    model = "models/seeds/provider-unload.nmr"
    argv = ("swarm", model, "--walks", "4", "--depth", "40", "--states", "3000")
    assert nmrcheck(*argv, "--ray", "local").stdout == nmrcheck(*argv).stdout
    proc = _start("swarm", SLOW_CHECK, "--walks", "40", "--depth", "300",
                  "--states", "2000000", "--ray", "local")
    family: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _pids_with(b"ray::swarm_task"):
        family |= _descendants(proc.pid)
        time.sleep(0.2)
    time.sleep(1.0)
    family |= _descendants(proc.pid)
    assert family, "the local cluster started no process"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "not a proof" in out
    time.sleep(2.0)
    alive = [p for p in family if _state(p) not in ("Z", "X")]
    assert alive == [], [Path(f"/proc/{p}/cmdline").read_bytes()[:80] for p in alive]


def test_ctrl_c_cancels_the_checks_on_a_joined_cluster(cluster):
    proc = _start("check", SLOW_CHECK, SLOW_CHECK, "--ray", cluster)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _pids_with(CHECKING):
        time.sleep(0.05)
    assert _pids_with(CHECKING), "no check started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    # what was decided, marked interrupted; or, when the Ctrl-C came while the driver was
    # still compiling its own share (a worker may start checking before), just that
    assert "interrupted" in out or "interrupted (Ctrl-C) while loading" in err, err
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _pids_with(b"ray::CheckWorker"):
        time.sleep(0.2)
    assert _pids_with(b"ray::CheckWorker") == []


def test_timeout_is_one_deadline_for_every_task(cluster):
    r = nmrcheck("check", "bench/models/multi-npi-4.nmr", SLOW_CHECK, "--timeout", "6",
                 "--ray", cluster)
    assert r.returncode == 3
    assert "unknown (time limit 6 s reached" in r.stdout
    assert "holds" not in r.stdout.split("\n\n")[0]
