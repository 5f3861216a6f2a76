"""`nmrcheck replay`: saved traces (ITF and --json) re-execute on the model step by step, say
where and why they diverge, or confirm the violation; bad files are exit 2."""

from __future__ import annotations

import json

import pytest
from support import ROOT, check_all, run_cli

from nmrcheck.engines.common.results import HANG
from nmrcheck.ir import LIVENESS_KINDS
from nmrcheck.nmr.load import load
from nmrcheck.traces.load import Divergence, read, rebuild

NO_WAIT = "models/seeds/provider-unload-no-wait.nmr"
FIXED = "models/seeds/provider-unload.nmr"
HANGS = "models/seeds/detach-pending-never-completed.nmr"
SEEDS_WITH_BUGS = [
    NO_WAIT,
    HANGS,
    "models/seeds/subcomponent-unload-no-wait.nmr",
    "models/seeds/multi-npi-one-forgotten.nmr",
]


def save_itf(tmp_path, model, prop):
    path = tmp_path / f"{prop}.itf.json"
    assert run_cli("check", "--continue", model, "--property", prop, "--itf", str(path)).code == 1
    return path


def save_json(tmp_path, *models):
    r = run_cli("check", "--continue", *models, "--json")
    path = tmp_path / "report.json"
    path.write_text(r.out)
    return path, r.json


# about 1 s each: the first in the fast tier, all of them in the full suite
@pytest.mark.parametrize("model", SEEDS_WITH_BUGS[:1] + [
    pytest.param(m, marks=pytest.mark.slow) for m in SEEDS_WITH_BUGS[1:]])
def test_itf_and_json_replay_to_the_violation(tmp_path, model):
    ts = load(model)
    res = check_all(ts)
    traces = {r.property: r for r in res.results if r.verdict == "violated"}
    live = {p.name for p in ts.properties if p.kind in LIVENESS_KINDS}

    def expected(prop, r):  # a liveness counterexample is a fair run that goes on forever
        if prop in live:
            return f"trace replays: violates {prop} on a fair run of {len(r.trace)} steps"
        at = r.stats["blocked_from"] if prop == HANG else len(r.trace)
        return f"trace replays: reaches violation of {prop} at step {at}"

    for prop, r in traces.items():
        path = save_itf(tmp_path, model, prop)
        rr = run_cli("replay", str(path), model)
        assert rr.code == 0, rr.out + rr.err
        assert rr.out.startswith(expected(prop, r))
        (saved,) = read(str(path))
        assert rebuild(ts, saved) == r.trace  # the very same states and actions
    path, _ = save_json(tmp_path, model)
    rr = run_cli("replay", str(path), model)
    assert rr.code == 0, rr.out + rr.err
    lines = [x for x in rr.out.splitlines() if not x.startswith(" ")]  # one headline per trace
    assert len(lines) == len(traces)
    for prop, r in traces.items():
        want = expected(prop, r)
        prefix = f"{prop}: " if len(traces) > 1 else ""  # a line per trace names its property
        assert any(x.startswith(prefix + want) for x in lines), lines
        (saved,) = read(str(path), model, prop)
        assert rebuild(ts, saved).states == r.trace.states


def test_hang_replay_names_the_blocked_routine(tmp_path):
    path = save_itf(tmp_path, HANGS, HANG)
    r = run_cli("replay", str(path), HANGS)
    assert r.code == 0
    assert "ExampleProvider is blocked forever in Unload" in r.out
    assert f"({HANGS}:12)" in r.out


def test_fixed_model_diverges_where_unload_returns(tmp_path):
    path = save_itf(tmp_path, NO_WAIT, "DRG-2")
    r = run_cli("replay", str(path), FIXED)
    assert r.code == 1
    assert r.out.startswith(
        "diverges at step 3: 'ExampleProvider: NmrDeregisterProvider(Prov) -> STATUS_PENDING; "
        "return' is not enabled here"
    )
    report, _ = save_json(tmp_path, NO_WAIT)
    r = run_cli("replay", str(report), FIXED, "--property", "DRG-2")
    assert r.code == 1
    assert r.out.startswith(
        "diverges at step 3: 'ExampleProvider Unload: NmrDeregisterProvider(Prov) -> "
        "STATUS_PENDING; return' is not enabled here (enabled here: "
    )


def test_tampered_itf_state_diverges_with_the_variable(tmp_path):
    path = save_itf(tmp_path, NO_WAIT, "DRG-2")
    doc = json.loads(path.read_text())
    doc["states"][2]["ExampleProvider.state"] = "LOADED"
    path.write_text(json.dumps(doc))
    r = run_cli("replay", str(path), NO_WAIT)
    assert r.code == 1
    assert r.out.splitlines()[0] == (
        "diverges at step 2: 'OS calls ExampleProvider Unload' leads to another state: "
        "ExampleProvider.state is UNLOADING here, the trace says LOADED"
    )
    doc["states"][2]["ExampleProvider.state"] = "SLEEPING"
    path.write_text(json.dumps(doc))
    r = run_cli("replay", str(path), NO_WAIT)
    assert r.code == 1 and 'diverges at step 2: ExampleProvider.state = "SLEEPING"' in r.out
    doc["states"][0]["ExampleProvider.state"] = "LOADED"
    path.write_text(json.dumps(doc))
    r = run_cli("replay", str(path), NO_WAIT)
    assert r.out.startswith("diverges at step 0: the first state is not the initial state")


