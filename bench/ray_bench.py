"""Ray against one process: the swarm and the catalogue, printed figures (not timed tests).

    python3 bench/ray_bench.py              # every section (about 10 minutes on 2 cores)
    python3 bench/ray_bench.py --quick      # the swarm and the catalogue only
    python3 bench/ray_bench.py --catalogue  # the catalogue only (--repeat N: N rounds)

Each row runs this checkout's `python3 -m nmrcheck ...` as a process of its own and gives its
wall time (and its CPU time, with its children's: Ray's workers and processes started by
`--ray local`). Three ways:

* `1 process`: without --ray;
* `--ray local`: the command starts Ray on this machine with its cores and stops it after;
* `--ray HEAD`: the command joins a cluster already running (`ray start --head --block` on
  127.0.0.1 with this machine's cores, started by this script), as a CI machine or a team's
  cluster would have it.

Every Ray row's stdout is compared with the one-process row's: the same bytes, or the script
stops. Then, from the per-model check times measured in one process, what a cluster of K
machines (of this machine's cores each) would take for the same catalogue.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from family import nmr_text  # noqa: E402  (bench/family.py, the lead's generator)

ENV = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "NO_COLOR": "1",
       "PYTHONPATH": str(ROOT)}
CORES = os.cpu_count() or 1


def timed(argv: list[str]) -> tuple[float, float, int, str, str]:
    """Run ``python3 -m nmrcheck argv``: wall seconds, CPU seconds of it and its children,
    exit code, stdout, the last line of stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "nmrcheck", *argv], cwd=ROOT, env=ENV,
                       capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    return wall, cpu, p.returncode, p.stdout, last


