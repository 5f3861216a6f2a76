"""PDR proof time against explicit exploration as the number of clients grows (issues 4, 13).

    python3 bench/pdr_scaling.py [--timeout S] [--clients 2,4,8,16,32] [--family 4,5,6,7,8]
                                 [--no-bmc] [--no-cli] [--out FILE]

(An empty ``--clients`` or ``--family`` skips that part.)

0. The provider-clients family of bench/family.py (one provider, N clients with up to 2 NPI
   calls in flight per binding, pending detach, Unload that deregisters and waits), generated
   for each N into a temporary directory: every safety property (the obligations, the
   model's assert, the 4 invariants of bench/safety.spec) by PDR, three ways: the command
   ``nmrcheck check MODEL --engine pdr --no-bundled-specs --spec bench/safety.spec`` (wall,
   user + system CPU and peak memory of the process, from ``wait4``); the API call
   ``pdr(ts, names, timeout)`` once for all; and one call per property with an equal share of
   what is left, as the ``auto`` engine asks today (nmrcheck/engines/run.py). Each says how
   many properties were proved and how (``stats["strategy"]``).
1. ``unload_waits_for_bindings`` on models/seeds/provider-unload.nmr generalised to N clients
   (``driver ExampleClient[N]``): the time of ``nmrcheck.engines.symbolic.pdr`` for that one
   property (and which method proved it), beside the time of
   ``nmrcheck.engines.explicit.search.check`` (exhaustive exploration, hang detection off) of
   the same model. Once explicit search hits its limit it is not run for larger N.
2. BMC to depth 40 (``nmrcheck.engines.symbolic.bmc(ts, depth=40)``, every safety property)
   on each seed model of models/seeds/, and, unless ``--no-cli``, the whole command
   ``nmrcheck check MODEL --engine bmc --depth 40`` (Python start-up, loading, BMC of the
   safety properties and the bounded lasso search of the liveness ones) as a user runs it.

Every measurement runs in a child process with its own timeout (default 120 s), passed to the
engine and enforced by killing the child 30 s later; timeouts are printed as such. Times are
the wall-clock seconds of the engine call, without parsing and compiling the model (printed
separately as "load"), and its CPU seconds (``time.process_time`` of the child; for the
command, user + system time from ``wait4``): on a shared machine the CPU time is the steadier
figure.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's nmrcheck, as the command's ``-m nmrcheck``
SEED = ROOT / "models" / "seeds" / "provider-unload.nmr"
SPEC = ROOT / "specs" / "lifecycle.spec"
SAFETY = ROOT / "bench" / "safety.spec"
PROPERTY = "unload_waits_for_bindings"
GRACE = 30.0


def generalised(n: int) -> str:
    """provider-unload.nmr with N clients."""
    text = SEED.read_text()
    out, k = re.subn(r"driver ExampleClient\[\d+\]", f"driver ExampleClient[{n}]", text)
    assert k == 1, "models/seeds/provider-unload.nmr no longer declares ExampleClient[n]"
    return out


def _load(text: str, file: str, spec: Path = SPEC):
    from nmrcheck.nmr.load import load_text

    return load_text(text, file, [(str(spec.relative_to(ROOT)), spec.read_text())])


def family_text(n: int) -> str:
    """bench/family.py's provider-clients model with ``n`` clients."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import family
    finally:
        sys.path.pop(0)
    return family.nmr_text("provider-clients", n)


def _family_job(kind: str, ts, timeout: float) -> dict:
    """PDR on every safety property of ``ts``: in one call, or one call per property with an
    equal share of what is left (as nmrcheck/engines/run.py asks)."""
    from nmrcheck.engines.symbolic import pdr
    from nmrcheck.engines.symbolic.targets import select

    names = [p.name for p in select(ts, None)]
    if kind == "family-all":
        results = pdr(ts, names, timeout=timeout)
    else:
        results = []
        deadline = time.monotonic() + timeout
        for k, name in enumerate(names):
            share = max(0.0, deadline - time.monotonic()) / (len(names) - k)
            results += pdr(ts, [name], timeout=share, shortest=True)
    how = collections.Counter(
        f"{r.verdict} by {r.stats.get('strategy') or '-'}" for r in results
    )
    return {"properties": len(results),
            "proved": sum(r.verdict == "holds" and r.coverage == "proved" for r in results),
            "how": dict(sorted(how.items()))}


