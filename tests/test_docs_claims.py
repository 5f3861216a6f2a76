"""What docs/language.md, docs/obligations.md and docs/json.md claim is what the tool does."""

from __future__ import annotations

import re

import pytest
from support import ROOT, check_text, run_cli

from nmrcheck.traces.steps import describe


def _verdicts(text: str) -> dict[str, str]:
    res, _ = check_text(text)
    return {k: r.verdict for k, r in res.items()}


# -- language.md 5.2: a variable without "= VALUE" is unassigned until written ---------------
UNSET = """npi N
driver P {
  provider Prov of N
  var pending: 0..3%s
  var ready: bool%s
  binding var mode: 0..2%s
  task Start { ready = true }
  ProviderAttachClient {
    if (ready) { skip }
    return STATUS_SUCCESS
  }
  binding task Send when (true) {
    if (mode == 1) { skip }
  }
  Unload {
    if (pending == 0) {
      s = NmrDeregisterProvider(Prov)
      NmrWaitForProviderDeregisterComplete(Prov)
    }
  }
}
driver C { client Cli of N }
"""


def test_reading_an_unassigned_variable_is_reported_by_the_rule_it_breaks():
    v = _verdicts(UNSET % ("", "", ""))
    assert v["REG-2"] == "violated"  # a callback reads driver state not set up yet
    assert v["ATT-4"] == "violated"  # binding code reads its context before initialising it
    assert v["uninitialized"] == "violated"  # Unload reads it


def test_an_initial_value_makes_the_variable_assigned_from_the_start():
    v = _verdicts(UNSET % (" = 0", " = false", " = 0"))
    assert not {"REG-2", "ATT-4", "uninitialized"} & {k for k, x in v.items() if x == "violated"}


def test_uninitialized_is_a_property_of_the_json_report(tmp_path):
    model = tmp_path / "u.nmr"
    model.write_text(UNSET % ("", " = false", " = 0"))
    r = run_cli("check", str(model), "--json", "--property", "uninitialized")
    (entry,) = r.json["models"][0]["properties"]
    assert (entry["kind"], entry["verdict"], entry["defined_at"]) == (
        "invariant",
        "violated",
        "built in",
    )


# -- json.md 4: coverage and reachable properties ------------------------------------------------
def test_a_violation_of_a_cut_short_search_has_partial_coverage():
    r = run_cli("check", "models/seeds/provider-unload-no-wait.nmr", "--json",
                "--engine", "explicit", "--max-states", "50")  # fmt: skip
    doc = r.json["models"][0]
    assert doc["stats"]["complete"] is False
    drg2 = next(p for p in doc["properties"] if p["property"] == "DRG-2")
    assert (drg2["verdict"], drg2["coverage"]) == ("violated", "partial")


def test_reachable_properties_are_not_inverted():
    spec = (
        "reachable unloaded: exists d in drivers: d.state == UNLOADED\n"
        "reachable never: exists d in drivers: d.state == UNLOADED && d.state == LOADING\n"
    )
    text = (ROOT / "models/seeds/provider-unload.nmr").read_text()
    res, ts = check_text(text, spec)
    r = res["unloaded"]
    assert r.verdict == "witnessed"
    steps = describe(ts, r.trace)
    assert steps[-1].text.endswith("return") and "UNLOADED" in str(steps[-1].changes)
    assert res["never"].verdict == "unreachable"


# -- obligations.md: each "violated by" model violates its obligation ---------------------------
def _rows() -> list[tuple[str, str]]:
    text = (ROOT / "docs/obligations.md").read_text()
    out = []
    for line in text.splitlines():
        m = re.match(r"\| ([A-Z]+-\d+) \| S\+?L? \|", line)
        if not m:
            continue
        cells = line.split(" | ")
        if cells[2].startswith("Not"):  # covered by other checks, no property of its own
            continue
        models = re.findall(r"`([a-z]+/[a-z0-9-]+\.nmr)`", cells[3])
        if models:
            out.append((m.group(1), models[0]))
    return out


ROWS = _rows()


def test_obligations_md_names_a_violating_model_for_the_new_checks():
    named = {rid for rid, _ in ROWS}
    assert {"REG-2", "REG-6", "ATT-4", "ATT-5", "ATT-7", "CLN-2"} <= named


@pytest.mark.parametrize("rid,model", ROWS, ids=[f"{r}:{m}" for r, m in ROWS])
def test_the_model_obligations_md_names_violates_the_obligation(rid, model):
    r = run_cli("check", f"models/{model}", "--json", "--no-hang", "--property", rid)
    assert r.code == 1, (rid, model, r.err)
    (entry,) = r.json["models"][0]["properties"]
    assert entry["verdict"] == "violated"


def test_the_semantics_the_tool_cites_ships_with_it():
    """Every obligation the tool checks is defined, under its section, in docs/nmr-semantics.md,
    and no document points outside the clone for it."""
    from nmrcheck.nmr.vocab import OBLIGATIONS

    text = (ROOT / "docs" / "nmr-semantics.md").read_text()
    sections = re.split(r"^### (\d+\.\d+) ", text, flags=re.M)
    body = {sections[i]: sections[i + 1] for i in range(1, len(sections) - 1, 2)}
    for o in OBLIGATIONS.values():
        assert re.search(rf"\b{re.escape(o.id)}\b", body[o.section.lstrip("§")]), o.id
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        assert "../shared/" not in doc.read_text(), doc
