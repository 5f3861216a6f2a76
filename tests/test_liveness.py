"""Liveness under fairness: the spec forms, the fairness groups, the explicit fair-cycle search
and its lasso counterexamples, the bounded lasso search with Z3, and their agreement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import ROOT, run_cli

from nmrcheck.engines.common.lasso import lasso_problem
from nmrcheck.engines.explicit.liveness import check_liveness, liveness_properties
from nmrcheck.engines.symbolic.lasso import lasso_bmc, lasso_bmc_all
from nmrcheck.errors import InputError
from nmrcheck.ir import (
    EVENTUALLY,
    LEADS_TO,
    STRONG,
    WEAK,
    Action,
    Fairness,
    Property,
    TransitionSystem,
)
from nmrcheck.ir import expr as E
from nmrcheck.nmr.load import load, load_text
from nmrcheck.traces.replay import check_replays

C = E.const
LIVE = ROOT / "models" / "liveness"
HANGS = "models/seeds/detach-pending-never-completed.nmr"
PROVIDER = """
npi N
driver P {
  provider Prov of N
  Unload {
    status = NmrDeregisterProvider(Prov)
    if (status == STATUS_PENDING) { NmrWaitForProviderDeregisterComplete(Prov) }
  }
}
"""


def model(client: str) -> str:
    return PROVIDER + "driver C {\n  client Cli of N\n" + client + "\n}\n"


def verdicts(text: str, spec: str = "") -> dict:
    ts = load_text(text, "t.nmr", [("t.spec", spec)] if spec else [])
    results, _ = check_liveness(ts)
    return {r.property: r for r in results}


def is_lasso(ts: TransitionSystem, r) -> None:
    """The counterexample replays, closes its loop (or stutters) and is fair."""
    trace = r.trace
    check_replays(ts, trace)
    n, j = len(trace), trace.loop_start
    assert j is not None and 0 <= j <= n
    if r.stats["stutter"]:
        assert j == n
    else:
        assert j >= 1 and trace.states[-1] == trace.states[j - 1]
    (p,) = [q for q in ts.properties if q.name == r.property]
    inst = next(q for q in p.instances() if q.name == r.stats["instance"])
    assert lasso_problem(ts, inst, trace) is None


# -- the spec language ----------------------------------------------------------------------
def test_leads_to_forall_becomes_one_part_per_instance():
    spec = (
        "leads_to unl: forall d in drivers: d.state == UNLOADING ~> d.state == UNLOADED\n"
        "leads_to one: P.Prov.state == DEREG_PENDING ~> P.Prov.state == CLOSED\n"
        "eventually up: forall d in drivers: d.state == LOADED\n"
    )
    ts = load_text(model(""), "t.nmr", [("t.spec", spec)])
    by = {p.name: p for p in ts.properties}
    assert by["unl"].kind == LEADS_TO and [q.name for q in by["unl"].parts] == [
        "unl[P]",
        "unl[C]",
    ]
    assert by["one"].parts == () and by["one"].target is not None
    assert by["up"].kind == EVENTUALLY and by["up"].parts == ()
    assert by["unl"].meta["text"].startswith("forall d in drivers: (d.state == UNLOADING) ~>")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("invariant i: P.state == LOADED ~> P.state == UNLOADED", "'~>' is allowed only in"),
        ("eventually e: P.state == LOADED ~> true", "'~>' is allowed only in"),
        ("leads_to l: P.state == LOADED", "a leads_to property is 'P ~> Q'"),
        ("leads_to l: exists d in drivers: d.state == LOADED ~> true", "at its top (under forall)"),
        ("leads_to l: P.state == LOADED && true", "possibly under 'forall x in S:'"),
        ("leads_to l: P.state == LOADED implies true ~> true", "'~>' is allowed only in"),
        ("leads_to l: forall r in registrations: r.waitng ~> true", "did you mean 'waiting'"),
    ],
)
def test_spec_mistakes_are_findings(spec, message):
    with pytest.raises(InputError) as exc:
        load_text(model(""), "t.nmr", [("t.spec", spec)])
    (f,) = exc.value.findings
    assert f.file == "t.spec" and f.line == 1 and message in f.message


def test_waiting_is_a_thread_in_the_wait():
    spec = "reachable w: P.Prov.waiting\n"
    spec += "invariant only: P.Prov.waiting implies P.state == UNLOADING"
    ts = load_text(model(""), "t.nmr", [("t.spec", spec)])
    from support import check_all

    got = {r.property: r.verdict for r in check_all(ts).results}
    assert got["w"] == "witnessed" and got["only"] == "holds"
    assert not any(q.name == "w" for q in liveness_properties(ts))


def test_keywords_stay_usable_as_name_prefixes():
    ts = load_text(
        model("var fairness: bool\n var strong: bool\n task eventually_t { strong = true }"),
        "t.nmr",
        [("t.spec", "invariant eventually_ok: true\nreachable leads_tox: true")],
    )
    assert {"eventually_ok", "leads_tox"} <= {p.name for p in ts.properties}


# -- fairness groups ------------------------------------------------------------------------
def test_default_fairness_groups():
    ts = load_text(model("task T { skip }\n workitem W { skip }\n DriverEntry { queue(W) }"), "t")
    kinds = {f.name: f.kind for f in ts.fairness}
    assert kinds["thread P"] == kinds["thread C.T"] == STRONG  # running threads
    assert kinds["work item C.W starts"] == STRONG  # a queued work item is started
    assert kinds["NMR offers C.Cli~P.Prov"] == WEAK
    assert kinds["NMR: deregistration of P.Prov complete"] == WEAK
    names = " ".join(kinds)
    assert "Unload" not in names  # the OS calling Unload is never forced
    starts = {a for f in ts.fairness for a in f.actions}
    task_start = [i for i, a in enumerate(ts.actions) if "starts task T" in a.label]
    assert task_start and not set(task_start) & starts  # nor is the start of a task


def test_declared_fairness():
    ts = load_text(model("fair T\n fair strong U\n task T { skip }\n task U { skip; skip }"), "t")
    declared = [f for f in ts.fairness if f.name.startswith("C.")]
    weak = [f for f in declared if f.kind == WEAK]
    strong = [f for f in declared if f.kind == STRONG]
    assert [f.name for f in weak] == ["C.T starts (fair)"]
    assert all(len(f.actions) == 1 for f in strong) and len(strong) >= 3  # every step of U
    with pytest.raises(InputError) as exc:
        load_text(model("fair Tx\n task T { skip }"), "t.nmr")
    (f,) = exc.value.findings
    assert f.file == "t.nmr" and f.line == 12
    assert "'fair' names no task or work item of C: 'Tx'; did you mean 'T'?" in f.message


# -- small systems: the semantics -------------------------------------------------------------
def flip_and_go(go_kind: str | None) -> TransitionSystem:
    """x flips forever (weakly fair); `go` (y := 1) is possible only while x == 1."""
    ts = TransitionSystem()
    x = ts.add_var("x", 0, 1, 0)
    y = ts.add_var("y", 0, 1, 0)
    ts.actions += [
        Action("flip", E.TRUE, ((0, E.sub(C(1), x)),)),
        Action("go", E.and_(E.eq(x, C(1)), E.eq(y, C(0))), ((1, C(1)),)),
    ]
    ts.fairness = [Fairness("flip", WEAK, (0,))]
    if go_kind is not None:
        ts.fairness.append(Fairness("go", go_kind, (1,)))
    ts.properties.append(Property("done", EVENTUALLY, E.eq(y, C(1))))
    ts.validate()
    return ts


@pytest.mark.parametrize(("go", "verdict"), [(None, "violated"), (WEAK, "violated"),
                                             (STRONG, "holds")])
def test_weak_and_strong_fairness(go, verdict):
    ts = flip_and_go(go)
    (r,) = check_liveness(ts)[0]
    assert r.verdict == verdict
    sym = lasso_bmc(ts, ts.properties[0], depth=6)
    assert sym.verdict == ("violated" if verdict == "violated" else "holds up to bound")
    if verdict == "violated":
        is_lasso(ts, r)
        assert not r.stats["stutter"]  # flip is always enabled: the run must keep flipping
        assert lasso_problem(ts, ts.properties[0], sym.trace) is None


def test_a_dead_end_stutters_and_a_crash_is_no_counterexample():
    ts = TransitionSystem()
    x = ts.add_var("x", 0, 3, 0)
    ts.actions += [
        Action("step", E.eq(x, C(0)), ((0, C(1)),)),
        Action("crash", E.eq(x, C(1)), ((0, C(3)),)),
        Action("stop", E.eq(x, C(1)), ((0, C(2)),)),
    ]
    ts.halted = E.eq(x, C(3))
    ts.fairness = [Fairness("all", WEAK, (0, 1, 2))]
    ts.properties += [
        Property("never", EVENTUALLY, E.eq(x, C(5))),  # every run stops at 2 or crashes at 3
        Property("stops", LEADS_TO, E.eq(x, C(1)), target=E.eq(x, C(2))),
        Property("back", LEADS_TO, E.eq(x, C(1)), target=E.eq(x, C(0))),
    ]
    ts.validate()
    never, stops, back = check_liveness(ts)[0]
    assert never.verdict == "violated" and never.stats["stutter"]
    assert never.trace.loop_start == len(never.trace) == 2  # stays in x == 2 forever
    assert ts.enabled(never.trace.states[-1]) == []
    assert stops.verdict == "holds"  # the run that crashes in 3 instead is no counterexample
    assert back.verdict == "violated" and back.stats["stutter"]
    assert [s[0] for s in back.trace.states] == [0, 1, 2]


def test_leads_to_needs_the_target_after_the_trigger():
    ts = TransitionSystem()
    x = ts.add_var("x", 0, 2, 0)
    ts.actions += [
        Action("a", E.eq(x, C(0)), ((0, C(1)),)),
        Action("b", E.eq(x, C(1)), ((0, C(2)),)),
        Action("c", E.eq(x, C(2)), ((0, C(1)),)),
    ]
    ts.fairness = [Fairness("all", WEAK, (0, 1, 2))]
    ts.properties += [
        Property("back", LEADS_TO, E.eq(x, C(2)), target=E.eq(x, C(0))),
        Property("again", LEADS_TO, E.eq(x, C(2)), target=E.eq(x, C(1))),
        Property("now", LEADS_TO, E.eq(x, C(1)), target=E.eq(x, C(1))),
    ]
    ts.validate()
    back, again, now = check_liveness(ts)[0]
    assert back.verdict == "violated" and again.verdict == now.verdict == "holds"
    assert [s[0] for s in back.trace.states] == [0, 1, 2, 1, 2]  # 2 triggers, 1 2 repeat
    assert back.trace.loop_start == 3 and back.stats["trigger"] == 2


# -- the catalogue's liveness models, through the command line -----------------------------------
EXPECTED = {
    "progcons-both-unload.nmr": set(),
    "ebpf-1583-preallocated-teardown.nmr": set(),
    "teardown-waits-for-memory-fair.nmr": set(),
    "ebpf-1511-teardown-needs-memory.nmr": {
        "wait_returns",
        "deregistration_completes",
        "client_detach_completes",
        "client_detaches_for_peer",
        "unload_returns",
    },
    "calls-keep-starting-after-detach.nmr": {
        "wait_returns",
        "deregistration_completes",
        "client_detach_completes",
        "client_detaches_for_peer",
        "unload_returns",
    },
}


def test_every_liveness_model_is_listed():
    assert {p.name for p in LIVE.glob("*.nmr")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_liveness_verdicts_and_lassos(name):
    path = str((LIVE / name).relative_to(ROOT))
    ts = load(path)
    live = {p.name for p in liveness_properties(ts)}
    results, stats = check_liveness(ts)
    assert stats["complete"]
    got = {r.property for r in results if r.verdict == "violated"}
    assert got == EXPECTED[name]
    assert {r.property for r in results if r.verdict == "holds"} == live - got
    for r in results:
        if r.verdict == "violated":
            is_lasso(ts, r)
            assert not r.stats["stutter"]  # these hangs keep running: the loop never ends


def test_no_hang_misses_the_low_memory_hang():
    r = run_cli("check", "models/liveness/ebpf-1511-teardown-needs-memory.nmr", "--json")
    props = {p["property"]: p for p in r.json["models"][0]["properties"]}
    assert props["no_hang"]["verdict"] == "holds"  # memory may always come back ...
    det5 = props["client_detach_completes"]  # ... but need not: a fair lasso
    assert det5["verdict"] == "violated" and det5["kind"] == "leads_to"
    assert det5["instance"] == "client_detach_completes[NativeModule.Module~EbpfCore.Core]"
    assert 1 <= det5["loop_start"] < len(det5["trace"]) and det5["stutter"] is False
    loop = [s["action"] for s in det5["trace"][det5["loop_start"] - 1 :]]
    assert any("ok = memory" in a for a in loop)  # the retry is what goes on forever
    assert r.json["models"][0]["stats"]["liveness"]["reduced"] is False  # no replicated driver


def test_text_report_shows_the_loop_and_the_reductions():
    r = run_cli("check", HANGS, "--property", "unload_returns")
    assert r.code == 1
    assert "liveness: 1 property on the fair runs" in r.out
    assert "decided on the search's graph" in r.out
    assert "For unload_returns[ExampleProvider]:" in r.out
    assert "(after step 12 the run stays in this state forever" in r.out
    r = run_cli("check", "models/liveness/calls-keep-starting-after-detach.nmr", "--property",
                "client_detach_completes")
    assert r.code == 1
    assert "(the run loops back to step 16: steps 16 to 21 repeat forever)" in r.out


@pytest.mark.parametrize("fmt", ["--itf", "--json"])
def test_lassos_replay_from_saved_traces(tmp_path, fmt):
    for model_, prop, shape in [
        (HANGS, "client_detach_completes", "stays in its last state forever"),
        ("models/liveness/ebpf-1511-teardown-needs-memory.nmr", "unload_returns", "repeats steps"),
    ]:
        path = tmp_path / f"{prop}.json"
        args = ["check", model_, "--property", prop]
        r = run_cli(*args, fmt, str(path)) if fmt == "--itf" else run_cli(*args, "--json")
        if fmt == "--json":
            path.write_text(r.out)
        doc = json.loads(path.read_text())
        assert ("loop" in doc) if fmt == "--itf" else ("loop_start" in r.out)
        rr = run_cli("replay", str(path), model_)
        assert rr.code == 0, rr.out + rr.err
        assert rr.out.startswith(f"trace replays: violates {prop} on a fair run of ")
        assert shape in rr.out


def test_other_formats_say_how_the_run_goes_on(tmp_path):
    md, sarif = tmp_path / "t.md", tmp_path / "t.sarif"
    args = ["check", HANGS, "--property", "unload_returns"]
    run_cli(*args, "--mermaid", str(md), "--sarif", str(sarif))
    assert "the run stays in this state forever" in md.read_text()
    (res,) = json.loads(sarif.read_text())["runs"][0]["results"]
    assert "stays in this state forever" in res["message"]["text"]


def test_symbolic_engines_on_the_command_line_search_lassos():
    r = run_cli("check", HANGS, "--engine", "bmc", "--depth", "12", "--property",
                "unload_returns", "--property", "provider_detach_completes", "--json")
    props = {p["property"]: p for p in r.json["models"][0]["properties"]}
    assert props["unload_returns"]["verdict"] == "violated"
    assert props["unload_returns"]["engine"] == "lasso bmc"
    assert props["provider_detach_completes"]["verdict"] == "holds up to bound"


# -- explicit and symbolic agree ------------------------------------------------------------------
AGREE = [  # about 0.5 to 2 s each: the first in the fast tier
    ("models/seeds/detach-pending-never-completed.nmr", 12),
    pytest.param("models/seeds/detach-pending.nmr", 10, marks=pytest.mark.slow),
    # 2 s (a lasso search to depth 18): full suite only
    pytest.param("models/liveness/ebpf-1511-teardown-needs-memory.nmr", 18,
                 marks=pytest.mark.slow),
    pytest.param("models/liveness/teardown-waits-for-memory-fair.nmr", 10,
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("path", "depth"), AGREE)
def test_explicit_and_symbolic_agree_on_models(path, depth):
    ts = load(path)
    props = liveness_properties(ts)
    explicit, _ = check_liveness(ts, props)
    symbolic = lasso_bmc_all(ts, props, depth)
    for e, s in zip(explicit, symbolic):
        if s.verdict == "violated":  # a bounded lasso is a lasso
            assert e.verdict == "violated", e.property
            assert lasso_problem(ts, _instance(ts, s), s.trace) is None
        if e.verdict == "violated" and len(e.trace) <= depth:
            assert s.verdict == "violated" and len(s.trace) <= len(e.trace), e.property
        if e.verdict == "holds":
            assert s.verdict == "holds up to bound", e.property


def _instance(ts: TransitionSystem, r) -> Property:
    p = next(q for q in ts.properties if q.name == r.property)
    return next(q for q in p.instances() if q.name == r.stats["instance"])


@st.composite
def fair_systems(draw):  # type: ignore[no-untyped-def]
    """Two small variables, a few guarded actions, random fairness, one liveness property."""
    ts = TransitionSystem()
    for i in range(2):
        ts.add_var(f"v{i}", 0, draw(st.integers(1, 2)), 0)

    def atom() -> E.Expr:
        i = draw(st.integers(0, 1))
        return E.eq(ts.var_expr(f"v{i}"), C(draw(st.integers(0, ts.vars[i].hi))))

    for n in range(draw(st.integers(1, 4))):
        guard = atom() if draw(st.booleans()) else E.not_(atom())
        i = draw(st.integers(0, 1))
        ts.actions.append(Action(f"a{n}", guard, ((i, C(draw(st.integers(0, ts.vars[i].hi)))),)))
    for n in range(len(ts.actions)):
        kind = draw(st.sampled_from([None, WEAK, STRONG]))
        if kind is not None:
            ts.fairness.append(Fairness(f"g{n}", kind, (n,)))
    if draw(st.booleans()):
        ts.properties.append(Property("p", EVENTUALLY, atom()))
    else:
        ts.properties.append(Property("p", LEADS_TO, atom(), target=atom()))
    ts.validate()
    return ts


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(fair_systems())
def test_explicit_and_symbolic_agree_on_random_systems(ts):
    (p,) = ts.properties
    (e,), _ = check_liveness(ts)
    if e.verdict == "violated":
        assert lasso_problem(ts, p, e.trace) is None
        s = lasso_bmc(ts, p, depth=len(e.trace))
        assert s.verdict == "violated" and len(s.trace) <= len(e.trace)
        assert lasso_problem(ts, p, s.trace) is None
    else:
        assert lasso_bmc(ts, p, depth=12).verdict == "holds up to bound"


def test_lasso_problem_rejects_what_is_not_a_fair_counterexample():
    ts = flip_and_go(STRONG)
    (p,) = ts.properties
    from nmrcheck.ir.trace import Trace

    s0, s1 = (0, 0), (1, 0)
    flip_forever = Trace((s0, s1, s0), (0, 0), 1)
    assert "unfair to go" in lasso_problem(ts, p, flip_forever)
    assert "not the state before" in lasso_problem(ts, p, Trace((s0, s1), (0,), 1))
    assert lasso_problem(ts, p, Trace((s0, s1), (0,), None)) == "not a lasso"


def test_the_bundled_spec_names_its_liveness_properties():
    text = (ROOT / "specs" / "lifecycle.spec").read_text()
    for name in ("wait_returns", "client_detach_completes", "provider_detach_completes",
                 "client_detaches_for_peer", "provider_detaches_for_peer", "unload_returns",
                 "deregistration_completes"):
        assert f"leads_to {name}:" in text
    assert Path(ROOT / "nmrcheck" / "specs" / "lifecycle.spec").read_text() == text
