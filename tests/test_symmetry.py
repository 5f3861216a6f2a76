"""Symmetry reduction for replicated drivers: same verdicts, real shortest traces, fewer states,
an exact orbit representative, and switched off (with a note) where it would be unsound."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from support import ROOT, model_params, run_cli, sweep_slow

from nmrcheck.engines.common.results import HANG
from nmrcheck.engines.explicit.checker import check
from nmrcheck.engines.explicit.liveness import without_liveness
from nmrcheck.engines.explicit.search import explore
from nmrcheck.engines.explicit.symmetry import analyse, mappings
from nmrcheck.nmr.load import load, load_text
from nmrcheck.traces.replay import check_replays

REPLICATED = re.compile(r"^driver \w+\[\d+\]", re.M)
CATALOGUE = sorted(
    p for p in (ROOT / "models").rglob("*.nmr") if REPLICATED.search(p.read_text())
)
BENCH = [
    ROOT / "bench" / "models" / f"{family}-{n}.nmr"
    for family in ("provider-clients", "multi-npi")
    for n in (2, 3)
]
SAFETY = str(ROOT / "bench" / "safety.spec")

HANG_MODEL = """
npi EXAMPLE_NPI

driver ExampleProvider {
  provider Prov of EXAMPLE_NPI

  Unload {
    status = NmrDeregisterProvider(Prov)
    if (status == STATUS_PENDING) {
      NmrWaitForProviderDeregisterComplete(Prov)
    }
  }
}

