"""Liveness and hangs on the symmetry-reduced graph give the verdicts of the unreduced graph:
on every replicated catalogue model and bench design, and on random symmetric systems whose
fairness depends on which instance moves (the monodromy of a reduced cycle)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ROOT

from nmrcheck.engines.common.lasso import lasso_problem
from nmrcheck.engines.common.results import HANG
from nmrcheck.engines.explicit.checker import check
from nmrcheck.ir import (
    LEADS_TO,
    STRONG,
    WEAK,
    Action,
    Fairness,
    InstanceGroup,
    Property,
    TransitionSystem,
)
from nmrcheck.ir import expr as E
from nmrcheck.nmr.load import load
from nmrcheck.traces.replay import check_replays

REPLICATED = re.compile(r"^driver \w+\[\d+\]", re.M)
MODELS = sorted(p for p in (ROOT / "models").rglob("*.nmr") if REPLICATED.search(p.read_text()))
MODELS += [ROOT / "bench" / "models" / f"{f}.nmr" for f in (
    "provider-clients-2", "provider-clients-3", "multi-npi-3", "provider-clients-nowait-2",
    "provider-clients-nowait-3")]


def _verdicts(result) -> dict[str, str]:
    return {r.property: r.verdict for r in result.results}


def _same(ts: TransitionSystem):  # type: ignore[no-untyped-def]
    """Reduced and unreduced checks agree on every property; traces are real runs; safety
    traces have the same (shortest) length; liveness lassos are fair counterexamples. Returns
    the reduced check's result."""
    plain, _ = check(ts, symmetry="off")
    reduced, _ = check(ts, symmetry="auto")
    assert _verdicts(plain) == _verdicts(reduced)
    props = {p.name: p for p in ts.properties}
    lengths = {r.property: len(r.trace) for r in plain.results
               if r.trace is not None and r.trace.loop_start is None and r.property != HANG}
    for r in reduced.results:
        if r.trace is None:
            continue
        check_replays(ts, r.trace)
        if r.trace.loop_start is not None:
            p = props[r.property]
            inst = next(q for q in p.instances() if q.name == r.stats["instance"])
            assert lasso_problem(ts, inst, r.trace, r.stats["trigger"]) is None
        elif r.property in lengths:
            assert len(r.trace) == lengths[r.property], r.property
    return reduced


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.slow) if p.parts[-3] == "bench" else p for p in MODELS
], ids=lambda p: str(p.relative_to(ROOT)))
def test_reduced_liveness_and_hangs_agree_on_the_catalogue(path):
    ts = load(str(path))
    reduced = _same(ts)  # the reduced search once (it was run twice: 2 to 3 s on bench/)
    assert reduced.stats.get("symmetry", {}).get("used"), path


# -- symmetric systems from a template -----------------------------------------------------------
Step = tuple  # (guard a, guard g, guard b, set a, set b, set g): None for "any" / "unchanged"


def instance_system(n: int, template: list[Step], fair: list[str | None],
                    g0: int = 0, over: int | None = None) -> TransitionSystem:
    """N instances ``X[i]`` of one template: per instance a phase ``a`` (0..2) and a flag
    ``b``, one shared counter ``g`` (0..2, initially ``g0``); the template's steps per
    instance over its own variables and ``g`` (set ``g`` to "inc" or "dec" to count); per
    instance and step a fairness group of kind ``fair[k]`` (or none); ``p``: a ``leads_to``
    ``a == 0 ~> b`` (or ``g == over``, when given) with one part per instance."""
    ts = TransitionSystem()
    g = ts.add_var("g", 0, 2, g0)
    own = [(ts.add_var(f"X[{i}].a", 0, 2, 0), ts.add_bool(f"X[{i}].b")) for i in range(1, n + 1)]
    ts.groups = [InstanceGroup("X", tuple(f"X[{i}]" for i in range(1, n + 1)))]
    for i, (a, b) in enumerate(own, 1):
        for k, (ga, gg, gb, ua, ub, ug) in enumerate(template):
            conds = []
            if ga is not None:
                conds.append(E.eq(a, E.const(ga)))
            if gb is not None:
                conds.append(E.eq(b, E.const(bool(gb))))
            if gg is not None:
                conds.append(E.eq(g, E.const(gg)))
            ups = []
            if ua is not None:
                ups.append((ts.index(f"X[{i}].a"), E.const(ua)))
            if ub is not None:
                ups.append((ts.index(f"X[{i}].b"), E.const(bool(ub))))
            if ug == "inc":
                conds.append(E.lt(g, E.const(2)))
                ups.append((0, E.add(g, E.const(1))))
            elif ug == "dec":
                conds.append(E.lt(E.const(0), g))
                ups.append((0, E.sub(g, E.const(1))))
            elif ug is not None:
                ups.append((0, E.const(ug)))
            if not ups:
                continue
            ts.actions.append(Action(f"X[{i}]: step {k}", E.and_(*conds), tuple(ups)))
            if fair[k] is not None:
                ts.fairness.append(Fairness(f"X[{i}] step {k}", fair[k], (len(ts.actions) - 1,)))
    def done(b: E.Expr) -> E.Expr:
        quit_ = E.eq(b, E.const(True))
        return quit_ if over is None else E.or_(quit_, E.eq(g, E.const(over)))

    parts = tuple(Property(f"p[X[{i}]]", LEADS_TO, E.eq(a, E.const(0)), target=done(b))
                  for i, (a, b) in enumerate(own, 1))
    ts.properties.append(Property("p", LEADS_TO, E.or_(*(q.expr for q in parts)), parts=parts))
    ts.validate()
    return ts