class Head:
    """A Ray head on 127.0.0.1 with this machine's cores, ended with every process it
    started (it runs in the foreground, --block)."""

    def __enter__(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.tmp = tempfile.mkdtemp(prefix="nmrray", dir="/tmp")
        self.proc = subprocess.Popen(
            ["ray", "start", "--head", "--block", f"--port={self.port}", f"--num-cpus={CORES}",
             "--node-ip-address=127.0.0.1", "--include-dashboard=false",
             "--disable-usage-stats", f"--temp-dir={self.tmp}"],
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                time.sleep(2.0)
                return f"127.0.0.1:{self.port}"
            except OSError:
                time.sleep(0.3)
        raise SystemExit("the Ray head did not come up")

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def compare(title: str, argv: list[str], head: str) -> list[tuple[str, float, float, str]]:
    """One process, --ray local and --ray HEAD on ``argv``; the same stdout from each."""
    print(f"\n### {title}\n\n`nmrcheck {' '.join(argv)}`\n")
    print("| how | wall s | CPU s (with children) | exit | stderr summary |")
    print("|---|---:|---:|---:|---|")
    rows = []
    ref = None
    for how, extra in (("1 process", []), ("--ray local", ["--ray", "local"]),
                       ("--ray HEAD (running)", ["--ray", head])):
        wall, cpu, code, out, last = timed(argv + extra)
        if ref is None:
            ref = out
        elif out != ref:
            raise SystemExit(f"{how}: stdout differs from the one-process run")
        print(f"| {how} | {wall:.2f} | {cpu:.2f} | {code} | {last.split(': ', 2)[-1][:90]} |")
        rows.append((how, wall, cpu, last))
    one = rows[0][1]
    print(f"\nspeed-up over one process: --ray local {one / rows[1][1]:.2f}x, "
          f"--ray HEAD {one / rows[2][1]:.2f}x (free cores after these runs: {free_cores()}, "
          f"load average {Path('/proc/loadavg').read_text().split()[0]})")
    return rows


BURN = "x = 0\nfor i in range(12_000_000):\n    x += i * i\n"


def free_cores() -> float:
    """How many cores this machine gives two CPU-bound processes now: the time of two
    processes one after the other over their time side by side (2.0 on a quiet 2-core
    machine; less when other work is running). It bounds every speed-up measured here."""
    def burn(n: int) -> float:
        start = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(n)]
        for p in procs:
            p.wait()
        return time.monotonic() - start
    one = burn(1)
    return round(2 * one / burn(2), 2)


def per_model_seconds(models: list[str]) -> list[tuple[float, float, str]]:
    """Each model's loading and checking time in this process, longest check first."""
    from nmrcheck.engines.run import Plan
    from nmrcheck.engines.run import run as run_engines
    from nmrcheck.nmr.load import load

    os.chdir(ROOT)
    out = []
    for m in models:
        t = time.monotonic()
        ts = load(m)
        loaded = time.monotonic()
        run_engines(ts, Plan())
        out.append((time.monotonic() - loaded, loaded - t, m))
    return sorted(out, reverse=True)


def makespan(times: list[float], workers: int) -> float:
    """Longest-first list scheduling of ``times`` on ``workers`` (submitted in command-line
    order instead, Ray's queue can only do worse, by at most the longest job)."""
    load = [0.0] * workers
    for t in sorted(times, reverse=True):
        k = load.index(min(load))
        load[k] += t
    return max(load)


def projection(times: list[tuple[float, float, str]], rows: list) -> None:
    """What K machines of this machine's cores would take: the fixed cost (everything the
    --ray HEAD run did beyond its checks' schedule on this machine: Python start, loading
    every model in the driver, joining, worker start, rendering) plus the checks scheduled
    on 2K workers; against the one-process run."""
    checks = [c for c, _, _ in times]
    one, head = rows[0][1], rows[2][1]
    fixed = max(0.0, head - makespan(checks, CORES))
    print(f"\nper model, in one process: {len(times)} models, checks {sum(checks):.2f} s in "
          f"all (longest {times[0][0]:.2f} s, {times[0][2]}; median "
          f"{times[len(times) // 2][0]:.3f} s), loading {sum(x for _, x, _ in times):.2f} s")
    print(f"fixed cost of the --ray HEAD run beyond its checks' schedule: {fixed:.2f} s\n")
    print("| machines K | workers | checks scheduled | with the fixed cost | speed-up over 1 "
          "process |")
    print("|---:|---:|---:|---:|---:|")
    for k in (1, 2, 4, 8, 16):
        span = makespan(checks, k * CORES)
        print(f"| {k} | {k * CORES} | {span:.2f} | {span + fixed:.2f} | "
              f"{one / (span + fixed):.2f}x |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the swarm and the catalogue only")
    ap.add_argument("--catalogue", action="store_true", help="the catalogue only")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run the catalogue's comparison N times (the machine is shared)")
    args = ap.parse_args()
    up = Path("/proc/loadavg").read_text().split()[:3]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}, {CORES} cores, load average {' '.join(up)} at the start, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; free cores now "
          f"{free_cores()} (two CPU-bound processes side by side against one after the other)")
    tmp = Path(tempfile.mkdtemp(prefix="nmrbench"))
    for design in ("multi-npi-nowait", "multi-npi"):
        (tmp / f"{design}-6.nmr").write_text(nmr_text(design, 6))
    catalogue = sorted(glob.glob("models/*/*.nmr", root_dir=ROOT))
    with Head() as head:
        if not args.catalogue:
            compare("Swarm: time to the first counterexample, multi-npi-nowait-6",
                    ["swarm", str(tmp / "multi-npi-nowait-6.nmr")], head)
            compare("Swarm: 8 runs that find nothing, multi-npi-6 (holds; too big to exhaust)",
                    ["swarm", str(tmp / "multi-npi-6.nmr"), "--walks", "8", "--depth", "400"],
                    head)
        for _ in range(max(1, args.repeat)):
            rows = compare(f"The catalogue: {len(catalogue)} models, default properties",
                           ["check", *catalogue], head)
        projection(per_model_seconds(catalogue), rows)
        if not (args.quick or args.catalogue):
            family = [f"bench/models/{d}-{n}.nmr" for d in ("provider-clients", "multi-npi")
                      for n in (2, 3, 4)]
            rows = compare("A heavier catalogue: the scaling family, N = 2 to 4",
                           ["check", *family], head)
            projection(per_model_seconds(family), rows)
    up = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\nload average {' '.join(up)} at the end; free cores now {free_cores()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