def test_tampered_json_change_diverges(tmp_path):
    path, doc = save_json(tmp_path, NO_WAIT)
    entry = next(p for p in doc["models"][0]["properties"] if p["property"] == "DRG-2")
    entry["trace"][0]["changes"]["ExampleProvider.Prov.state"] = ["NONE", "CLOSED"]
    path.write_text(json.dumps(doc))
    r = run_cli("replay", str(path), NO_WAIT, "--property", "DRG-2")
    assert r.code == 1
    assert r.out.startswith("diverges at step 1: 'ExampleProvider DriverEntry: NmrRegisterProvider")
    assert "ExampleProvider.Prov.state: NONE -> ACTIVE here, the trace says NONE -> CLOSED" in r.out


def test_json_report_with_several_models_picks_the_model(tmp_path):
    path, _ = save_json(tmp_path, NO_WAIT, HANGS)
    r = run_cli("replay", str(path), HANGS)
    assert r.code == 0 and "no_hang: trace replays: reaches violation of no_hang" in r.out
    r = run_cli("replay", str(path), FIXED)
    assert r.code == 2 and "the report has no model" in r.err


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "invalid JSON"),
        ("[1, 2]", "not a trace file"),
        ('{"vars": ["x"], "states": []}', "'states' is not a non-empty list"),
        ('{"vars": [1], "states": [{}]}', "'vars' is not a list of names"),
        ('{"vars": [], "states": [{}], "loop": 7}', "'loop' is not a state index"),
        ('{"models": [{"model": "m", "properties": []}]}', "has no trace"),
    ],
)
def test_bad_trace_files_are_exit_2(tmp_path, content, message):
    path = tmp_path / "t.json"
    path.write_text(content)
    r = run_cli("replay", str(path), NO_WAIT)
    assert r.code == 2, r.out
    assert r.err.startswith(f"{path}") and message in r.err
    assert "Traceback" not in r.err


def test_missing_files_and_unknown_property_are_exit_2(tmp_path):
    r = run_cli("replay", str(tmp_path / "nope.json"), NO_WAIT)
    assert r.code == 2 and "no such file" in r.err
    path = save_itf(tmp_path, NO_WAIT, "DRG-2")
    r = run_cli("replay", str(path), "models/nope.nmr")
    assert r.code == 2 and "no such file" in r.err
    report, _ = save_json(tmp_path, NO_WAIT)
    r = run_cli("replay", str(report), NO_WAIT, "--property", "REG-5")
    assert r.code == 2 and "no trace of 'REG-5'" in r.err
    r = run_cli("replay", str(path), NO_WAIT, "--property", "REG-5")
    assert r.code == 2 and "is for 'DRG-2'" in r.err


def test_spec_property_needs_its_spec(tmp_path):
    spec = tmp_path / "extra.spec"
    spec.write_text("invariant never_unloaded: forall d in drivers: d.state != UNLOADED\n")
    path = tmp_path / "t.itf.json"
    r = run_cli(
        "check", NO_WAIT, "--spec", str(spec), "--property", "never_unloaded", "--itf", str(path)
    )
    assert r.code == 1
    assert run_cli("replay", str(path), NO_WAIT).code == 0  # the ITF file names its specs
    report, _ = save_json(tmp_path, NO_WAIT)
    doc = json.loads(path.read_text())
    doc["#meta"]["specs"] = []
    path.write_text(json.dumps(doc))
    r = run_cli("replay", str(path), NO_WAIT)
    assert r.code == 2 and "no property 'never_unloaded'" in r.err and "--spec" in r.err
    assert run_cli("replay", str(path), NO_WAIT, "--spec", str(spec)).code == 0


def test_divergence_is_an_exception_with_the_step():
    d = Divergence(4, "why")
    assert str(d) == "diverges at step 4: why" and d.step == 4


def test_knobs_are_saved_and_replayed(tmp_path):
    path = tmp_path / "t.itf.json"
    r = run_cli("check", NO_WAIT, "--option", "register_may_fail=true", "--property", "DRG-2",
                "--itf", str(path))  # fmt: skip
    assert r.code == 1 and "--option register_may_fail=true --property DRG-2" in r.out
    assert json.loads(path.read_text())["#meta"]["options"] == {"register_may_fail": "true"}
    assert run_cli("replay", str(path), NO_WAIT).code == 0  # with the knob it was saved with
    hang = save_itf(tmp_path, HANGS, HANG)
    r = run_cli("replay", str(hang), HANGS, "--option", "detach_order=client_done_first")
    assert r.code == 1
    assert r.out.startswith("diverges at step 10: 'NMR calls ProviderDetachClient for ")
    r = run_cli("replay", str(hang), HANGS, "--option", "detach_order")
    assert r.code == 2 and "NAME=VALUE" in r.err


def test_replay_shows_the_replayed_trace_as_check_does(tmp_path):
    path = save_itf(tmp_path, NO_WAIT, "DRG-2")
    r = run_cli("replay", str(path), NO_WAIT)
    check = run_cli("check", NO_WAIT, "--property", "DRG-2")
    steps = [x for x in check.out.splitlines() if x.startswith("  [") or x.startswith("      ")]
    assert r.code == 0
    assert r.out.splitlines()[1:] == steps


def test_a_divergence_shows_the_steps_that_replay_and_speaks_of_statements(tmp_path):
    path = save_itf(tmp_path, NO_WAIT, "DRG-2")
    changed = tmp_path / "changed.nmr"
    changed.write_text(
        (ROOT / NO_WAIT)
        .read_text()
        .replace("    status = Nmr", "    skip\n    status = Nmr")
    )
    r = run_cli("replay", str(path), str(changed))
    assert r.code == 1
    first, *rest = r.out.splitlines()
    assert first.startswith("diverges at step 2: 'OS calls ExampleProvider Unload'")
    assert "ExampleProvider is in Unload at 'skip' here" in first and ".pc" not in first
    assert rest[0] == "  the steps that replay:" and rest[1].startswith("  [1] ExampleProvider")