def _job(kind: str, text: str, file: str, timeout: float, memory: int, conn) -> None:
    """In the child: load, run one engine, send back a dict of figures."""
    try:
        t0 = time.monotonic()
        ts = _load(text, file, SAFETY if kind.startswith("family") else SPEC)
        res: dict = {"load": time.monotonic() - t0, "vars": len(ts.vars),
                     "actions": len(ts.actions)}
        t0 = time.monotonic()
        c0 = time.process_time()
        if kind.startswith("family"):
            res.update(_family_job(kind, ts, timeout))
        elif kind == "pdr":
            from nmrcheck.engines.symbolic import pdr

            (r,) = pdr(ts, [PROPERTY], timeout=timeout)
            res.update(verdict=r.verdict, coverage=str(r.coverage), reason=r.reason or "",
                       strategy=str(r.stats.get("strategy", "")))
        elif kind == "explicit":
            from nmrcheck.engines.explicit.checker import check
            from nmrcheck.engines.explicit.search import Limits

            result, _ = check(ts, Limits(timeout=timeout, max_memory_mb=memory), hangs=False)
            st = result.stats
            mine = next(r for r in result.results if r.property == PROPERTY)
            res.update(verdict=mine.verdict, states=st["states"], transitions=st["transitions"],
                       complete=st["complete"], reason=mine.reason or "")
        else:  # bmc
            from nmrcheck.engines.symbolic import bmc

            rs = bmc(ts, depth=40, timeout=timeout)
            counts: dict[str, int] = {}
            for r in rs:
                counts[r.verdict] = counts.get(r.verdict, 0) + 1
            res.update(verdict=", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
                       violated=sorted(r.property for r in rs if r.verdict == "violated"),
                       reason="; ".join(sorted({r.reason for r in rs if r.reason})))
        res["seconds"] = time.monotonic() - t0
        res["cpu"] = time.process_time() - c0
        conn.send(res)
    except Exception as e:  # noqa: BLE001 - report whatever went wrong in the child
        conn.send({"error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def measure(kind: str, text: str, file: str, timeout: float, memory: int) -> dict:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    start = time.monotonic()
    p = ctx.Process(target=_job, args=(kind, text, file, timeout, memory, child))
    p.start()
    child.close()
    res = None
    if parent.poll(timeout + GRACE + 60):  # loading a large model takes time too
        try:
            res = parent.recv()
        except EOFError:
            res = None
    if p.is_alive():
        p.kill()
    p.join()
    wall = time.monotonic() - start
    if res is None:
        return {"error": f"killed after {wall:.0f} s (timeout {timeout:g} s not honoured)"
                if p.exitcode is None or p.exitcode < 0 else f"child exit {p.exitcode}",
                "timeout": True}
    res["wall"] = wall
    return res


def cli(path: Path, timeout: float) -> dict:
    """``nmrcheck check PATH --engine bmc --depth 40`` end to end: wall and CPU seconds (user
    and system time of the child, from ``RUSAGE_CHILDREN``), exit code and summary line."""
    cmd = [sys.executable, "-m", "nmrcheck", "check", str(path.relative_to(ROOT)),
           "--engine", "bmc", "--depth", "40", "--timeout", f"{timeout:g}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, _ = p.communicate(timeout=timeout + GRACE)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return {"error": f"killed after {timeout + GRACE:.0f} s", "timeout": True}
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    first = out.decode("utf-8", "replace").splitlines()[:1]
    return {"exit": p.returncode, "wall": wall, "cpu": cpu, "summary": first[0] if first else ""}


def family_cli(path: Path, timeout: float) -> dict:
    """``nmrcheck check PATH --engine pdr --no-bundled-specs --spec bench/safety.spec`` end to
    end, as ``/usr/bin/time -v`` would measure it: wall seconds, user + system CPU seconds and
    peak resident memory of the process (``wait4``), exit code, and the verdict lines."""
    cmd = [sys.executable, "-m", "nmrcheck", "check", str(path), "--engine", "pdr",
           "--no-bundled-specs", "--spec", str(SAFETY.relative_to(ROOT)),
           "--timeout", f"{timeout:g}"]
    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    killer = threading.Timer(timeout + GRACE, p.kill)
    killer.start()
    out = p.stdout.read() if p.stdout is not None else b""
    _, status, usage = os.wait4(p.pid, 0)
    killer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    lines = out.decode("utf-8", "replace").splitlines()
    verdicts = collections.Counter(
        line.split(None, 1)[1].strip() for line in lines[1:] if line.startswith("  ")
        and len(line.split(None, 1)) == 2 and not line.strip().startswith(("proofs:", "hangs:"))
    )
    return {"exit": p.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024, "summary": lines[0] if lines else "",
            "verdicts": dict(sorted(verdicts.items())),
            "proofs": next((x.strip() for x in lines if x.strip().startswith("proofs:")), "")}


def family(ns: list[int], timeout: float, memory: int, with_cli: bool) -> list[dict]:
    """Part 0 of the module documentation: one row per N."""
    print(f"PDR on the provider-clients family, every safety property (timeout {timeout:g} s)")
    head = (f"{'N':>2}  {'vars':>4}  {'actions':>7}  {'command (wall, CPU, peak RSS)':<44}  "
            f"{'pdr(ts, names)':<34}  {'one call per property':<34}  how")
    print(head)
    print("-" * len(head))
    rows = []
    with tempfile.TemporaryDirectory(prefix="pdr-family-") as tmp:
        for n in ns:
            path = Path(tmp) / f"provider-clients-{n}.nmr"
            text = family_text(n)
            path.write_text(text)
            row: dict = {"n": n}
            if with_cli:
                row["cli"] = c = family_cli(path, timeout)
                cli_cell = (f"exit {c['exit']}, {c['wall']:.1f} s, {c['cpu']:.1f} s CPU, "
                            f"{c['rss_mb']:.0f} MiB")
            else:
                cli_cell = "-"
            for kind in ("family-all", "family-each"):
                row[kind] = measure(kind, text, path.name, timeout, memory)
            cells = [_family_cell(row[k]) for k in ("family-all", "family-each")]
            first = row["family-all"]
            print(f"{n:>2}  {first.get('vars', '-'):>4}  {first.get('actions', '-'):>7}  "
                  f"{cli_cell:<44}  {cells[0]:<34}  {cells[1]:<34}  {first.get('how', '')}",
                  flush=True)
            rows.append(row)
    return rows


def _family_cell(res: dict) -> str:
    if "error" in res:
        return res["error"]
    return (f"{res['proved']}/{res['properties']} proved, {res['seconds']:.1f} s "
            f"({res['cpu']:.1f} s CPU)")


def cell(res: dict, timeout: float) -> str:
    if "error" in res:
        return res["error"]
    s = f"{res['seconds']:.2f} s ({res['cpu']:.2f} s CPU)"
    v = res.get("verdict", "")
    if v == "unknown":
        why = res.get("reason") or "limit"
        return f"unknown after {s} ({why})"
    return f"{v} in {s}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    ap.add_argument("--memory", type=int, default=8192, help="MiB for explicit search")
    ap.add_argument("--clients", default="2,4,8,16,32")
    ap.add_argument("--family", default="4,5,6,7,8", help="provider-clients-N to prove")
    ap.add_argument("--no-bmc", action="store_true")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end bmc command")
    ap.add_argument("--out", default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    doc: dict = {"timeout": args.timeout, "family": [], "pdr_vs_explicit": [], "bmc40": [],
                 "commit": _commit(), "load": os.getloadavg()}
    if args.family:
        ns = [int(x) for x in args.family.split(",")]
        doc["family"] = family(ns, args.timeout, args.memory, not args.no_cli)
        print()
    if args.clients:
        pdr_vs_explicit(args, doc)
    doc["load_after"] = os.getloadavg()
    if not args.no_bmc:
        bmc40(args, doc)
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return out.stdout.strip()


def pdr_vs_explicit(args: argparse.Namespace, doc: dict) -> None:
    """Part 1 of the module documentation."""
    print(f"PDR vs explicit: {PROPERTY} on provider-unload with N clients "
          f"(timeout {args.timeout:g} s per run)")
    head = (f"{'N':>3}  {'vars':>5}  {'load s':>7}  {'PDR':<38}  {'proved by':<22}  "
            f"{'explicit search':<44}")
    print(head)
    print("-" * len(head))
    explicit_failed = False
    for n in (int(x) for x in args.clients.split(",")):
        text = generalised(n)
        file = f"provider-unload-{n}.nmr"
        pd = measure("pdr", text, file, args.timeout, args.memory)
        if explicit_failed:
            ex = {"error": "not run: explicit search hit its limit for a smaller N"}
        else:
            ex = measure("explicit", text, file, args.timeout, args.memory)
            if "error" in ex or not ex.get("complete"):
                explicit_failed = True
        exs = cell(ex, args.timeout)
        if "states" in ex:
            exs += f", {ex['states']:,} states" + ("" if ex.get("complete") else " (partial)")
        load = pd.get("load") or ex.get("load")
        print(f"{n:>3}  {pd.get('vars', '-'):>5}  "
              f"{'-' if load is None else f'{load:.2f}':>7}  {cell(pd, args.timeout):<38}  "
              f"{pd.get('strategy', '-'):<22}  {exs}", flush=True)
        doc["pdr_vs_explicit"].append({"clients": n, "pdr": pd, "explicit": ex})


def bmc40(args: argparse.Namespace, doc: dict) -> None:
    """Part 2 of the module documentation."""
    print()
    print(f"BMC to depth 40, every property, on models/seeds/ (timeout {args.timeout:g} s)")
    head = f"{'model':<46}  {'load s':>7}  {'BMC depth 40':<52}  {'nmrcheck --engine bmc':<32}"
    print(head)
    print("-" * len(head))
    for path in sorted((ROOT / "models" / "seeds").glob("*.nmr")):
        rel = str(path.relative_to(ROOT))
        res = measure("bmc", path.read_text(), rel, args.timeout, args.memory)
        extra = ""
        if res.get("violated"):
            extra = "; violated: " + ", ".join(res["violated"])
        load = res.get("load")
        whole = "-"
        if not args.no_cli:
            c = cli(path, args.timeout)
            res["cli"] = c
            whole = c["error"] if "error" in c else (
                f"{c['wall']:.2f} s ({c['cpu']:.2f} s CPU), exit {c['exit']}")
        print(f"{rel:<46}  {'-' if load is None else f'{load:.2f}':>7}  "
              f"{cell(res, args.timeout):<52}  {whole}{extra}", flush=True)
        doc["bmc40"].append({"model": rel, **res})


if __name__ == "__main__":
    sys.exit(main())
