"""Benchmark nmrcheck against SPIN on the scaling family of bench/family.py.

    python3 bench/run.py [--quick] [--max-n N] [--timeout S] [--repeat R] [--designs D,...]
    python3 bench/run.py --report [FILE]     # print the table of a results file as markdown

For each design and N, in one run and alternating on the same machine, end to end:

* ``nmrcheck``: ``nmrcheck check MODEL``, what a user runs, with no flags: one explicit
  search (symmetry-reduced where sound) that decides every obligation, the model's assert,
  the bundled spec with its 7 liveness properties (fair cycles on the same graph) and hang
  detection, and stops at the first violation (a depth-first probe, then a breadth-first
  search bounded by what it found, for a shortest counterexample); on a machine with two
  cores it uses both (large levels of the search in two processes, hangs beside liveness);
* ``nmrcheck 1 core``: the same with ``--cores 1``, one process;
* ``nmrcheck safety``: ``nmrcheck check MODEL --engine explicit --no-hang --no-bundled-specs
  --spec bench/safety.spec``: an exhaustive explicit search, whatever its size, of exactly the
  properties the Promela twin checks (the obligations, the model's assert, the four
  invariants of specs/lifecycle.spec), the like-for-like match of SPIN's ``-DSAFETY`` search,
  with nmrcheck's default reductions (symmetry where it is sound; partial-order reduction is
  off by default);
* ``nmrcheck safety unreduced``: the same with ``--symmetry off --por off``: the row whose
  state and transition counts must equal the twin's;
* ``spin``: ``spin -a``, ``gcc -O2 -DSAFETY``, ``./pan`` (partial-order reduction on, the default);
* ``spin -DNOREDUCE``: the same without partial-order reduction.

Times are wall-clock seconds of the whole pipeline (for SPIN: generate, compile and search);
peak memory is the largest resident set of the processes of the run (``wait4``); states/s
is states over the tool's own search time. The ratio is nmrcheck's end-to-end time over
``spin``'s. Verdicts of conclusive runs must agree (the run fails otherwise), and the state
counts of each Promela twin must equal nmrcheck's (see bench/README.md). A run that reaches
the timeout or the memory limit is reported as such, and the same variant is not run again
for larger N of that design. Results go to bench/results.json (or --out).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import family  # noqa: E402  (bench/ is not a package)

PAN_DEPTH = 1_000_000  # pan -m: DFS stack bound (53 MB); truncation is reported, not hidden
GRACE = 30.0  # at least this many seconds past --timeout before a run that did not stop by
#               itself is killed (a quarter of the timeout when that is more: a Python process
#               holding millions of states needs time to write its report and exit)
SAFETY_ARGS = ["--engine", "explicit", "--no-hang", "--no-bundled-specs", "--spec", "SAFETY"]
UNREDUCED = ["--symmetry", "off", "--por", "off"]
NMR_ARGS: dict[str, list[str]] = {  # variant -> arguments after MODEL (SAFETY: safety.spec)
    "nmrcheck": [],
    "nmrcheck 1 core": ["--cores", "1"],
    "nmrcheck safety": SAFETY_ARGS,
    "nmrcheck safety unreduced": SAFETY_ARGS + UNREDUCED,
}
NMR_VARIANTS = tuple(NMR_ARGS)
NMRCHECK_HOME = ROOT  # where nmrcheck runs from (--snapshot: a frozen copy of nmrcheck/, specs/)
SAFETY_SPEC = BENCH / "safety.spec"
SPIN_VARIANTS = ("spin", "spin -DNOREDUCE")
TAG = re.compile(r"nmrcheck:\s*([^*]+?)\s*\*/")


@dataclass
class Run:
    design: str
    n: int
    tool: str
    command: str
    verdict: str = "unknown"  # holds, violated, unknown
    status: str = "ok"  # ok, timeout, memory, depth, error, skipped
    note: str = ""
    states: int | None = None
    transitions: int | None = None
    seconds: float | None = None  # end to end, wall clock
    search_seconds: float | None = None  # the tool's own search time
    peak_mib: float | None = None
    violated: list[str] = field(default_factory=list)
    complete: bool = False
    engine: str = ""
    steps: dict[str, float] = field(default_factory=dict)  # SPIN: spin -a, gcc, pan

    @property
    def rate(self) -> float | None:
        if self.states and self.search_seconds:
            return self.states / self.search_seconds
        return None


# -- running a process with a deadline, and its peak memory -----------------------------------


def run_proc(
    argv: list[str], cwd: Path, deadline: float, out: Path
) -> tuple[int | None, float, float]:
    """Run ``argv`` with stdout and stderr to ``out``; kill its process group at ``deadline``.

    Returns (exit code or None when killed, wall seconds, peak RSS in MiB of the process).
    """
    start = time.monotonic()
    with open(out, "wb") as f:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
    killed = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (None if killed else proc.returncode), wall, usage.ru_maxrss / 1024.0


def grace(timeout: float) -> float:
    return max(GRACE, timeout / 4)


# -- nmrcheck -----------------------------------------------------------------------------------

SUMMARY = re.compile(r"nmrcheck: .*?: ([\d,]+) states, ([\d,]+) transitions;(.*) in all")
PHASE = re.compile(r"(\w[\w-]*) ([\d.]+) s")


def nmrcheck_cmd(variant: str, model: Path, timeout: float, memory: int) -> list[str]:
    argv = [sys.executable, "-m", "nmrcheck", "check", str(model)]
    argv += [str(SAFETY_SPEC) if a == "SAFETY" else a for a in NMR_ARGS[variant]]
    argv += ["--json", "--timeout", f"{timeout:g}", "--max-memory", str(memory)]
    return argv


def run_nmrcheck(variant: str, design: str, n: int, model: Path, timeout: float, memory: int,
                 work: Path) -> Run:
    argv = nmrcheck_cmd(variant, model, timeout, memory)
    shown = "nmrcheck check " + " ".join(
        "bench/safety.spec" if a == str(SAFETY_SPEC) else a for a in argv[4:] if a != str(model))
    r = Run(design, n, variant, shown.replace(" --json", ""))
    out = work / "nmrcheck.out"
    code, wall, rss = run_proc(argv, NMRCHECK_HOME, time.monotonic() + timeout + grace(timeout),
                               out)
    r.seconds, r.peak_mib = round(wall, 3), round(rss, 1)
    text = out.read_text(errors="replace")
    m = SUMMARY.search(text)
    if m:
        r.states = int(m.group(1).replace(",", ""))
        r.transitions = int(m.group(2).replace(",", ""))
        r.steps = {k: float(v) for k, v in PHASE.findall(m.group(3))}
        r.search_seconds = r.steps.get("search")
    if code is None:
        r.status, r.note = "timeout", f"killed after {wall:.0f} s"
        return r
    try:
        doc = json.loads(text[text.index("{"): text.rindex("}") + 1])
        md = doc["models"][0]
    except (ValueError, KeyError, IndexError):
        r.status, r.note = "error", f"exit {code}: " + text.strip()[-300:]
        return r
    st = md.get("stats", {})
    r.complete = bool(st.get("complete"))
    r.engine = md.get("engine", "")
    r.violated = sorted(p.get("property", p.get("name", "?")) for p in md.get("properties", [])
                        if p.get("verdict") in ("violated", "hang"))
    traces = [(len(p["trace"]), p.get("shortest")) for p in md.get("properties", [])
              if p.get("verdict") == "violated" and p.get("trace")]
    if traces:
        steps, shortest = min(traces)
        r.note = f"{steps} steps" + ("" if shortest is None else
                                     " (shortest)" if shortest else " (not proved shortest)")
    if code == 0:
        r.verdict = "holds"
    elif code == 1:
        r.verdict = "violated"
    elif code == 3:
        reasons = " ".join(str(p.get("reason", "")) for p in md.get("properties", []))
        r.status = "memory" if "memory" in reasons else "timeout"
        r.note = "verdict unknown: " + _reason(md)
    else:
        r.status, r.note = "error", f"exit {code}"
    if r.engine and r.engine != "explicit":
        r.note = (r.note + "; " if r.note else "") + f"engine {r.engine}"
    return r


def _reason(md: dict) -> str:
    for p in md.get("properties", []):
        if p.get("verdict") == "unknown":
            return str(p.get("reason") or p.get("coverage") or "limit reached")
    return "limit reached"


# -- SPIN ---------------------------------------------------------------------------------------


def spin_tags(pml: Path, line: int) -> list[str]:
    """The nmrcheck properties named in the comment of line ``line`` of a Promela twin."""
    lines = pml.read_text().splitlines()
    if 0 < line <= len(lines):
        m = TAG.search(lines[line - 1])
        if m:
            return [t.strip() for t in m.group(1).split(",")]
    return []


def run_spin(variant: str, design: str, n: int, pml: Path, timeout: float, memory: int,
             work: Path) -> Run:
    flags = ["-O2", "-DSAFETY", f"-DMEMLIM={memory}"]
    if variant == "spin -DNOREDUCE":
        flags.append("-DNOREDUCE")
    r = Run(design, n, variant, f"spin -a; gcc {' '.join(flags)} pan.c; ./pan -m{PAN_DEPTH}")
    deadline = time.monotonic() + timeout
    shutil.copy(pml, work / pml.name)
    peak = 0.0
    total = 0.0
    steps = [
        ("spin -a", ["spin", "-a", pml.name]),
        ("gcc", ["gcc", *flags, "-o", "pan", "pan.c"]),
        ("pan", ["./pan", f"-m{PAN_DEPTH}"]),
    ]
    text = ""
    for name, argv in steps:
        out = work / f"{name.split()[0]}.out"
        code, wall, rss = run_proc(argv, work, deadline, out)
        total += wall
        peak = max(peak, rss)
        r.steps[name] = round(wall, 3)
        text = out.read_text(errors="replace")
        if code is None:
            r.status, r.note = "timeout", f"killed in {name} after {total:.0f} s"
            break
        if code != 0 and name != "pan":
            r.status, r.note = "error", f"{name} exit {code}: {text.strip()[-300:]}"
            break
    r.seconds, r.peak_mib = round(total, 3), round(peak, 1)
    if r.status != "ok" and r.status != "timeout":
        return r
    # pan prints large counts as floats ("4.9235097e+07 states, stored")
    m = re.search(r"([\d.e+]+) states, stored", text)
    if m:
        r.states = int(float(m.group(1)))
    m = re.search(r"([\d.e+]+) transitions \(= stored\+matched\)", text)
    if m:
        r.transitions = int(float(m.group(1)))
    m = re.search(r"pan: elapsed time ([\d.e+]+) seconds", text)
    if m:
        r.search_seconds = float(m.group(1))
    if r.status == "timeout":
        m = re.findall(r"Depth=\s*\d+ States=\s*([\d.e+]+) Transitions=\s*([\d.e+]+)", text)
        if m:
            r.states = int(float(m[-1][0]))
            r.note += f"; {r.states:,} states when stopped"
        return r
    errors = re.search(r"errors: (\d+)", text)
    r.engine = "pan (POR)" if variant == "spin" else "pan"
    if "reached -DMEMLIM bound" in text:
        r.status, r.note = "memory", f"out of memory (-DMEMLIM={memory} MB)"
        return r
    if "max search depth too small" in text:
        r.status, r.note = "depth", f"search truncated at -m{PAN_DEPTH}"
    if errors and int(errors.group(1)) > 0:
        r.verdict = "violated"
        r.violated = _spin_violation(work, pml.name, text)
        return r
    if r.status == "ok" and errors:
        r.verdict, r.complete = "holds", True
    elif not errors:
        r.status, r.note = "error", text.strip()[-300:]
    return r


def _spin_violation(work: Path, name: str, text: str) -> list[str]:
    """Which nmrcheck property the first error of pan breaks: replay the trail, read the tag
    of the failing line (an invalid end state is a hang: no_hang)."""
    if re.search(r"pan:\d+: invalid end state", text):
        return ["no_hang"]
    try:
        rep = subprocess.run(["spin", "-t", name], cwd=work, capture_output=True, text=True,
                             timeout=120).stdout
    except subprocess.TimeoutExpired:
        return ["?"]
    m = re.search(r"spin: [^:]+:(\d+), Error: assertion violated", rep)
    return spin_tags(work / name, int(m.group(1))) if m else ["?"]


# -- the benchmark ------------------------------------------------------------------------------


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        m = re.search(r"model name\s*:\s*(.*)", cpu)
        info["cpu"] = m.group(1).strip() if m else "?"
        mem = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s*(\d+)", mem).group(1))
        info["memory_gib"] = round(kb / 1024 / 1024, 1)
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    except (OSError, AttributeError):
        pass
    for tool, argv in (("spin", ["spin", "-V"]), ("gcc", ["gcc", "--version"]),
                       ("nmrcheck", [sys.executable, "-m", "nmrcheck", "--version"])):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                 cwd=NMRCHECK_HOME)
            info[tool] = (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            info[tool] = "?"
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "nmrcheck"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        info["commit"] = head + (" (nmrcheck/ modified)" if dirty else "")
    except OSError:
        pass
    return info


def tree_hash(home: Path) -> str:
    """A digest of the nmrcheck sources and specs that ran (the tree moves under a long run)."""
    import hashlib

    h = hashlib.sha256()
    for sub in ("nmrcheck", "specs"):
        for f in sorted((home / sub).rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(home)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def median_run(runs: list[Run]) -> Run:
    """The run of median end-to-end time (all repeats are kept in the JSON)."""
    ok = [r for r in runs if r.seconds is not None]
    if len(ok) <= 1:
        return runs[0]
    med = statistics.median_low([r.seconds for r in ok])
    return next(r for r in ok if r.seconds == med)


def check_twins(rows: list[Run], problems: list[str]) -> None:
    """Conclusive verdicts agree; exhaustive state counts of the twins are equal."""
    by = {}
    for r in rows:
        by.setdefault((r.design, r.n), []).append(r)
    for (design, n), runs in by.items():
        verdicts = {r.verdict for r in runs if r.verdict != "unknown"}
        if len(verdicts) > 1:
            problems.append(f"{design}-{n}: verdicts differ: "
                            + ", ".join(f"{r.tool}={r.verdict}" for r in runs))
        spin_v = [r for r in runs if r.tool.startswith("spin") and r.verdict == "violated"]
        nmr_v = [r for r in runs if r.tool.startswith("nmrcheck") and r.verdict == "violated"]
        for s in spin_v:
            for m in nmr_v:
                if not _norm(s.violated) & _norm(m.violated):
                    problems.append(f"{design}-{n}: {s.tool} breaks {s.violated}, which "
                                    f"{m.tool} does not report violated ({m.violated})")
        if verdicts != {"holds"}:
            continue
        exh = [r for r in runs if r.tool.endswith("unreduced") and r.complete
               and r.engine == "explicit" and r.states is not None]
        ref = [r for r in runs if r.tool == "spin -DNOREDUCE" and r.complete]
        for m in exh:
            for s in ref:
                if s.states != m.states or s.transitions != m.transitions + 1:
                    problems.append(
                        f"{design}-{n}: twin mismatch: {m.tool} {m.states} states "
                        f"{m.transitions} transitions, {s.tool} {s.states} states "
                        f"{s.transitions} transitions (expected equal states, "
                        "transitions + 1)")


def _norm(names: list[str]) -> set[str]:
    """Property names, with every assert@FILE:LINE as assert@."""
    return {n.split("@")[0] + "@" if "@" in n else n for n in names}


def fmt_num(x) -> str:
    return "-" if x is None else f"{x:,}"


def fmt_sec(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def table(rows: list[Run], markdown: bool = False) -> str:
    head = ["design", "N", "tool", "verdict", "states", "transitions", "seconds", "peak MiB",
            "states/s", "nmrcheck/spin", "default/safety", "note"]
    spin_time = {(r.design, r.n): r.seconds for r in rows
                 if r.tool == "spin" and r.status == "ok" and r.verdict != "unknown"}
    safety_time = {(r.design, r.n): r.seconds for r in rows
                   if r.tool == "nmrcheck safety" and r.status == "ok"}
    body = []
    for r in rows:
        ratio = "-"
        st = spin_time.get((r.design, r.n))
        if r.tool.startswith("nmrcheck") and r.seconds is not None and st:
            ratio = f"{r.seconds / st:.2f}"
            if r.status != "ok":
                ratio = ">" + ratio
        own = "-"
        sf = safety_time.get((r.design, r.n))
        if r.tool == "nmrcheck" and r.seconds is not None and sf:
            own = f"{r.seconds / sf:.2f}"
        verdict = r.verdict if r.status in ("ok", "depth") else f"{r.verdict} ({r.status})"
        if r.status == "skipped":
            verdict = "skipped"
        note = [r.note] if r.note else []
        if r.verdict == "violated":
            first = "first error: " if r.tool.startswith("spin") else ""
            note.append(first + ", ".join(r.violated))
        if r.steps and r.status == "ok":
            note.append(" + ".join(f"{k} {v:.2f}" for k, v in r.steps.items()))
        body.append([r.design, str(r.n), r.tool, verdict, fmt_num(r.states),
                     fmt_num(r.transitions), fmt_sec(r.seconds),
                     "-" if r.peak_mib is None else f"{r.peak_mib:,.0f}",
                     "-" if r.rate is None else f"{r.rate:,.0f}", ratio, own, "; ".join(note)])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(head)]
    right = {1, 4, 5, 6, 7, 8, 9, 10}

    def line(cells):
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                         for i, c in enumerate(cells)).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in body])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="nmrcheck vs SPIN on bench/family.py's designs")
    ap.add_argument("--quick", action="store_true",
                    help="N = 1..3, timeout 60 s, and the mutant at N = 1 only")
    ap.add_argument("--max-n", type=int, default=None, help=f"largest N (default {family.MAX_N})")
    ap.add_argument("--min-n", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=None, help="seconds per run (default 300)")
    ap.add_argument("--memory", type=int, default=8192,
                    help="memory limit per run in MiB: pan -DMEMLIM, nmrcheck --max-memory")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each (design, N) block R times; the median run is tabled")
    ap.add_argument("--designs", default=",".join(family.BENCHMARKED),
                    help="comma-separated designs (default: %(default)s)")
    ap.add_argument("--mutant-max-n", type=int, default=None,
                    help="largest N of the mutants, whose waits are forgotten (default 5)")
    ap.add_argument("--variants", default=",".join(NMR_VARIANTS + SPIN_VARIANTS),
                    help="comma-separated rows to run (default: all: %(default)s)")
    ap.add_argument("--out", default=str(BENCH / "results.json"))
    ap.add_argument("--snapshot", action="store_true",
                    help="run a copy of nmrcheck/ and specs/ taken at the start (the working "
                         "tree may change during a long run)")
    ap.add_argument("--report", nargs="?", const=str(BENCH / "results.json"), default=None,
                    metavar="FILE", help="print the table of a results file as markdown")
    args = ap.parse_args(argv)
    if args.report:
        doc = json.loads(Path(args.report).read_text())
        rows = [Run(**{k: v for k, v in r.items() if k in Run.__dataclass_fields__})
                for r in doc["rows"]]
        print(table(rows, markdown=True))
        return 0
    wanted = set(args.variants.split(","))
    unknown = wanted - set(NMR_VARIANTS + SPIN_VARIANTS)
    if unknown:
        print(f"bench: unknown variants: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    max_n = args.max_n if args.max_n is not None else (3 if args.quick else family.MAX_N)
    timeout = args.timeout or (60.0 if args.quick else 300.0)
    mutant_n = args.mutant_max_n if args.mutant_max_n is not None else (2 if args.quick else 5)
    for tool in ("spin", "gcc"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} not found; run bench/setup.sh", file=sys.stderr)
            return 2
    family.main([])  # make sure the generated models are there and up to date
    global NMRCHECK_HOME
    snap = None
    if args.snapshot:
        snap = tempfile.TemporaryDirectory(prefix="nmrcheck-snapshot-")
        NMRCHECK_HOME = Path(snap.name)
        for sub in ("nmrcheck", "specs"):
            shutil.copytree(ROOT / sub, NMRCHECK_HOME / sub,
                            ignore=shutil.ignore_patterns("__pycache__"))
    # nmrcheck's own bytecode, once, as an installation has it (pip byte-compiles what it
    # installs; Python writes it at the first run of an editable install) unless the
    # environment forbids writing it, as PYTHONDONTWRITEBYTECODE=1 on the bench VM does:
    # then every run would compile the tool's 30,000 lines again (0.13 to 0.15 s there)
    compileall.compile_dir(NMRCHECK_HOME / "nmrcheck", quiet=1)
    info = machine()
    info["nmrcheck_tree_sha256"] = tree_hash(NMRCHECK_HOME)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    jobs = [(d, n) for d in args.designs.split(",") for n in range(args.min_n, max_n + 1)]
    jobs += [(m, n) for m in family.MUTANTS for n in range(args.min_n, mutant_n + 1)]
    rows: list[Run] = []
    every: list[dict] = []
    failed_at: dict[tuple[str, str], int] = {}
    problems: list[str] = []
    started = time.time()
    for design, n in jobs:
        model = family.MODELS / f"{design}-{n}.nmr"
        pml = family.PROMELA / f"{design}-{n}.pml"
        reps: dict[str, list[Run]] = {}
        for _ in range(args.repeat):
            order = ["nmrcheck", "spin", "nmrcheck 1 core", "nmrcheck safety",
                     "spin -DNOREDUCE", "nmrcheck safety unreduced"]
            for variant in order:
                if variant not in wanted:
                    continue
                if (design, variant) in failed_at:
                    r = Run(design, n, variant, "", status="skipped",
                            note=f"failed at N={failed_at[(design, variant)]}")
                    reps.setdefault(variant, []).append(r)
                    continue
                with tempfile.TemporaryDirectory(prefix="nmrbench-") as tmp:
                    if variant.startswith("spin"):
                        r = run_spin(variant, design, n, pml, timeout, args.memory, Path(tmp))
                    else:
                        r = run_nmrcheck(variant, design, n, model, timeout, args.memory,
                                         Path(tmp))
                reps.setdefault(variant, []).append(r)
                every.append(asdict(r))
                print(f"  {design}-{n} {variant}: {r.verdict} {r.status} "
                      f"{fmt_num(r.states)} states {fmt_sec(r.seconds)} s "
                      f"{'' if r.peak_mib is None else f'{r.peak_mib:,.0f} MiB'} {r.note}",
                      flush=True)
        for variant in NMR_VARIANTS[:1] + SPIN_VARIANTS[:1] + NMR_VARIANTS[1:] + SPIN_VARIANTS[1:]:
            if variant not in reps:
                continue
            r = median_run(reps[variant])
            rows.append(r)
            if r.status in ("timeout", "memory", "error") and variant != "nmrcheck":
                failed_at.setdefault((design, variant), n)
    check_twins(rows, problems)
    order = {v: i for i, v in enumerate(NMR_VARIANTS + SPIN_VARIANTS)}
    rows.sort(key=lambda r: (jobs.index((r.design, r.n)), order[r.tool]))
    print()
    print(table(rows))
    try:
        info["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    if snap is not None:
        snap.cleanup()
    doc = {
        "machine": info,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "wall_seconds": round(time.time() - started, 1),
        "arguments": {"max_n": max_n, "timeout": timeout, "memory_mib": args.memory,
                      "repeat": args.repeat, "designs": args.designs, "mutant_max_n": mutant_n},
        "rows": [asdict(r) for r in rows],
        "all_runs": every,
        "problems": problems,
    }
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\nresults written to {os.path.relpath(args.out)}")
    if problems:
        print("\nPROBLEMS:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print("verdicts agree; twin state counts match (states equal, SPIN transitions = "
          "nmrcheck transitions + 1, SPIN counting its initial state)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
