"""BMC, k-induction and PDR on small hand-made systems, with exact verdicts and trace lengths."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from symbolic_models import counter, crashing, goal_distance, ladder, leaky, peterson, shift

from nmrcheck.engines.common.results import (
    BOUNDED,
    EXHAUSTIVE,
    HOLDS,
    HOLDS_BOUNDED,
    PROOF_FAILED,
    PROVED,
    UNKNOWN,
    UNREACHABLE,
    VIOLATED,
    WITNESSED,
)
from nmrcheck.engines.symbolic import (
    Certificate,
    bmc,
    check_certificate,
    k_induction,
    pdr,
)
from nmrcheck.errors import InputError
from nmrcheck.ir.walkers import evaluate


def by_name(results):  # type: ignore[no-untyped-def]
    return {r.property: r for r in results}


def assert_replays(ts, trace, from_init: bool = True) -> None:  # type: ignore[no-untyped-def]
    if from_init:
        assert trace.states[0] == ts.initial_state()
    for j, a in enumerate(trace.actions):
        assert a in ts.enabled(trace.states[j])
        assert ts.fire(a, trace.states[j]) == trace.states[j + 1]


# -- BMC --------------------------------------------------------------------------------------


def test_bmc_counter() -> None:
    ts = counter(5)
    r = by_name(bmc(ts, depth=7))
    assert r["never3"].verdict == VIOLATED
    assert r["never3"].trace.states == ((0,), (1,), (2,), (3,))
    assert r["never3"].trace.actions == (0, 0, 0)
    assert r["reach_top"].verdict == WITNESSED and len(r["reach_top"].trace) == 5
    assert r["bounded"].verdict == HOLDS_BOUNDED
    assert (r["bounded"].coverage, r["bounded"].bound) == (BOUNDED, 7)
    assert r["reach_beyond"].verdict == UNKNOWN
    assert r["reach_beyond"].reason == "not witnessed within bound 7"
    assert r["reach_beyond"].bound == 7
    assert all(x.engine == "bmc" for x in r.values())


def test_bmc_bound_too_small() -> None:
    r = by_name(bmc(counter(5), ["never3", "reach_top"], depth=2))
    assert r["never3"].verdict == HOLDS_BOUNDED and r["never3"].bound == 2
    assert r["reach_top"].verdict == UNKNOWN


@pytest.mark.parametrize("engine", [bmc, k_induction, pdr])
def test_buggy_peterson_shortest_violation(engine) -> None:  # type: ignore[no-untyped-def]
    ts = peterson(buggy=True)
    assert goal_distance(ts, ts.properties[0]) == 6
    r = by_name(engine(ts))
    assert r["mutex"].verdict == VIOLATED
    assert r["both_critical"].verdict == WITNESSED
    for x in r.values():
        assert len(x.trace) == 6
        assert_replays(ts, x.trace)
        assert not evaluate(ts.properties[0].expr, x.trace.states[-1])


def test_correct_peterson() -> None:
    ts = peterson(buggy=False)
    r = by_name(bmc(ts, depth=10))
    assert r["mutex"].verdict == HOLDS_BOUNDED and r["mutex"].coverage == BOUNDED
    assert r["both_critical"].verdict == UNKNOWN
    r = by_name(pdr(ts))
    assert r["mutex"].verdict == HOLDS and r["mutex"].coverage == PROVED
    assert r["both_critical"].verdict == UNREACHABLE and r["both_critical"].coverage == PROVED
    for x in r.values():
        assert isinstance(x.certificate, Certificate)
        assert check_certificate(ts, x.certificate)[0]
    # 128 states in the full domain, 20 reachable: k-induction needs a deep k here
    r = by_name(k_induction(ts, ["mutex"], max_k=4))
    assert r["mutex"].verdict == PROOF_FAILED
    assert r["mutex"].stats["base"] == "passed for runs of 0..3 steps"
    assert r["mutex"].stats["step"] == "failed at k=1..4"
    cti = r["mutex"].trace
    assert len(cti) == 4
    assert_replays(ts, cti, from_init=False)
    assert not evaluate(ts.properties[0].expr, cti.states[-1])


def test_halted_states_have_no_successors() -> None:
    for engine in (bmc, k_induction, pdr):
        r = by_name(engine(crashing(halt=True)))
        assert r["no_crash"].verdict == VIOLATED and len(r["no_crash"].trace) == 3
        assert r["no_crash"].trace.actions[-1] == 1  # crash; the halted state is still checked
        assert r["no_poison"].verdict in (HOLDS, HOLDS_BOUNDED)
        assert r["crashed_at_3"].verdict in (UNREACHABLE, UNKNOWN)
        if engine is not bmc:
            assert r["no_poison"].verdict == HOLDS
            assert r["crashed_at_3"].verdict == UNREACHABLE
    # without the halted condition the poison action runs
    r = by_name(bmc(crashing(halt=False)))
    assert r["no_poison"].verdict == VIOLATED and len(r["no_poison"].trace) == 4
    assert r["crashed_at_3"].verdict == WITNESSED and len(r["crashed_at_3"].trace) == 4


# -- k-induction ------------------------------------------------------------------------------


def test_k_induction_one_inductive_has_certificate() -> None:
    ts = counter(5)
    r = by_name(k_induction(ts, ["bounded", "reach_beyond"]))
    for x in r.values():
        assert x.coverage == PROVED and x.stats["k"] == 1
        assert "k-inductive at k=1" in x.reason
        assert check_certificate(ts, x.certificate)[0]
    assert r["bounded"].verdict == HOLDS
    assert r["reach_beyond"].verdict == UNREACHABLE


def test_k_induction_two_inductive() -> None:
    (r,) = k_induction(shift())
    assert r.verdict == HOLDS and r.coverage == PROVED
    assert r.stats["k"] == 2 and r.certificate is None
    assert r.stats["step"] == "passed at k=2 (failed at k=1..1)"


def test_k_induction_proof_failed_then_proved() -> None:
    ts = ladder(10, wrap=True)  # runs never stop: the base case alone cannot decide
    (r,) = k_induction(ts, max_k=3)
    assert r.verdict == PROOF_FAILED and r.is_inconclusive
    assert r.stats["base"] == "passed for runs of 0..2 steps"
    assert r.stats["step"] == "failed at k=1..3"
    assert r.stats["implication"] == "not established"
    # the counterexample to induction: 5 -> 6 -> 7 -> 8, unreachable from the initial state
    assert r.trace.states == ((5,), (6,), (7,), (8,))
    assert_replays(ts, r.trace, from_init=False)
    (r,) = k_induction(ts, max_k=6)
    assert r.verdict == HOLDS and r.stats["k"] == 5
    assert "k-inductive at k=5" in r.reason and r.stats["step"].startswith("passed at k=5")


def test_k_induction_base_case_violation_is_shortest() -> None:
    r = by_name(k_induction(counter(5), ["never3", "reach_top"]))
    assert r["never3"].verdict == VIOLATED and len(r["never3"].trace) == 3
    assert r["never3"].stats["base"] == "failed at step 3"
    assert r["reach_top"].verdict == WITNESSED and len(r["reach_top"].trace) == 5


def test_k_induction_exhaustive_when_every_run_stops() -> None:
    # every run stops after 3 steps; x != 18 is only 15-inductive
    (r,) = k_induction(ladder(20, bad=18), max_k=10)
    assert r.verdict == HOLDS and r.coverage == EXHAUSTIVE and r.bound == 3
    assert r.stats["k"] == 5 and r.stats["implication"].startswith("exhaustive")
    # the base case runs ahead of the step: no deep step is tried
    assert r.stats["step"] == "failed at k=1..2"


@pytest.mark.slow  # 2 s: full suite only (k-induction on small systems in the fast tier)
def test_k_induction_answers_a_seed_whose_runs_all_stop_quickly() -> None:
    """models/seeds/detach-pending.nmr: its properties are only about 15-inductive and the
    deep steps are hard (over 9 minutes at depth 40 before); its runs all stop within 17
    steps, which the base case, run ahead of the step, finds within seconds."""
    from nmrcheck.nmr.load import load

    ts = load("models/seeds/detach-pending.nmr")
    start = time.monotonic()
    results = k_induction(ts, ["REG-5", "DET-4", "no_code_after_unload"], max_k=40, timeout=120)
    assert time.monotonic() - start < 60  # about 3 s
    for r in results:
        assert r.verdict == HOLDS and r.coverage in (PROVED, EXHAUSTIVE), r.reason


# -- domains are not assumed ------------------------------------------------------------------


def test_updates_leaving_the_domain_are_checked_faithfully() -> None:
    ts = leaky()  # x in 0..2 but climbs to 5
    r = by_name(bmc(ts, depth=8))
    assert r["le4"].verdict == VIOLATED and r["le4"].trace.states[-1] == (5,)
    assert r["le9"].verdict == HOLDS_BOUNDED
    r = by_name(pdr(ts))
    assert r["le4"].verdict == VIOLATED and len(r["le4"].trace) == 5
    assert r["le9"].verdict == HOLDS and check_certificate(ts, r["le9"].certificate)[0]
    r = by_name(k_induction(ts, max_k=8))
    assert r["le4"].verdict == VIOLATED and len(r["le4"].trace) == 5
    assert r["le9"].verdict == UNKNOWN and "leaves its domain" in r["le9"].reason


# -- API details ------------------------------------------------------------------------------


def test_property_selection() -> None:
    ts = counter(5)
    assert [r.property for r in bmc(ts, ["reach_top", "never3"])] == ["reach_top", "never3"]
    assert [r.property for r in pdr(ts, [ts.properties[1]])] == ["never3"]
    with pytest.raises(InputError):
        bmc(ts, ["nope"])


@pytest.mark.slow  # two processes: full suite only (tests/test_cli.py runs two in the fast tier)
def test_deterministic_traces_across_runs_and_hash_seeds() -> None:
    ts = peterson(buggy=True)
    first = [r.trace for r in bmc(ts)] + [r.trace for r in pdr(ts)]
    again = [r.trace for r in bmc(ts)] + [r.trace for r in pdr(ts)]
    assert first == again
    here = Path(__file__).resolve().parent
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "from symbolic_models import peterson\n"
        "from nmrcheck.engines.symbolic import bmc, pdr, fingerprint\n"
        "ts = peterson(True)\n"
        "print([r.trace for r in bmc(ts)] + [r.trace for r in pdr(ts)])\n"
        "print(fingerprint(ts, ts.properties[0]))\n"
    )
    outs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONDONTWRITEBYTECODE="1")
        out = subprocess.run(
            [sys.executable, "-c", code, str(here.parents[1]), str(here)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        outs.add(out)
    assert len(outs) == 1
    assert str(first) in outs.pop()
