"""Invariant inference: candidate facts, their transfer between instances, Houdini, and the
PDR strategies built on them."""

from __future__ import annotations

import importlib

import pytest
from symbolic_models import bfs, ladder, peterson

from nmrcheck.engines.common.results import HOLDS, PROVED, UNKNOWN
from nmrcheck.engines.symbolic import check_certificate, pdr
from nmrcheck.engines.symbolic.budget import Budget
from nmrcheck.engines.symbolic.candidates import harvest, matching, reachable_states, transfer
from nmrcheck.engines.symbolic.houdini import houdini
from nmrcheck.engines.symbolic.slicing import Slice, cone
from nmrcheck.errors import InputError
from nmrcheck.ir import expr as E
from nmrcheck.ir.system import INVARIANT, Action, Property, TransitionSystem

C = E.const


def symmetric(n: int) -> TransitionSystem:
    """``n`` drivers take and release one token; ``owner`` names the holder by label."""
    ts = TransitionSystem()
    owner = ts.add_enum("owner", ["none"] + [f"D[{k}]" for k in range(1, n + 1)])
    states = [ts.add_enum(f"D[{k}].s", ["OFF", "ON"]) for k in range(1, n + 1)]
    for k in range(1, n + 1):
        i = ts.index(f"D[{k}].s")
        ts.actions += [
            Action(f"D[{k}] takes", E.eq(owner, C(0)), ((0, C(k)), (i, C(1)))),
            Action(f"D[{k}] releases", E.eq(owner, C(k)), ((0, C(0)), (i, C(0)))),
        ]
    on = [E.eq(s, C(1)) for s in states]
    mutex = E.and_(*(E.not_(E.and_(a, b)) for n_, a in enumerate(on) for b in on[n_ + 1 :]))
    ts.properties.append(Property("mutex", INVARIANT, mutex))
    return ts


def parity() -> TransitionSystem:
    """Each action flips two of three bits, so their parity stays even: not a fact about a
    pair of variables (every pair takes all four values)."""
    ts = TransitionSystem()
    x, y, z = ts.add_bool("x"), ts.add_bool("y"), ts.add_bool("z")
    bits = {"x": (0, x), "y": (1, y), "z": (2, z)}
    for a, b in (("x", "y"), ("y", "z"), ("x", "z")):
        (i, u), (j, w) = bits[a], bits[b]
        ts.actions.append(Action(f"flip {a}{b}", E.TRUE, ((i, E.not_(u)), (j, E.not_(w)))))
    ts.properties.append(Property("not_all", INVARIANT, E.not_(E.and_(x, y, z))))
    return ts


def test_harvest() -> None:
    ts = TransitionSystem()
    ts.add_var("x", 0, 2, 0)
    ts.add_var("y", 0, 2, 0)
    clauses = harvest(ts, [(0, 0), (1, 1)], [0, 1])
    assert clauses == [((0, 2),), ((1, 2),), ((0, 0), (1, 1)), ((0, 1), (1, 0))]
    sample = reachable_states(peterson(False), 1000, None)
    assert sample.complete and sample.count == len(bfs(peterson(False)))
    assert set(sample.states) == set(bfs(peterson(False)))


def test_transfer_renames_instances_injectively() -> None:
    small, big = symmetric(2), symmetric(4)
    # "D[1] is ON while the token is D[2]'s" never happens
    clause = ((0, 2), (1, 1))  # owner == D[2] and D[1].s == ON
    out = transfer([clause], small, big)
    assert len(out) == 4 * 3  # every ordered pair of distinct instances
    owner = big.index("owner")
    for c in out:
        (x, a), (y, b) = c
        assert x == owner and b == 1
        assert big.vars[x].labels[a] != big.vars[y].name.split(".")[0]
    assert matching(small, big, [big.index("D[3].s")]) == [1, 2]
    # a clause over a variable the other system does not have is dropped
    other = TransitionSystem()
    other.add_var("owner", 0, 0, 0)
    assert transfer([clause], small, other) == []