driver PendingClient[3] {
  client Cli of EXAMPLE_NPI

  ClientDetachProvider {
    return STATUS_PENDING
  }
}
"""


def _load(path: Path):
    if path.parent.name == "models" and path.parents[1].name == "bench":
        return load(str(path), [SAFETY], bundled=False)
    return load(str(path))


def _summary(result):
    out = {}
    for r in result.results:
        length = None
        if r.trace is not None:
            # a hang's trace runs on to a dead end, which may differ between members of
            # one orbit: compare where the thread is blocked from
            length = r.stats["blocked_from"] if r.property == HANG else len(r.trace)
        out[r.property] = (r.verdict, length)
    return out


def _compare(ts):
    plain, ex0 = check(ts, symmetry="off")
    reduced, ex1 = check(ts, symmetry="auto")
    assert _summary(plain) == _summary(reduced)
    for r in reduced.results:
        if r.trace is not None:
            check_replays(ts, r.trace)  # a real run, from the real initial state
    assert reduced.stats["depth"] == plain.stats["depth"]
    return plain, reduced


@pytest.mark.parametrize(
    "path",
    CATALOGUE + [pytest.param(p, marks=pytest.mark.slow) for p in BENCH
                 if REPLICATED.search(p.read_text())],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_same_verdicts_and_trace_lengths(path):
    ts = without_liveness(_load(path))
    plain, reduced = _compare(ts)
    sym = reduced.stats["symmetry"]
    assert sym["used"], sym
    assert sym["orbits"] == reduced.stats["states"] < plain.stats["states"]
    assert "symmetry" not in plain.stats


def test_catalogue_has_replicated_models():
    assert len(CATALOGUE) >= 5


def test_hang_under_symmetry(tmp_path):
    ts = without_liveness(load_text(HANG_MODEL, "hang.nmr"))
    plain, reduced = _compare(ts)
    hang = {r.property: r for r in reduced.results}[HANG]
    assert hang.verdict == "violated"
    before = {r.property: r for r in plain.results}[HANG]
    assert len(hang.stats["blocked_slots"]) == len(before.stats["blocked_slots"])
    # the blocked thread is named in the real run: it is busy in the state it is blocked in
    state = hang.trace.states[hang.stats["blocked_from"]]
    for k in hang.stats["blocked_slots"]:
        slot = ts.slots[k]
        assert state[slot.pc] != slot.idle
    assert reduced.stats["states"] < plain.stats["states"]


@pytest.mark.parametrize(
    "name", [pytest.param("bench/models/provider-clients-3.nmr", marks=pytest.mark.slow),
             pytest.param("bench/models/multi-npi-3.nmr", marks=pytest.mark.slow)]
)  # 1.5 to 2 s each: full suite only
def test_representative_is_a_function_of_the_orbit(name):
    ts = without_liveness(_load(ROOT / name))
    sym, why = analyse(ts)
    assert sym is not None, why
    states = explore(ts, keep_edges=False).states
    sample = random.Random(6).sample(states, 400)
    perms = mappings(sym)
    for s in sample:
        rep, m = sym.canon_map(s)
        assert rep == sym.canon(s)
        assert rep == (s if m is None else sym.apply(s, m))  # the representative is in the orbit
        for p in perms:
            assert sym.canon(sym.apply(s, p)) == rep


def test_orbit_count_is_exact():
    # the reduced search stores exactly one state per orbit of the reachable states
    ts = without_liveness(load_text(HANG_MODEL, "hang.nmr"))
    sym, _ = analyse(ts)
    full = explore(ts, keep_edges=False)
    reduced = explore(ts, keep_edges=False, symmetry=sym)
    assert len({sym.canon(s) for s in full.states}) == len(reduced.states)


def test_non_symmetric_property_switches_it_off(tmp_path):
    spec = tmp_path / "first.spec"
    spec.write_text(
        "invariant first_never_pending: forall b in Client[1].bindings: b.cs != PENDING\n"
    )
    model = str(ROOT / "bench" / "models" / "provider-clients-2.nmr")
    run = run_cli("check", model, "--engine", "explicit", "--no-hang", "--spec", str(spec))
    assert "symmetry: off (not symmetric in the instances: first_never_pending)" in run.out
    plain = run_cli(
        "check", model, "--engine", "explicit", "--no-hang", "--spec", str(spec),
        "--symmetry", "off",
    )
    states = re.search(r"(\d+) states", plain.out).group(1)
    assert re.search(rf"\b{states} states", run.out)  # nothing was reduced
    js = run_cli(
        "check", model, "--engine", "explicit", "--no-hang", "--spec", str(spec), "--json"
    ).json
    sym = js["models"][0]["stats"]["symmetry"]
    assert sym["used"] is False and "first_never_pending" in sym["reason"]


def test_cli_summary_and_off():
    model = str(ROOT / "models" / "seeds" / "provider-unload-no-wait.nmr")
    on = run_cli("check", model, "--engine", "explicit")
    assert re.search(r"^symmetry: 2 instances of ExampleClient, [\d,]+ orbits stored", on.out, re.M)
    off = run_cli("check", model, "--engine", "explicit", "--symmetry", "off")
    assert "symmetry" not in off.out
    assert on.code == off.code == 1
    js = run_cli("check", model, "--engine", "explicit", "--json").json
    assert js["models"][0]["stats"]["symmetry"]["groups"] == {"ExampleClient": 2}


def test_graph_stays_unreduced():
    model = str(ROOT / "models" / "seeds" / "provider-unload-no-wait.nmr")
    ts = without_liveness(load(model))
    full = check(ts, symmetry="off")[0].stats["states"]
    run = run_cli("graph", model)
    assert run.out.split(": ")[1].startswith(f"{full} states")


def test_no_replicated_driver_no_note():
    model = str(ROOT / "models" / "seeds" / "detach-pending-never-completed.nmr")
    ts = without_liveness(load(model))
    result, _ = check(ts, symmetry="auto")
    assert "symmetry" not in result.stats


@pytest.mark.parametrize("with_symmetry", [False, True])
def test_the_edge_loop_stores_the_same_states_and_every_edge(with_symmetry):
    # the generated loop that keeps edges, the one that does not and the general loop
    # store the same states in the same order; every edge is a successor's representative,
    # with the mapping that takes the real successor there
    ts = load_text(HANG_MODEL, "hang.nmr")
    sym = analyse(ts)[0] if with_symmetry else None
    edges = explore(ts, keep_edges=True, symmetry=sym)
    plain = explore(ts, keep_edges=False, symmetry=sym)
    general = explore(ts, keep_edges=False, symmetry=sym, generated=False)
    for f in ("states", "parent", "via", "found"):
        assert getattr(edges, f) == getattr(plain, f) == getattr(general, f), f
    index = {s: j for j, s in enumerate(edges.states)}
    for i, s in enumerate(edges.states):
        out = edges.compiled.successors(s)[0]
        got = list(edges.out(i))
        assert len(got) == len(out)
        for (a, t), e in zip(out, got):
            assert edges.act[e] == a
            m = edges.frames.maps[edges.perm[e]] if edges.perm is not None else None
            u = t if m is None else sym.apply(t, m)
            assert index[u] == edges.dst[e]
    assert edges.transitions == plain.transitions == len(edges.dst)


def test_liveness_properties_left_in_the_system_are_checked_as_sets_of_parts():
    # the per-registration parts of a bundled leads_to map onto each other: symmetric
    model = ROOT / "models" / "seeds" / "provider-unload.nmr"
    sym, why = analyse(load(str(model)))
    assert sym is not None, why
    one = (
        "leads_to first_completes:\n"
        "  Client[1].Cli.state == DEREG_PENDING ~> Client[1].Cli.state == CLOSED\n"
    )
    ts = load_text(
        (ROOT / "bench" / "models" / "provider-clients-2.nmr").read_text(),
        "provider-clients-2.nmr",
        [("first.spec", one)],
    )
    sym, why = analyse(ts)
    assert sym is None and "first_completes" in why


TWO_GROUPS = """
npi NPI_A, NPI_B

