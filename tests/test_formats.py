"""Trace formats (ITF, Mermaid, SARIF, HTML, coloured and verbose text): each file's CONTENT is
checked against the trace the engine found, not just that the file exists."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from support import check_all, run_cli

from nmrcheck.commands import outputs
from nmrcheck.engines.common.results import HANG
from nmrcheck.ir import TransitionSystem
from nmrcheck.ir.system import Var
from nmrcheck.nmr.load import load
from nmrcheck.report import html, itf, mermaid, text
from nmrcheck.traces.steps import describe

NO_WAIT = "models/seeds/provider-unload-no-wait.nmr"
HANGS = "models/seeds/detach-pending-never-completed.nmr"
HOLDS = "models/seeds/provider-unload.nmr"


def checked(model: str):
    """(ts, {property: result}) as the engine found them (liveness included)."""
    ts = load(model)
    res = check_all(ts)
    return ts, {r.property: r for r in res.results}


@pytest.fixture(scope="module")
def no_wait():
    return checked(NO_WAIT)


@pytest.fixture(scope="module")
def hangs():
    return checked(HANGS)


def violated(results) -> list[str]:
    return [p for p, r in results.items() if r.verdict == "violated"]


# -- ITF ------------------------------------------------------------------------------------
def test_itf_states_and_actions_are_the_trace(tmp_path, no_wait):
    ts, res = no_wait
    out = tmp_path / "t.itf.json"
    r = run_cli("check", "--continue", NO_WAIT, "--property", "DRG-2", "--itf", str(out))
    assert r.code == 1 and f"wrote {out}" in r.err
    doc = json.loads(out.read_text())
    trace = res["DRG-2"].trace
    meta = doc["#meta"]
    assert meta["format"] == "ITF" and meta["source"] == NO_WAIT
    assert meta["property"]["name"] == "DRG-2"
    assert meta["property"]["defined_at"] == "nmr-semantics.md §5.6 DRG-2"
    assert doc["vars"] == [v.name for v in ts.vars]
    assert "loop" not in doc
    assert len(doc["states"]) == len(trace.states)
    steps = describe(ts, trace)
    for i, (state, s) in enumerate(zip(doc["states"], trace.states)):
        assert state["#meta"]["index"] == i
        assert set(state) == {"#meta", *doc["vars"]}
        for v, x in zip(ts.vars, s):
            got = state[v.name]
            if v.type == "bool":
                assert got is bool(x)
            elif v.labels is not None:
                assert got == v.labels[x - v.lo]
            else:
                assert got == x and type(got) is int
        if i > 0:
            a = trace.actions[i - 1]
            assert state["#meta"]["action"] == ts.actions[a].label
            assert state["#meta"]["action_index"] == a
            assert state["#meta"]["step"] == steps[i - 1].text
    assert doc["states"][-1]["#meta"]["violates"] == "DRG-2"
    assert doc["states"][-1]["ExampleProvider.Prov.state"] == "DEREG_PENDING"


def test_itf_big_integers_and_types():
    small = Var("n", "int", 0, 3, 0)
    big = Var("n", "int", 0, 2**60, 0)
    flag = Var("b", "bool", 0, 1, 0)
    enum = Var("e", "int", 0, 1, 0, ("OFF", "ON"))
    assert itf.value(small, 3) == 3
    assert itf.value(big, 2**60) == {"#bigint": str(2**60)}
    assert itf.value(big, 2**53 - 1) == 2**53 - 1
    assert itf.value(flag, 1) is True and itf.value(flag, 0) is False
    assert itf.value(enum, 1) == "ON"
    assert [itf.var_type(v) for v in (small, flag, enum)] == ["Int", "Bool", "Str"]


def test_itf_one_file_per_violated_property(tmp_path, no_wait):
    _, res = no_wait
    base = tmp_path / "cex.itf.json"
    r = run_cli("check", "--continue", NO_WAIT, "--itf", str(base))
    assert r.code == 1
    assert not base.exists()
    want = {f"cex.{p}.itf.json" for p in violated(res)}
    assert {p.name for p in tmp_path.iterdir()} == want
    for p in violated(res):
        doc = json.loads((tmp_path / f"cex.{p}.itf.json").read_text())
        assert doc["#meta"]["property"]["name"] == p
        assert len(doc["states"]) == len(res[p].trace.states)


def test_itf_names_with_several_models(tmp_path):
    r = run_cli("check", "--continue", NO_WAIT, HANGS, "--itf", str(tmp_path / "t.json"))
    assert r.code == 1
    names = {p.name for p in tmp_path.iterdir()}
    assert "t.detach-pending-never-completed.no_hang.itf.json" in names
    assert "t.provider-unload-no-wait.DRG-2.itf.json" in names
    assert all(
        n.startswith("t.provider-unload-no-wait.") or n.startswith("t.detach") for n in names
    )


def test_itf_path_rules():
    assert outputs.itf_paths("a/t.itf.json", None, ["P"]) == ["a/t.itf.json"]
    assert outputs.itf_paths("a/t.itf.json", None, ["P", "Q-1"]) == [
        "a/t.P.itf.json",
        "a/t.Q-1.itf.json",
    ]
    assert outputs.itf_paths("t.json", "m", ["P"]) == ["t.m.P.itf.json"]
    assert outputs.itf_paths("t", None, ["a@b.nmr:3", "x"]) == [
        "t.a_b.nmr_3.itf.json",
        "t.x.itf.json",
    ]
    assert outputs.model_tags(["x/a.nmr", "y/a.nmr", "b.nmr"]) == ["a-1", "a-2", "b"]


def test_no_counterexample_writes_no_itf(tmp_path):
    r = run_cli("check", "--continue", HOLDS, "--itf", str(tmp_path / "t.itf.json"))
    assert r.code == 0 and list(tmp_path.iterdir()) == []
    assert "no counterexample" in r.err


# -- Mermaid --------------------------------------------------------------------------------
def blocks(md: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", md, re.S)


def test_mermaid_participants_arrows_and_fault_note(tmp_path, no_wait):
    ts, res = no_wait
    out = tmp_path / "t.md"
    assert run_cli("check", NO_WAIT, "--property", "DRG-2", "--mermaid", str(out)).code == 1
    (diagram,) = blocks(out.read_text())
    lines = [x.strip() for x in diagram.splitlines()]
    assert lines[0] == "sequenceDiagram"
    assert [x for x in lines if x.startswith("participant")] == [
        "participant OS as OS",
        "participant ExampleProvider as ExampleProvider",
        "participant ExampleClient_1 as ExampleClient[1]",
        "participant ExampleClient_2 as ExampleClient[2]",
        "participant NMR as NMR",
    ]
    body = [x for x in lines if not x.startswith(("participant", "sequenceDiagram"))]
    assert body == [
        "ExampleProvider->>NMR: [1] NmrRegisterProvider(Prov)",
        "NMR-->>ExampleProvider: STATUS_SUCCESS",
        "ExampleProvider-->>OS: DriverEntry returns",
        "OS->>ExampleProvider: [2] Unload",
        "rect rgb(255, 228, 228)",
        "ExampleProvider->>NMR: [3] NmrDeregisterProvider(Prov)",
        "NMR-->>ExampleProvider: STATUS_PENDING",
        "ExampleProvider-->>OS: Unload returns",
        "Note over ExampleProvider: !! DRG-2: Unload returns without waiting for<br/>"
        "ExampleProvider.Prov (DEREG_PENDING)",
        "end",
    ]
    assert len(res["DRG-2"].trace) == 3


def test_mermaid_one_block_per_counterexample_with_every_step(tmp_path, no_wait, hangs):
    out = tmp_path / "t.md"
    run_cli("check", "--continue", NO_WAIT, HANGS, "--mermaid", str(out))
    md = out.read_text()
    assert md.startswith("# nmrcheck counterexamples\n")
    assert f"## {NO_WAIT}" in md and f"## {HANGS}" in md
    found = blocks(md)
    expected = [(no_wait, p) for p in violated(no_wait[1])]
    expected += [(hangs, p) for p in violated(hangs[1])]
    assert len(found) == len(expected)
    for d in found:
        ids = set(re.findall(r"participant (\w+) as ", d))
        for src, dst in re.findall(r"^\s*(\w+)-{1,2}>>(\w+):", d, re.M):
            assert {src, dst} <= ids
        for text_ in re.findall(r":\s(.*)$", d, re.M):  # no raw ';' or '#' inside a message
            assert ";" not in text_ and "#" not in text_
    # every step appears exactly once, in order, in the hang diagram (whose trace has 12 steps)
    hang_diagram = found[-1]
    numbers = [int(n) for n in re.findall(r": \[(\d+)\] ", hang_diagram)]
    assert numbers == list(range(1, len(hangs[1][HANG].trace) + 1))
    assert "participant PendingClient as PendingClient" in hang_diagram
    assert "PendingClient-->>NMR: [11] ClientDetachProvider returns STATUS_PENDING" in hang_diagram
    assert "is blocked forever" in hang_diagram


def test_mermaid_ids_are_sanitised():
    ids = mermaid.participant_ids(["ExampleClient[1]", "end", "A b", "A_b", "9x", "NMR"])
    assert len(set(ids.values())) == 6
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", i) for i in ids.values())
    assert ids["ExampleClient[1]"] == "ExampleClient_1" and ids["end"] != "end"
    assert mermaid.escape("a; b #1 <x>") == "a\uff1b b \uff031 \uff1cx>"


# -- SARIF ----------------------------------------------------------------------------------
def test_sarif_results_rules_locations_and_code_flows(tmp_path, no_wait, hangs):
    out = tmp_path / "t.sarif"
    assert run_cli("check", "--continue", NO_WAIT, HANGS, "--sarif", str(out)).code == 1
    doc = json.loads(out.read_text())
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "nmrcheck"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for _, res in (no_wait, hangs):
        assert set(res) <= set(rule_ids)
    got = [
        (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"])
        for r in run["results"]
    ]
    want = [(NO_WAIT, p) for p in violated(no_wait[1])]
    want += [(HANGS, p) for p in violated(hangs[1])]
    assert sorted(got) == sorted(want)
    for r in run["results"]:
        assert r["level"] == "error"
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        model = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        ts, res = no_wait if model == NO_WAIT else hangs
        trace = res[r["ruleId"]].trace
        steps = describe(ts, trace, prop=r["ruleId"])
        flow = r["codeFlows"][0]["threadFlows"][0]["locations"]
        assert [f["executionOrder"] for f in flow] == list(range(1, len(trace) + 1))
        for f, s in zip(flow, steps):
            assert s.text in f["location"]["message"]["text"]
            if s.line:
                assert f["location"]["physicalLocation"]["region"]["startLine"] == s.line
            assert {n: v["text"] for n, v in f.get("state", {}).items()} == {
                n: f"{a} -> {b}" for n, a, b in s.changes
            }
        line = r["locations"][0]["physicalLocation"]["region"]["startLine"]
        if r["ruleId"] == "no_hang":
            assert line == 12  # NmrWaitForProviderDeregisterComplete, blocked forever
        else:
            faulty = [s for s in steps if s.fault]
            assert line == (faulty[-1].line if faulty else steps[-1].line)
        assert r["message"]["text"].startswith(f"{r['ruleId']} violated")
    drg2 = next(r for r in run["results"] if r["ruleId"] == "DRG-2")
    assert drg2["locations"][0]["physicalLocation"]["region"]["startLine"] == 9


def test_sarif_without_violation_has_rules_and_no_result(tmp_path):
    out = tmp_path / "t.sarif"
    assert run_cli("check", "--continue", HOLDS, "--sarif", str(out)).code == 0
    run = json.loads(out.read_text())["runs"][0]
    assert run["results"] == [] and len(run["tool"]["driver"]["rules"]) > 5


# -- HTML (content; the browser test renders it) --------------------------------------------
def test_html_is_self_contained_and_matches_the_traces(tmp_path, no_wait):
    ts, res = no_wait
    out = tmp_path / "r.html"
    assert run_cli("check", "--continue", NO_WAIT, "--html", str(out)).code == 1
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<link" not in page and "@import" not in page and " src=" not in page
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * page.count(
        "<svg"
    )
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))
    for p, r in res.items():
        m = re.search(
            rf'<tr class="prop" data-property="{re.escape(p)}" '
            rf'data-verdict="([^"]+)">',
            page,
        )
        assert m and m.group(1) == r.verdict
    sections = re.findall(
        r'<section class="trace" id="([^"]+)" data-property="([^"]+)">(.*?)'
        r"</section>",
        page,
        re.S,
    )
    assert sorted(p for _, p, _ in sections) == sorted(violated(res))
    for _uid, p, body in sections:
        trace = res[p].trace
        names, _ = mermaid.sequence(ts, res[p])
        assert body.count('class="lifeline"') == len(names)
        assert len(re.findall(r'<tr class="step[ "]', body)) == len(trace)
        assert body.count("<details>") == len(trace) + 1  # initial state + one per step
        steps = describe(ts, trace)
        lines = {s.line for s in steps if s.line}
        marked = {int(n) for n in re.findall(r'class="line (?:hit|fault)" data-line="(\d+)"', body)}
        assert marked == lines
        assert body.count('<span class="ln">') == len(ts.meta["source"].splitlines())


def test_html_svg_diagram_has_one_lifeline_per_participant(no_wait):
    ts, res = no_wait
    names, msgs = mermaid.sequence(ts, res["DRG-2"])
    svg = html.svg_diagram(names, msgs, "x")
    assert re.findall(r'data-participant="([^"]+)"', svg) == names
    assert svg.count('<g class="msg') == len(msgs)
    assert 'class="msg note fault"' in svg


# -- all of them ----------------------------------------------------------------------------
def test_outputs_are_deterministic(tmp_path, no_wait, hangs):
    def run(d: Path) -> dict[str, bytes]:
        d.mkdir()
        run_cli(
            "check",
            "--continue",
            NO_WAIT,
            HANGS,
            "--itf",
            str(d / "t.itf.json"),
            "--mermaid",
            str(d / "t.md"),
            "--sarif",
            str(d / "t.sarif"),
            "--html",
            str(d / "t.html"),
        )
        return {p.name: p.read_bytes() for p in sorted(d.iterdir())}

    a, b = run(tmp_path / "a"), run(tmp_path / "b")
    n = len(violated(no_wait[1])) + len(violated(hangs[1]))
    assert a == b and len(a) == 3 + n  # md, sarif, html + one ITF per counterexample


def test_unwritable_output_is_exit_2(tmp_path):
    r = run_cli("check", NO_WAIT, "--sarif", str(tmp_path / "no" / "dir" / "t.sarif"))
    assert r.code == 2 and "cannot write" in r.err and "Traceback" not in r.err


# -- text -----------------------------------------------------------------------------------
def _drg2_only(ts: TransitionSystem, res):
    from nmrcheck.engines.common.results import CheckResult

    return CheckResult([res["DRG-2"]], "explicit", {"complete": True})


def test_colour_is_styling_only(no_wait):
    ts, res = no_wait
    result = _drg2_only(ts, res)
    plain = text.render(ts, result, NO_WAIT, [])
    coloured = text.render(ts, result, NO_WAIT, [], color=True)
    assert "\x1b[" not in plain and "\x1b[" in coloured
    stripped = re.sub(r"\x1b\[[0-9;]*m", "", coloured)
    assert [x.rstrip() for x in stripped.splitlines() if not x.startswith("violated:")] == [
        x for x in plain.splitlines() if not x.startswith("violated:")
    ]
    assert text.use_color(io.StringIO()) is False


def test_verbose_shows_full_states(no_wait):
    ts, res = no_wait
    out = text.render(ts, _drg2_only(ts, res), NO_WAIT, [], verbose=True)
    trace = res["DRG-2"].trace
    assert out.count("      state after [") == len(trace)
    assert "      initial state:" in out
    last = out.split("state after [3]:")[1]
    assert "ExampleProvider.Prov: state = DEREG_PENDING" in last
    assert "ExampleProvider: state = UNLOADED, pc = idle" in last
    assert "ExampleClient[2].Cli: state = NONE" in last


def test_readme_mermaid_block_is_what_the_tool_writes(no_wait):
    ts, res = no_wait
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## A counterexample as a Mermaid diagram")[1]
    (block,) = blocks(section.split("\n## ")[0])
    assert block == mermaid.render_trace(ts, res["unload_waits_for_bindings"])
