"""The symbolic engines on compiled NMR models (issue 4): proofs with re-checked certificates,
also for more driver instances than the explicit engine can explore, shortest refutations, and
BMC to depth 40."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from nmrcheck.engines.common.results import BOUNDED, HOLDS, HOLDS_BOUNDED, PROVED, VIOLATED
from nmrcheck.engines.explicit.sample import reachable_states
from nmrcheck.engines.symbolic import (
    bmc,
    check_certificate,
    pdr,
    read_certificate,
    write_certificate,
)
from nmrcheck.ir import expr as E
from nmrcheck.ir.system import INVARIANT, Property
from nmrcheck.nmr.load import load, load_text

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "models" / "seeds"
PROPERTY = "unload_waits_for_bindings"


def seed(name: str):  # type: ignore[no-untyped-def]
    return load(str(SEEDS / f"{name}.nmr"))


def provider_unload(clients: int):  # type: ignore[no-untyped-def]
    """models/seeds/provider-unload.nmr with ``clients`` client instances."""
    text = (SEEDS / "provider-unload.nmr").read_text()
    text = re.sub(r"driver ExampleClient\[\d+\]", f"driver ExampleClient[{clients}]", text)
    spec = ROOT / "specs" / "lifecycle.spec"
    return load_text(text, "provider-unload.nmr", [("specs/lifecycle.spec", spec.read_text())])


def test_pdr_proves_unload_waits_for_bindings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ts = seed("provider-unload")
    start = time.monotonic()
    (r,) = pdr(ts, [PROPERTY], timeout=120)
    took = time.monotonic() - start
    assert r.verdict == HOLDS and r.coverage == PROVED, r.reason
    assert took < 60  # about a second; Spacer alone gave up after 100 s
    assert "re-checked" in r.reason
    ok, message = check_certificate(ts, r.certificate)
    assert ok, message
    path = tmp_path / "proof.smt2"
    write_certificate(r.certificate, path)
    ok, message = check_certificate(seed("provider-unload"), read_certificate(path))
    assert ok, message


@pytest.mark.slow  # full suite only (PDR on this seed: test_pdr_proves_unload_waits_for_bindings)
def test_pdr_proves_every_safety_property_of_a_seed() -> None:
    ts = seed("provider-unload")
    results = pdr(ts, timeout=120)
    assert {r.property for r in results} == {
        p.name for p in ts.properties if p.kind in ("invariant", "reachable")
    }
    for r in results:
        assert r.verdict == HOLDS and r.coverage == PROVED, (r.property, r.reason)
    assert check_certificate(ts, results[-1].certificate)[0]


@pytest.mark.slow  # 1.5 to 3 s: full suite only
def test_pdr_with_more_clients_than_explicit_search_can_take() -> None:
    """Six clients (millions of states): the facts come from the two-client design. Sampled
    with the explicit engine's sampler, as ``nmrcheck check --engine pdr`` does (the reference
    one, the default of ``pdr``, spends 12 s trying to sample the six-client instance)."""
    ts = provider_unload(6)
    (r,) = pdr(ts, [PROPERTY], timeout=120, sampler=reachable_states)
    assert r.verdict == HOLDS and r.coverage == PROVED, r.reason
    assert "smaller instance" in r.reason
    ok, message = check_certificate(ts, r.certificate)
    assert ok, message


def test_pdr_refutes_with_shortest_runs() -> None:
    ts = seed("provider-unload-no-wait")
    r = {x.property: x for x in pdr(ts, [PROPERTY, "DRG-2"], timeout=120)}
    assert r[PROPERTY].verdict == VIOLATED and len(r[PROPERTY].trace) == 5
    assert r["DRG-2"].verdict == VIOLATED and len(r["DRG-2"].trace) == 3
    # the same lengths from BMC
    r = {x.property: x for x in bmc(ts, [PROPERTY, "DRG-2"], depth=8)}
    assert len(r[PROPERTY].trace) == 5 and len(r["DRG-2"].trace) == 3


def test_spacer_strategy_on_a_seed() -> None:
    (r,) = pdr(seed("provider-unload"), ["DRG-2"], strategy="spacer", timeout=120)
    assert r.verdict == HOLDS and r.stats["strategy"] == "spacer"


@pytest.mark.slow  # 2 s: full suite only
def test_bmc_depth_40() -> None:
    ts = seed("provider-unload")
    start = time.monotonic()
    results = bmc(ts, depth=40, timeout=120)
    assert time.monotonic() - start < 60  # about a second (it was about a minute)
    for r in results:
        assert (r.verdict, r.coverage, r.bound) == (HOLDS_BOUNDED, BOUNDED, 40), r.property
    assert results[0].stats["encoding"].startswith("finite domains")


def test_liveness_properties_are_left_to_the_lasso_engine() -> None:
    ts = seed("provider-unload-no-wait")
    ts.properties.append(Property("live", "eventually", E.TRUE))
    ts.properties.append(Property("safe", INVARIANT, E.TRUE))
    names = [r.property for r in bmc(ts, depth=2)]
    assert "live" not in names and "safe" in names


def test_text_report_says_how_each_proof_was_found() -> None:
    from tests.support import run_cli

    r = run_cli("check", "models/seeds/provider-unload.nmr", "--engine", "pdr",
                "--property", PROPERTY, "--no-bundled-specs", "--spec", "specs/lifecycle.spec")
    assert r.code == 0, r.out
    assert f"{PROPERTY}  holds (proved)" in r.out
    line = next(s for s in r.out.splitlines() if s.strip().startswith("proofs:"))
    counts = re.findall(r"(\d+) by ", line)
    assert counts and sum(map(int, counts)) == 1, line