def test_houdini_keeps_the_largest_inductive_subset() -> None:
    ts = ladder(10)
    slc = cone(ts, [ts.properties[0].expr])
    # x != 5 alone is not inductive (4 -> 5); with x != 4 it is
    out = houdini(ts, slc, [((0, 5),)], [], Budget(None))
    assert out.done and out.clauses == []
    out = houdini(ts, slc, [((0, 4),), ((0, 5),), ((0, 1),)], [], Budget(None))
    assert out.clauses == [((0, 4),), ((0, 5),)]  # x != 1 holds initially, not after a step
    assert out.stats["passes"] >= 1
    out = houdini(ts, slc, [], [ts.properties[0].expr], Budget(None))
    assert out.exprs == []  # x != 8 alone is not inductive
    assert not houdini(ts, slc, [((0, 4),)], [], Budget(0)).done


def test_strategies(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ts = symmetric(3)
    for strategy in ("auto", "houdini", "spacer"):
        (r,) = pdr(ts, strategy=strategy)
        assert r.verdict == HOLDS and r.coverage == PROVED, strategy
        assert check_certificate(ts, r.certificate)[0]
        assert r.stats["strategy"] == ("spacer" if strategy == "spacer" else "houdini")
    # Peterson's mutual exclusion needs more than facts about pairs of variables: with all
    # its reachable states sampled, the reachable set itself is the invariant
    ts = peterson(buggy=False)
    (r, _) = pdr(ts, strategy="houdini")
    assert r.verdict == HOLDS and r.stats["strategy"] == "reachable set", r.reason
    assert "the reachable set as the invariant" in r.reason
    assert check_certificate(ts, r.certificate)[0]
    # a later call on the same system reuses that proof
    (r, _) = pdr(ts, strategy="houdini")
    assert r.verdict == HOLDS and r.stats["reused"] and r.certificate is not None
    pdr_module = importlib.import_module("nmrcheck.engines.symbolic.pdr")
    monkeypatch.setattr(pdr_module, "REACHABLE_SET_STATES", 0)  # Houdini alone cannot
    (r, _) = pdr(peterson(buggy=False), strategy="houdini")  # a fresh system remembers nothing
    assert r.verdict == UNKNOWN and r.stats["houdini"]["kept"] >= 0
    monkeypatch.undo()
    for strategy in ("auto", "spacer"):
        (r, _) = pdr(ts, strategy=strategy)
        assert r.verdict == HOLDS and check_certificate(ts, r.certificate)[0]
    with pytest.raises(InputError):
        pdr(ts, strategy="magic")


def test_facts_of_a_smaller_instance(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Facts harvested on two instances, renamed to four, prove mutual exclusion there."""
    small, big = symmetric(2), symmetric(4)
    (r,) = pdr(big, strategy="houdini", hints=[small])
    assert r.verdict == HOLDS and "smaller instance" not in r.reason  # big is small enough
    # the system's own sample cut short: the facts come from the smaller instance
    monkeypatch.setattr(
        importlib.import_module("nmrcheck.engines.symbolic.pdr"), "SAMPLE_STATES", 2
    )
    (r,) = pdr(big, strategy="houdini", hints=[small])
    assert r.verdict == HOLDS and "smaller instance" in r.reason, r.reason
    assert check_certificate(big, r.certificate)[0]


def test_spacer_finishes_what_houdini_cannot(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # (the reachable set would prove it: these small systems have few states)
    monkeypatch.setattr(
        importlib.import_module("nmrcheck.engines.symbolic.pdr"), "REACHABLE_SET_STATES", 0
    )
    ts = parity()
    (r,) = pdr(ts, strategy="houdini")
    assert r.verdict == UNKNOWN and "not proved by invariant inference" in r.reason
    (r,) = pdr(ts)
    assert r.verdict == HOLDS and r.coverage == PROVED
    assert "strengthened by an inferred invariant" in r.reason
    assert check_certificate(ts, r.certificate)[0]


def test_invariant_without_variables() -> None:
    ts = TransitionSystem()
    ts.add_var("x", 0, 1, 0)
    ts.actions.append(Action("noop", E.TRUE, ()))
    ts.properties.append(Property("yes", INVARIANT, E.TRUE))
    (r,) = pdr(ts)
    assert r.verdict == HOLDS and check_certificate(ts, r.certificate)[0]
    assert Slice((), ()) == cone(ts, [E.TRUE])
