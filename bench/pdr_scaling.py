"""PDR proof time against explicit exploration as the number of clients grows (issue 4).

    python3 bench/pdr_scaling.py [--timeout S] [--clients 2,4,8,16,32] [--no-bmc] [--no-cli]
                                 [--out FILE]

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
import json
import multiprocessing as mp
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "models" / "seeds" / "provider-unload.nmr"
SPEC = ROOT / "specs" / "lifecycle.spec"
PROPERTY = "unload_waits_for_bindings"
GRACE = 30.0


def generalised(n: int) -> str:
    """provider-unload.nmr with N clients."""
    text = SEED.read_text()
    out, k = re.subn(r"driver ExampleClient\[\d+\]", f"driver ExampleClient[{n}]", text)
    assert k == 1, "models/seeds/provider-unload.nmr no longer declares ExampleClient[n]"
    return out


def _load(text: str, file: str):
    from nmrcheck.nmr.load import load_text

    return load_text(text, file, [(str(SPEC.relative_to(ROOT)), SPEC.read_text())])


def _job(kind: str, text: str, file: str, timeout: float, memory: int, conn) -> None:
    """In the child: load, run one engine, send back a dict of figures."""
    try:
        t0 = time.monotonic()
        ts = _load(text, file)
        res: dict = {"load": time.monotonic() - t0, "vars": len(ts.vars),
                     "actions": len(ts.actions)}
        t0 = time.monotonic()
        c0 = time.process_time()
        if kind == "pdr":
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
    ap.add_argument("--no-bmc", action="store_true")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end bmc command")
    ap.add_argument("--out", default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    doc: dict = {"timeout": args.timeout, "pdr_vs_explicit": [], "bmc40": []}
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
    if not args.no_bmc:
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
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
