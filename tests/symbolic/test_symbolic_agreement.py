"""Property-based: on random small systems a plain BFS, BMC, k-induction and PDR agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from symbolic_models import bfs, systems

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
from nmrcheck.engines.symbolic import bmc, check_certificate, k_induction, pdr
from nmrcheck.ir.system import INVARIANT
from nmrcheck.ir.walkers import evaluate

pytestmark = pytest.mark.slow  # the fast tier (-m "not slow") leaves these out

MAX_KS = (2, 5)  # a small one exercises PROOF_FAILED, a larger one proves more


def _replays(ts, trace, from_init: bool = True) -> bool:  # type: ignore[no-untyped-def]
    if from_init and trace.states[0] != ts.initial_state():
        return False
    return all(
        a in ts.enabled(trace.states[j]) and ts.fire(a, trace.states[j]) == trace.states[j + 1]
        for j, a in enumerate(trace.actions)
    )


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(systems())
def test_engines_agree_with_bfs(ts) -> None:  # type: ignore[no-untyped-def]
    dist = bfs(ts)
    assert all(v.lo <= x <= v.hi for s in dist for v, x in zip(ts.vars, s, strict=True))
    check_agreement(ts, dist)


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(systems(slack=1))
def test_engines_agree_when_updates_leave_the_domains(ts) -> None:  # type: ignore[no-untyped-def]
    """The encodings follow the interpreter, not the declared domains; k-induction, which
    assumes them only once proved, may then give up (UNKNOWN) but never answers wrongly."""
    check_agreement(ts, bfs(ts))


def check_agreement(ts, dist) -> None:  # type: ignore[no-untyped-def]
    (p,) = ts.properties
    inside = all(v.lo <= x <= v.hi for s in dist for v, x in zip(ts.vars, s, strict=True))
    wanted = p.kind != INVARIANT  # the goal: a violation, or a witness
    hits = [d for s, d in dist.items() if bool(evaluate(p.expr, s)) == wanted]
    shortest = min(hits) if hits else None
    hit = VIOLATED if p.kind == INVARIANT else WITNESSED
    proved = HOLDS if p.kind == INVARIANT else UNREACHABLE

    def is_goal(state) -> bool:  # type: ignore[no-untyped-def]
        return bool(evaluate(p.expr, state)) == wanted

    # BMC, deep enough to reach every reachable state (BFS distances bound every shortest run)
    depth = max(dist.values()) + 1
    (r,) = bmc(ts, depth=depth)
    if shortest is None:
        assert r.verdict == (HOLDS_BOUNDED if p.kind == INVARIANT else UNKNOWN)
        assert (r.coverage, r.bound) == (BOUNDED, depth)
    else:
        assert r.verdict == hit and len(r.trace) == shortest
        assert _replays(ts, r.trace) and is_goal(r.trace.states[-1])

    # k-induction: when it concludes, it agrees; its base case finds shortest runs
    for max_k in MAX_KS:
        (r,) = k_induction(ts, max_k=max_k)
        if r.verdict == hit:
            assert len(r.trace) == shortest and _replays(ts, r.trace)
        elif r.verdict == proved:
            assert shortest is None and r.coverage in (PROVED, EXHAUSTIVE)
            if r.certificate is not None:
                assert check_certificate(ts, r.certificate)[0]
        elif r.verdict == UNKNOWN:
            assert not inside and "leaves its domain" in r.reason
            assert shortest is None or shortest >= max_k
        else:
            assert r.verdict == PROOF_FAILED, r.reason
            assert shortest is None or shortest >= max_k
            assert len(r.trace) == max_k and _replays(ts, r.trace, from_init=False)

    # PDR always concludes on these, whatever the strategy (the default one samples the
    # reachable states and infers invariants when the domains are closed, then uses Spacer)
    for strategy in ("auto", "spacer"):
        (r,) = pdr(ts, strategy=strategy)
        if shortest is None:
            assert r.verdict == proved and r.coverage == PROVED, strategy
            ok, message = check_certificate(ts, r.certificate)
            assert ok, message
        else:
            assert r.verdict == hit and _replays(ts, r.trace) and is_goal(r.trace.states[-1])
            assert len(r.trace) == shortest, strategy
