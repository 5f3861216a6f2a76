"""nmrcheck simulate: random runs reproducible from their seed, obligations checked on the
way, and the interactive mode driven through a pseudo-terminal."""

from __future__ import annotations

import re

import pytest
from pty_session import PtySession
from support import run_cli

from nmrcheck.nmr.load import load
from nmrcheck.simulate import Simulation, random_run
from nmrcheck.traces.replay import check_replays

NO_WAIT = "models/seeds/provider-unload-no-wait.nmr"
HOLDS = "models/seeds/detach-pending.nmr"
HANGS = "models/seeds/detach-pending-never-completed.nmr"


def step_numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^  \[(\d+)\] ", text, flags=re.M)]


def test_a_seed_reproduces_the_run_byte_for_byte():
    first = run_cli("simulate", HOLDS, "--seed", "7", "--steps", "40")
    again = run_cli("simulate", HOLDS, "--seed", "7", "--steps", "40")
    assert first.code == again.code
    assert first.out == again.out
    assert step_numbers(first.out)


def test_seeds_choose_different_runs():
    runs = {run_cli("simulate", HOLDS, "--seed", str(s), "--steps", "30").out
            for s in range(6)}
    assert len(runs) > 1


@pytest.mark.parametrize("seed", range(8))
def test_every_printed_run_replays_through_the_model(seed):
    ts = load(HOLDS)
    sim = Simulation(ts, seed)
    import io

    code = random_run(sim, HOLDS, 60, io.StringIO())
    assert code == 0
    check_replays(ts, sim.run.trace(sim.comp))  # raises if a step is not a real step


def test_the_step_limit_bounds_the_run():
    r = run_cli("simulate", HOLDS, "--seed", "3", "--steps", "4")
    assert r.code == 0
    assert step_numbers(r.out) == [1, 2, 3, 4]
    assert "step limit (4)" in r.out
    assert "nmrcheck simulate models/seeds/detach-pending.nmr --seed 3 --steps 4" in r.out


def test_a_broken_obligation_stops_the_run_with_the_usual_report():
    found = []
    for seed in range(30):
        r = run_cli("simulate", NO_WAIT, "--seed", str(seed))
        assert r.code in (0, 1)
        if r.code == 1:
            found.append(r)
    assert found, "no seed of 30 found the forgotten wait"
    for r in found:
        assert r.out.startswith(f"{NO_WAIT}: VIOLATED\n")
        assert re.search(r"^violated: \S+  \(defined at ", r.out, flags=re.M)
        steps = step_numbers(r.out)
        assert steps == list(range(1, len(steps) + 1))
        # the run stops at the step that breaks it: the last step carries the mark
        last = r.out[r.out.rindex(f"  [{steps[-1]}] "):]
        assert "\n      !! " in last
    assert any(re.search(r"^  DRG-2 +violated$", r.out, flags=re.M) for r in found)


def test_a_halted_state_stops_the_run():
    r = run_cli("simulate", "models/obligations/drg-4-double-deregister.nmr", "--seed", "2")
    assert r.code == 1
    assert re.search(r"^  DRG-4 +violated$", r.out, flags=re.M)
    assert "!! DRG-4" in r.out


def test_a_run_where_every_routine_is_blocked_is_a_hang():
    r = run_cli("simulate", HANGS, "--seed", "1")
    assert r.code == 1
    assert re.search(r"^  no_hang +violated$", r.out, flags=re.M)
    assert "ExampleProvider is blocked forever in Unload" in r.out


def test_bad_input_is_a_positioned_error(tmp_path):
    bad = tmp_path / "bad.nmr"
    bad.write_text("npi N\ndriver D {\n  client C of N\n  Unload { x = = 1 }\n}\n")
    r = run_cli("simulate", str(bad))
    assert r.code == 2
    assert r.err.startswith(f"{bad}:4:")
    assert ": error: " in r.err
    r = run_cli("simulate", "models/nope.nmr")
    assert r.code == 2 and "models/nope.nmr: error: no such file" in r.err
    r = run_cli("simulate", HOLDS, "--steps", "0")
    assert r.code == 2


# -- interactive, through a pseudo-terminal --------------------------------------------------
def choices(listing: str) -> dict[int, str]:
    return {int(n): text for n, text in re.findall(r"^  (\d+)\) (.*)$", listing, flags=re.M)}


def pick(term: PtySession, listing: str, words: str) -> None:
    """Choose the step whose description contains ``words``."""
    for n, text in choices(listing).items():
        if words in text:
            term.send(str(n))
            return
    raise AssertionError(f"no step with {words!r} in:\n{listing}")


def test_interactive_lists_steps_goes_back_and_stops_at_a_violation():
    term = PtySession("simulate", NO_WAIT, "--interactive", "--seed", "5")
    listing = term.expect("step 1> ")
    assert "after step 0: 3 enabled" in listing
    assert "NmrRegisterProvider(Prov)" in listing
    pick(term, listing, "NmrRegisterProvider(Prov)")
    listing = term.expect("step 2> ")
    assert re.search(r"^  \[1\] ExampleProvider DriverEntry: NmrRegisterProvider", listing,
                     flags=re.M)
    term.send("b")  # back: the first listing again
    listing = term.expect("step 1> ")
    assert "(back to step 0)" in listing and "after step 0: 3 enabled" in listing
    term.send("42")
    assert "not a choice" in term.expect("step 1> ")
    pick(term, listing, "NmrRegisterProvider(Prov)")
    pick(term, term.expect("step 2> "), "calls ExampleProvider Unload")
    listing = term.expect("step 3> ")
    assert "!! DRG-2" in listing  # the listing says which step would break an obligation
    pick(term, listing, "NmrDeregisterProvider(Prov)")
    report = term.expect("Reproduce: ")
    assert f"{NO_WAIT}: VIOLATED" in report
    assert re.search(r"^  DRG-2 +violated$", report, flags=re.M)
    assert step_numbers(report.split("VIOLATED", 1)[1]) == [1, 2, 3]
    assert term.close() == 1


@pytest.mark.slow  # a terminal session, 1.5 to 2 s: full suite only
def test_interactive_random_choice_follows_the_seed():
    def two_random_steps() -> str:
        term = PtySession("simulate", HOLDS, "--interactive", "--seed", "11")
        term.expect("step 1> ")
        term.send("r")
        taken = term.expect("step 2> ")
        term.send("r")
        taken += term.expect("step 3> ")
        term.send("q")
        assert "(quit after 2 steps)" in term.expect("\n", 5) + term.expect("\n", 5)
        assert term.close() == 0
        assert step_numbers(taken) == [1, 2]
        return taken

    assert two_random_steps() == two_random_steps()