driver Provider {
  provider ProvA of NPI_A
  provider ProvB of NPI_B

  Unload {
    statusA = NmrDeregisterProvider(ProvA)
    if (statusA == STATUS_PENDING) {
      NmrWaitForProviderDeregisterComplete(ProvA)
    }
  }
}

driver ClientA[2] {
  client Cli of NPI_A
}

driver ClientB[2] {
  client Cli of NPI_B
  ClientDetachProvider {
    return STATUS_PENDING
  }
}
"""


def test_two_replicated_drivers():
    ts = without_liveness(load_text(TWO_GROUPS, "two.nmr"))
    plain, reduced = _compare(ts)
    assert reduced.stats["symmetry"]["groups"] == {"ClientA": 2, "ClientB": 2}
    sym = analyse(ts)[0]
    full = explore(ts, keep_edges=False)
    assert len({sym.canon(s) for s in full.states}) == reduced.stats["states"]
    for s in random.Random(2).sample(full.states, 300):
        rep = sym.canon(s)
        assert all(sym.canon(sym.apply(s, m)) == rep for m in mappings(sym))


@pytest.mark.parametrize("source", [pytest.param("multi-npi-3", marks=pytest.mark.slow),
                                    "two-groups"])
def test_incremental_representative_of_a_successor_is_the_representative(source):
    # canon_next and canon_map_next (the search's per-successor step, which looks at the one
    # instance an action changed) agree with the full canon on every successor of sampled
    # representatives, with one replicated driver and with two
    if source == "two-groups":
        ts = without_liveness(load_text(TWO_GROUPS, "two.nmr"))
    else:
        ts = without_liveness(_load(ROOT / "bench" / "models" / f"{source}.nmr"))
    sym = analyse(ts)[0]
    assert sym is not None
    reps = explore(ts, keep_edges=False, symmetry=sym).states
    from nmrcheck.engines.explicit.codegen import compile_system

    succ = compile_system(ts).successors
    checked = moved = 0
    for s in random.Random(3).sample(reps, min(400, len(reps))):
        keys = sym.parent_keys(s)
        assert keys is not None  # a representative is in key order
        for _, t in succ(s)[0]:
            rep = sym.canon(t)
            assert sym.canon_next(t, s, keys) == rep
            got, pid = sym.canon_map_next(t, s, keys)
            m = sym.frames.maps[pid]
            assert got == rep == (t if m is None else sym.apply(t, m))
            checked += 1
            moved += rep != t
    assert checked > 1000 and moved > 50  # the moving path is exercised


@pytest.mark.parametrize("name", [pytest.param("multi-npi-3", marks=pytest.mark.slow),
                                  "provider-clients-2", "two-groups", "hang"])
@pytest.mark.parametrize("with_symmetry", [False, True])
def test_generated_expansion_explores_like_the_general_loop(name, with_symmetry):
    # without edges the search runs one generated function (codegen.compile_expander); with
    # edges the general loop: the same states in the same order, same parents, actions, counts
    if name == "two-groups":
        ts = without_liveness(load_text(TWO_GROUPS, "two.nmr"))
    elif name == "hang":
        ts = without_liveness(load_text(HANG_MODEL, "hang.nmr"))
    else:
        ts = without_liveness(_load(ROOT / "bench" / "models" / f"{name}.nmr"))
    sym = analyse(ts)[0] if with_symmetry else None
    general = explore(ts, keep_edges=True, symmetry=sym)
    fused = explore(ts, keep_edges=False, symmetry=sym)
    for f in ("states", "parent", "via", "found", "transitions", "max_depth", "complete"):
        assert getattr(general, f) == getattr(fused, f), f
    from nmrcheck.engines.explicit.search import Limits

    cut = explore(ts, Limits(max_states=len(fused.states) // 2), keep_edges=False, symmetry=sym)
    assert not cut.complete and "state limit" in cut.stop_reason
    assert cut.states == fused.states[: len(fused.states) // 2]


# the heavy and the obligation models: full suite only
@pytest.mark.parametrize("path", model_params(sorted((ROOT / "models").rglob("*.nmr")),
                                              slow=sweep_slow))
def test_generated_expansion_finds_what_the_general_loop_finds(path):
    # every catalogue model, with its violations: the same first state for every property
    ts = without_liveness(_load(path))
    sym = analyse(ts)[0]
    general = explore(ts, keep_edges=True, symmetry=sym)
    fused = explore(ts, keep_edges=False, symmetry=sym)
    assert (general.found, len(general.states), general.transitions) == (
        fused.found, len(fused.states), fused.transitions)