@pytest.mark.parametrize("n", [2, 3])
def test_a_reduced_cycle_that_rotates_the_instances(n):
    # a token passed round: the holder puts it down (g = 1), anyone picks it up (it starts on
    # the table). A waiter may
    # quit (weakly fair), but on the fair run where the token goes round for ever nobody
    # waits continuously (each one holds it in turn), so nobody need quit: p is violated.
    # On the reduced graph the token cycle is one cycle of representatives whose mappings
    # rotate the instances; judged without them (in the root's numbering only), "the waiter
    # at position 2 may always quit and never does" would call the cycle unfair.
    give = (1, 0, None, 0, None, 1)
    take = (0, 1, None, 1, None, 0)
    quit_ = (0, None, 0, None, 1, 2)  # and the game is over (g = 2), which ends p too
    ts = instance_system(n, [give, take, quit_], [WEAK, WEAK, WEAK], g0=1, over=2)
    plain, _ = check(ts, symmetry="off")
    assert _verdicts(plain)["p"] == "violated"
    _same(ts)


@st.composite
def symmetric_systems(draw) -> TransitionSystem:
    """Random instance systems (:func:`instance_system`)."""
    n = draw(st.integers(2, 3))
    steps = st.tuples(
        st.sampled_from([None, 0, 1, 2]), st.sampled_from([None, 0, 1, 2]),
        st.sampled_from([None, 0, 1]), st.sampled_from([None, 0, 1, 2]),
        st.sampled_from([None, 0, 1]), st.sampled_from([None, 0, 1, 2, "inc", "dec"]))
    template = draw(st.lists(steps, min_size=2, max_size=5))
    fair = draw(st.lists(st.sampled_from([None, WEAK, STRONG]), min_size=len(template),
                         max_size=len(template)))
    return instance_system(n, template, fair)


@pytest.mark.slow  # 150 random systems, 2 s: full suite only (the catalogue's in the fast tier)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(symmetric_systems())
def test_reduced_liveness_agrees_on_random_symmetric_systems(ts):
    _same(ts)


def test_a_component_unfair_under_every_renaming_is_unfair_by_its_own_monodromy():
    """The bulk test that skips judging a component one by one (``_never_fair``: a weak group
    always enabled and never taken there, whatever the symmetry renames) agrees with the
    judgement through the component's monodromy wherever it applies."""
    import numpy as np

    from nmrcheck.engines.explicit import liveness
    from nmrcheck.engines.explicit.arrays import Graph
    from nmrcheck.engines.explicit.search import explore
    from nmrcheck.engines.explicit.symmetry import analyse

    skipped = 0
    for name in ("bench/models/provider-clients-2.nmr", "bench/models/multi-npi-2.nmr"):
        ts = load(str(ROOT / name))
        live = liveness.liveness_properties(ts)
        ex = explore(ts, symmetry=analyse(ts)[0], keep_edges=True, split=False)
        g = Graph(ex.first, ex.dst, ex.act, ex.perm)
        su = liveness._setup(ts, ex, live)
        groups = liveness.masks(su.action_groups, len(ts.fairness))
        inner = np.flatnonzero(g.inner)
        taken = np.zeros(g.ncomp, dtype=groups.dtype)
        np.bitwise_or.at(taken, g.label[g.src[inner]], groups[g.act[inner]])
        en_all = np.full(g.ncomp, su.everyone, dtype=groups.dtype)
        np.bitwise_and.at(en_all, g.label, liveness.masks(ex.groups, len(ts.fairness)))
        never = liveness._never_fair(su, (groups.dtype.type(su.everyone) & ~en_all) | taken)
        for c, members in zip(np.flatnonzero(never & g.cyclic).tolist(),
                              g.members(np.flatnonzero(never & g.cyclic)), strict=True):
            bad, _ = liveness._judge(su, members, ex.out, ex.dst, ex.act, ex.perm,
                                     ex.groups.__getitem__)
            assert bad == 0, (name, c)
            skipped += 1
    assert skipped > 100
