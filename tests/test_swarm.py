"""Swarm search in one process: runs planned from a seed, violations real and replayed,
coverage estimated, and never `holds` (nmrcheck swarm without --ray)."""

from __future__ import annotations

import pytest
from support import run_cli

from nmrcheck.engines import swarm
from nmrcheck.engines.explicit.probe import prepare, replay
from nmrcheck.engines.explicit.search import Limits, explore
from nmrcheck.nmr.load import load

HOLDS = "models/seeds/provider-unload.nmr"
BUG = "models/seeds/client-unload-no-wait.nmr"


def test_the_same_seed_plans_the_same_runs_and_another_seed_others():
    a, b, c = swarm.plan(9, 30, 7), swarm.plan(9, 30, 7), swarm.plan(9, 30, 8)
    assert a == b
    assert [r.kind for r in a] == list(swarm.KINDS) * 3
    assert len({r.seed for r in a}) == 9
    assert {r.seed for r in a}.isdisjoint({r.seed for r in c})


@pytest.mark.parametrize("kind", swarm.KINDS)
def test_each_kind_meets_a_violation_that_replays(kind):
    target = prepare(load(BUG))
    spec = swarm.RunSpec(0, kind, 12345, depth=60, budget=50_000)
    r = swarm.run(target, spec)
    assert r.found is not None and r.found.broken
    states = replay(target.comp, target.initial, r.found.actions,
                    lambda s: bool(target.comp.found(s, 0) & r.found.broken))
    assert states == r.found.states


@pytest.mark.parametrize("kind", swarm.KINDS)
def test_a_run_is_a_function_of_its_spec(kind):
    target = prepare(load(HOLDS))
    spec = swarm.RunSpec(3, kind, 99, depth=20, budget=3_000)
    one, two = swarm.run(target, spec), swarm.run(target, spec)
    assert (one.visited, one.sketch) == (two.visited, two.sketch)
    assert one.visited <= 3_000 + 1


def test_a_depth_bound_keeps_runs_shallow():
    target = prepare(load(BUG))
    r = swarm.run(target, swarm.RunSpec(0, "dfs", 1, depth=2, budget=10_000))
    assert r.found is None  # client-unload-no-wait breaks nothing in two steps
    assert 0 < r.visited < 50


def test_the_union_estimate_is_close_to_the_exhaustive_count():
    ts = load(HOLDS)
    exhaustive = len(explore(ts, Limits(), keep_edges=False).states)
    target = prepare(ts)
    runs = [swarm.run(target, s) for s in swarm.plan(6, 60, 0, budget=20_000)]
    estimate = swarm.distinct_states([r.sketch for r in runs])
    assert abs(estimate - exhaustive) <= 0.03 * exhaustive


def test_the_sketch_estimate_on_known_sets():
    for n in (10, 5_000, 200_000):
        sk = swarm.Sketch()
        for i in range(n):
            sk.add(i * 1_000_003 + 17)
            sk.add(i * 1_000_003 + 17)
        assert abs(swarm.distinct_states([sk.dump()]) - n) <= max(1, 0.03 * n)


def test_swarm_command_violation_is_shortest_replayed_and_printed_like_check():
    swarm_run = run_cli("swarm", BUG, "--walks", "4", "--depth", "60")
    check_run = run_cli("check", BUG)
    assert swarm_run.code == 1 == check_run.code
    assert "Counterexample" in swarm_run.out and "(shortest)" in swarm_run.out
    # the shortest counterexample is as long as check's
    assert _steps(swarm_run.out) == _steps(check_run.out)


def _steps(report: str) -> int:
    line = next(x for x in report.splitlines() if x.startswith("  Counterexample, "))
    return int(line.split()[1])


def test_swarm_that_finds_nothing_is_inconclusive_and_says_what_it_covered():
    r = run_cli("swarm", HOLDS, "--walks", "3", "--depth", "40", "--states", "5000")
    assert r.code == 3
    first = r.out.splitlines()[1]
    assert first.startswith("  no violation in 3 runs of depth 40, covering about ")
    assert first.endswith("; not a proof")
    assert "holds" not in r.out


def test_swarm_same_seed_same_report_byte_for_byte():
    argv = ("swarm", HOLDS, "--walks", "3", "--depth", "30", "--states", "4000", "--seed", "5")
    assert run_cli(*argv).out == run_cli(*argv).out


def test_swarm_bad_input_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.nmr"
    bad.write_text("driver {")
    r = run_cli("swarm", str(bad))
    assert r.code == 2 and r.out == ""
    assert run_cli("swarm", HOLDS, "--walks", "0").code == 2
    assert run_cli("swarm", HOLDS, "--option", "detach_order=sideways").code == 2


def test_unreachable_cluster_is_one_line_exit_2():
    for argv in (("check", HOLDS), ("swarm", HOLDS), ("sweep", HOLDS)):
        r = run_cli(*argv, "--ray", "127.0.0.1:1")
        assert r.code == 2 and r.out == ""
        assert len(r.err.strip().splitlines()) == 1
        assert "cannot reach" in r.err
    r = run_cli("check", HOLDS, "--ray", "no-port-here")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1


def test_swarm_time_limit_cuts_runs_short_and_is_inconclusive():
    r = run_cli("swarm", "bench/models/provider-clients-3.nmr", "--walks", "2", "--depth", "500",
                "--states", "100000000", "--time", "1")
    assert r.code == 3
    assert "2 runs were cut short by the time limit" in r.out
    assert "not a proof" in r.out
