"""PDR proves the provider-clients family of bench/ (one provider, N clients with up to 2 NPI
calls in flight per binding, a pending detach completed by the last call out, an Unload that
deregisters and waits): every safety property, each with a certificate that a fresh solver
re-checks. What it needs: facts over three variables of one client's binding (between the two
steps of the detach callback, ``pending`` is set exactly when calls are in flight), read off
the 2-client instance and renamed over every client.

PDR samples reachable states here with the explicit engine's sampler, as ``nmrcheck check
--engine pdr`` does: the reference breadth-first sampler (the default of ``pdr``, which the
fast tier's symbolic tests use) spends 12 to 15 s of each of these runs on sampling."""

from __future__ import annotations

import time

import pytest

from nmrcheck.engines.common.results import HOLDS, PROVED, UNKNOWN, PropertyResult
from nmrcheck.engines.explicit.sample import reachable_states
from nmrcheck.engines.symbolic import check_certificate, pdr
from nmrcheck.engines.symbolic.budget import Budget
from nmrcheck.engines.symbolic.candidates import harvest, local
from nmrcheck.engines.symbolic.certificate import check_all
from nmrcheck.engines.symbolic.houdini import houdini
from nmrcheck.engines.symbolic.slicing import cone
from nmrcheck.engines.symbolic.targets import select
from nmrcheck.ir import expr as E
from nmrcheck.ir.system import INVARIANT, Action, Property, TransitionSystem
from nmrcheck.nmr.load import load

pytestmark = pytest.mark.slow  # the fast tier (-m "not slow") leaves these out

C = E.const


def snapshot() -> TransitionSystem:
    """While idle (``a == 0``), ``p`` and ``n`` change freely; ``enter`` copies ``n`` into
    ``p``: in every reachable state with ``a == 1``, ``p == n``. Every pair of values of two
    variables is reachable, so no fact about pairs says it."""
    ts = TransitionSystem()
    a, p, n = ts.add_bool("a"), ts.add_bool("p"), ts.add_bool("n")
    idle = E.not_(a)
    ts.actions += [
        Action("flip p", idle, ((1, E.not_(p)),)),
        Action("flip n", idle, ((2, E.not_(n)),)),
        Action("enter", idle, ((0, E.TRUE), (1, n))),
        Action("leave", a, ((0, E.FALSE),)),
    ]
    ts.properties.append(Property("copied", INVARIANT, E.or_(idle, E.eq(p, n))))
    return ts


def test_three_atom_facts_say_what_pairs_cannot() -> None:
    ts = snapshot()
    states = reachable_states(ts, 100, None).states
    slc = cone(ts, [ts.properties[0].expr])
    assert harvest(ts, states, slc.vars) == []
    triples = harvest(ts, states, slc.vars, triples=True)
    assert triples == [((0, 1), (1, 0), (2, 1)), ((0, 1), (1, 1), (2, 0))]
    out = houdini(ts, slc, triples, [ts.properties[0].expr], Budget(None))
    assert out.done and len(out.exprs) == 1  # the property, proved with them


def test_triples_are_of_one_generic_instance() -> None:
    one, two = [("Client", 1)], [("Client", 2)]
    assert local([], one, one) and local(one, [("Provider", 3)], [])
    assert not local(one, two, [])


def assert_proved(ts: TransitionSystem, results: list[PropertyResult]) -> None:
    props = {p.name: p for p in select(ts, None)}
    assert {r.property for r in results} == set(props)
    for r in results:
        assert r.verdict == HOLDS and r.coverage == PROVED, (r.property, r.reason)
    # a fresh solver, from the certificates' text (one check of each invariant they share)
    for ok, message in check_all(ts, [(props[r.property], r.certificate) for r in results]):
        assert ok, message
    ok, message = check_certificate(ts, results[0].certificate)
    assert ok, message


def test_pdr_proves_provider_clients_4() -> None:
    ts = load("bench/models/provider-clients-4.nmr")
    start = time.monotonic()
    results = pdr(ts, timeout=120, sampler=reachable_states)
    assert time.monotonic() - start < 60  # about 4 s
    assert_proved(ts, results)
    assert all(r.stats["strategy"] == "houdini" for r in results)


@pytest.mark.slow
def test_pdr_proves_provider_clients_6() -> None:
    ts = load("bench/models/provider-clients-6.nmr")
    start = time.monotonic()
    results = pdr(ts, timeout=120, sampler=reachable_states)
    assert time.monotonic() - start < 90  # about 5 s
    assert_proved(ts, results)


def test_one_property_at_a_time_as_the_auto_engine_asks() -> None:
    """The first call infers for every property of the cone; the later ones reuse it."""
    ts = load("bench/models/provider-clients-3.nmr")
    names = [p.name for p in select(ts, None)]
    results = pdr(ts, names[:1], timeout=120, sampler=reachable_states)
    start = time.monotonic()
    for name in names[1:]:
        results += pdr(ts, [name], timeout=5, sampler=reachable_states)
    assert time.monotonic() - start < 20  # about 0.05 s each
    assert_proved(ts, results)
    assert all(r.stats.get("reused") for r in results[1:])


def test_the_mutant_is_refuted_not_proved() -> None:
    ts = load("bench/models/provider-clients-nowait-3.nmr")
    results = {r.property: r for r in pdr(ts, timeout=120, sampler=reachable_states)}
    assert results["unload_waits_for_bindings"].verdict == "violated"
    assert len(results["unload_waits_for_bindings"].trace) == 5  # a shortest run
    assert not any(r.verdict == UNKNOWN for r in results.values())
