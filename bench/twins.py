"""Check that each Promela twin has exactly nmrcheck's reachable states, not only their number.

    python3 bench/twins.py [--max-n N] [--designs D,...]

For each design and N (default N <= 2; N = 3 takes a minute), the reachable states of both
tools are projected on the variables they share (bench/README.md, "The Promela twins": every
global and local of the twin, named after nmrcheck's variable), and the two multisets of
projected states are compared: for every valuation, the number of reachable states that have
it must be the same in both tools. Program counters are left out of the projection (their
encodings differ), which is why multisets and not sets are compared.

How SPIN's states are read: the generated verifier (spin -a, default optimisations) is
compiled with -DSVDUMP -DNOREDUCE, and its "write each new state to a file" hook is replaced
by a function that prints the shared variables of the state being stored, so every state
SPIN stores is printed once. A variable that SPIN removed from its state vector because the
model never reads it (a write-only variable) must be constant in nmrcheck's states.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import family  # noqa: E402

BINDING_VARS = {  # Promela array -> nmrcheck variable suffix of the binding
    "phase": "phase", "cs": "cs", "ps": "ps", "c_pend": "c_pending_returned",
    "p_pend": "p_pending_returned", "attach_status": "attach_status", "cbc": "cbc",
    "pbc": "pbc", "c2p": "c2p", "p2c": "p2c", "in_progress": "cbc.in_progress",
    "detaching": "cbc.detaching",
}


def shared(s: family.Shape) -> list[tuple[str, str, str]]:
    """(Promela C expression, State field it needs or "", nmrcheck variable name)."""
    out = [("now.prov_state", "prov_state", "Provider.state")]
    for r, reg in enumerate(s.regs):
        out.append((f"now.prov_reg[{r}]", "prov_reg", f"Provider.{reg}.state"))
        out.append((f"now.prov_dereg_in_unload[{r}]", "prov_dereg_in_unload",
                    f"Provider.{reg}.dereg_in_unload"))
    for b in range(s.n):
        c = s.client_names[b]
        name = f"{c}.Cli~Provider.{s.regs[s.binding_reg[b]]}"
        out.append((f"now.cli_state[{b}]", "cli_state", f"{c}.state"))
        out.append((f"now.cli_reg[{b}]", "cli_reg", f"{c}.Cli.state"))
        for pv, nv in BINDING_VARS.items():
            out.append((f"now.{pv}[{b}]", pv, f"{name}.{nv}"))
        out.append((f"((P2 *)Pptr({1 + s.n + b}))->pending", "",
                    f"{name}/client.ClientDetachProvider.pending"))
    for st in s.status:
        out.append((f"((P0 *)Pptr(0))->{st}", "", f"Provider.Unload.{st}"))
    return out


def spin_states(design: str, n: int, work: Path) -> tuple[collections.Counter, int, list[str]]:
    s = family.shape(design, n)
    cols = shared(s)
    (work / "m.pml").write_text(family.pml_text(design, n))
    subprocess.run(["spin", "-a", "m.pml"], cwd=work, check=True, capture_output=True)
    header = (work / "pan.h").read_text()
    state = header[header.index("typedef struct State {"):]
    state = state[: state.index("} State;")]
    fields = set(re.findall(r"\b(\w+)(?:\[\d+\])?\s*(?::\s*\d+)?;", state))
    dropped = [nv for expr, field, nv in cols if field and field not in fields]
    exprs = [expr if (not field or field in fields) else "-1" for expr, field, _ in cols]
    fmt = " ".join(["%d"] * len(exprs))
    dump = f'int bench_dump(void) {{ printf("S {fmt}\\n", {", ".join(exprs)}); return vprefix; }}'
    c = (work / "pan.c").read_text()
    hook = "write(svfd, (uchar *) &now, vprefix) != vprefix"
    assert hook in c, "pan.c has no SVDUMP hook: another SPIN version?"
    c = c.replace(hook, "bench_dump() != vprefix")
    c = c.replace('#include "pan.h"', '#include "pan.h"\nint bench_dump(void);', 1)
    (work / "pand.c").write_text(c + "\n" + dump + "\n")
    subprocess.run(["gcc", "-O2", "-DSAFETY", "-DNOREDUCE", "-DSVDUMP", "-o", "pand", "pand.c"],
                   cwd=work, check=True, capture_output=True)
    out = subprocess.run(["./pand", "-m1000000", "-p1"], cwd=work, capture_output=True,
                         text=True, check=True).stdout
    states = collections.Counter(tuple(map(int, line[2:].split()))
                                 for line in out.splitlines() if line.startswith("S "))
    stored = int(re.search(r"(\d+) states, stored", out).group(1))
    return states, stored, dropped


def nmrcheck_states(design: str, n: int) -> tuple[collections.Counter, int, list[str]]:
    from nmrcheck.engines.explicit.search import explore
    from nmrcheck.nmr.load import load_text

    spec = ROOT / "specs" / "lifecycle.spec"
    ts = load_text(family.nmr_text(design, n), f"{design}-{n}.nmr",
                   [("specs/lifecycle.spec", spec.read_text())])
    ex = explore(ts, keep_edges=False)
    assert ex.complete
    index = {v.name: i for i, v in enumerate(ts.vars)}
    cols = [nv for _, _, nv in shared(family.shape(design, n))]
    idx = [index[c] for c in cols]
    unpack = ex.compiled.layout.unpack
    states = collections.Counter()
    for packed in ex.states:
        v = unpack(packed)
        states[tuple(v[i] for i in idx)] += 1
    return states, len(ex.states), cols


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-n", type=int, default=2)
    ap.add_argument("--designs", default=",".join(family.BENCHMARKED))
    args = ap.parse_args(argv)
    bad = 0
    for design in args.designs.split(","):
        for n in range(1, args.max_n + 1):
            with tempfile.TemporaryDirectory(prefix="nmrtwin-") as tmp:
                sp, stored, dropped = spin_states(design, n, Path(tmp))
            nm, total, cols = nmrcheck_states(design, n)
            # a variable SPIN dropped (never read in the twin) must be constant in nmrcheck
            for name in dropped:
                k = cols.index(name)
                if len({t[k] for t in nm}) != 1:
                    print(f"{design}-{n}: SPIN dropped {name}, which nmrcheck varies")
                    bad += 1
                nm = collections.Counter({t[:k] + (-1,) + t[k + 1:]: c for t, c in nm.items()})
            same = sp == nm
            print(f"{design}-{n}: nmrcheck {total:,} states, SPIN {stored:,} stored; "
                  f"{len(nm):,} valuations of {len(cols)} shared variables; "
                  f"multisets {'equal' if same else 'DIFFER'}"
                  + (f" (SPIN dropped, constant in nmrcheck: {', '.join(dropped)})"
                     if dropped else ""))
            if not same or stored != total:
                bad += 1
                for t in sorted(set(nm) | set(sp)):
                    if nm[t] != sp[t]:
                        diff = {cols[i]: x for i, x in enumerate(t) if x}
                        print(f"  nmrcheck {nm[t]} SPIN {sp[t]}: {diff}")
                        break
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
