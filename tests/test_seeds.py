"""The seed models of issue 2: each verdict, and the shape of the counterexamples."""

from __future__ import annotations

import pytest
from support import ROOT, check_json, run_cli

SEEDS = {
    # model: (exit code, properties that must be violated)
    "provider-unload.nmr": (0, set()),
    "provider-unload-no-wait.nmr": (1, {"unload_waits_for_bindings", "DRG-2"}),
    "client-unload.nmr": (0, set()),
    "client-unload-no-wait.nmr": (1, {"unload_waits_for_bindings", "DRG-2"}),
    "multi-npi.nmr": (0, set()),
    "multi-npi-one-forgotten.nmr": (1, {"unload_waits_for_bindings", "DRG-1"}),
    "client-and-provider.nmr": (0, set()),
    "client-and-provider-one-role.nmr": (1, {"unload_waits_for_bindings", "DRG-1"}),
    "subcomponent.nmr": (0, set()),
    "subcomponent-unload-no-wait.nmr": (1, {"unload_waits_for_bindings", "DRG-5"}),
    "detach-pending.nmr": (0, set()),
    "detach-pending-never-completed.nmr": (1, {"no_hang"}),
}


def test_every_seed_is_listed():
    assert sorted(SEEDS) == sorted(p.name for p in (ROOT / "models" / "seeds").glob("*.nmr"))


@pytest.mark.parametrize("model", sorted(SEEDS))
def test_seed_verdict(model):
    code, must_violate = SEEDS[model]
    r = check_json(f"models/seeds/{model}")  # the report test_catalogue.py reads
    assert r.code == code, r.out + r.err
    doc = r.json["models"][0]
    got = {p["property"]: p["verdict"] for p in doc["properties"]}
    violated = {k for k, v in got.items() if v == "violated"}
    assert must_violate <= violated
    if code == 0:
        assert violated == set()
        assert all(v == "holds" for v in got.values())
        assert all(p["coverage"] == "exhaustive" for p in doc["properties"])
    assert doc["stats"]["complete"] is True
    assert doc["stats"]["states"] > 0 and doc["stats"]["transitions"] > 0


def test_no_wait_trace_ends_with_unload_returning_while_binding_live():
    r = run_cli("check", "--continue", "models/seeds/provider-unload-no-wait.nmr", "--json")
    props = {p["property"]: p for p in r.json["models"][0]["properties"]}
    trace = props["unload_waits_for_bindings"]["trace"]
    last = trace[-1]
    assert last["actor"] == "ExampleProvider" and last["routine"] == "Unload"
    assert last["changes"]["ExampleProvider.state"] == ["UNLOADING", "UNLOADED"]
    assert last["file"].endswith("provider-unload-no-wait.nmr") and last["line"] == 9
    # some binding of the provider is neither GONE nor REJECTED nor NONE at the end
    phases = {}
    for step in trace:
        for name, (_old, new) in step["changes"].items():
            if name.endswith(".phase"):
                phases[name] = new
    assert any(v not in ("NONE", "GONE", "REJECTED") for v in phases.values())
    # shortest: no shorter trace can reach it (registering both sides, an offer, then Unload)
    assert len(trace) == 5
    assert props["unload_waits_for_bindings"]["defined_at"] == "specs/lifecycle.spec:6"


def test_text_report_verdict_first_and_reproduction_last():
    r = run_cli("check", "--continue", "models/seeds/provider-unload-no-wait.nmr")
    lines = r.out.splitlines()
    assert lines[0] == "models/seeds/provider-unload-no-wait.nmr: VIOLATED"
    assert "violated: unload_waits_for_bindings  (defined at specs/lifecycle.spec:6)" in r.out
    assert "NmrDeregisterProvider(Prov) -> STATUS_PENDING" in r.out
    assert lines[-1] == (
        "  Reproduce: nmrcheck check models/seeds/provider-unload-no-wait.nmr --property DRG-2"
    )
    again = run_cli(
        "check",
        "models/seeds/provider-unload-no-wait.nmr",
        "--property",
        "unload_waits_for_bindings",
    )
    assert again.code == 1 and "unload_waits_for_bindings  violated" in again.out


def test_holding_model_says_exhaustive_with_counts():
    r = run_cli("check", "--continue", "models/seeds/provider-unload.nmr")
    assert r.code == 0
    assert r.out.startswith("models/seeds/provider-unload.nmr: all properties hold")
    assert "search: explicit, exhaustive, " in r.out
    assert " states, " in r.out and " transitions, " in r.out


def test_hang_names_the_blocked_routine_and_shows_the_pending_detach():
    r = run_cli("check", "--continue", "models/seeds/detach-pending-never-completed.nmr", "--json")
    assert r.code == 1
    hang = {p["property"]: p for p in r.json["models"][0]["properties"]}["no_hang"]
    assert hang["verdict"] == "violated"
    assert any(
        "ExampleProvider is blocked forever" in b and "NmrWaitForProviderDeregisterComplete" in b
        for b in hang["blocked"]
    )
    texts = [s["action"] for s in hang["trace"]]
    assert "return STATUS_PENDING" in texts


def test_subcomponent_violation_is_drg5():
    r = run_cli("check", "--continue", "models/seeds/subcomponent-unload-no-wait.nmr", "--json")
    props = {p["property"]: p for p in r.json["models"][0]["properties"]}
    trace = props["DRG-5"]["trace"]
    assert trace[-1]["violates"] == "DRG-5"
    assert any(
        s["routine"] == "Deactivate" and "NmrDeregisterProvider" in s["action"] for s in trace
    )
