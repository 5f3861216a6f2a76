"""Limits: a timeout or a solver ``unknown`` is UNKNOWN, never HOLDS."""

from __future__ import annotations

import pytest
import z3
from symbolic_models import counter, peterson, wide

from nmrcheck.engines.common.results import HOLDS, HOLDS_BOUNDED, PARTIAL, UNKNOWN, VIOLATED
from nmrcheck.engines.symbolic import bmc, k_induction, pdr


@pytest.mark.parametrize("engine", [bmc, k_induction, pdr])
def test_no_time_at_all(engine) -> None:  # type: ignore[no-untyped-def]
    for r in engine(peterson(buggy=False), timeout=0):
        assert r.verdict == UNKNOWN and r.coverage == PARTIAL
        assert "timeout" in r.reason


def test_solver_unknown_in_bmc_and_k_induction(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(z3.Solver, "check", lambda self, *a: z3.unknown)
    monkeypatch.setattr(z3.Solver, "reason_unknown", lambda self: "mocked give-up")
    for r in bmc(counter(5)) + k_induction(counter(5)):
        assert r.verdict == UNKNOWN and "mocked give-up" in r.reason


def test_spacer_unknown(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(z3.Fixedpoint, "query", lambda self, *q: z3.unknown)
    monkeypatch.setattr(z3.Fixedpoint, "reason_unknown", lambda self: "mocked incomplete")
    (r,) = pdr(counter(5), ["bounded"], strategy="spacer")
    assert r.verdict == UNKNOWN and r.reason == "Spacer gave up: mocked incomplete"
    assert r.certificate is None


def test_spacer_cancelled(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def cancel(self, *q):  # type: ignore[no-untyped-def]
        raise z3.Z3Exception(b"canceled")

    monkeypatch.setattr(z3.Fixedpoint, "query", cancel)
    (r,) = pdr(counter(5), ["bounded"], strategy="spacer")
    assert r.verdict == UNKNOWN and r.reason == "Spacer gave up: canceled"


@pytest.mark.slow  # 3 to 4 s of Spacer runs: full suite only
def test_real_timeouts_on_a_hard_system() -> None:
    """wide(100): its violation needs 34 steps of arithmetic the solvers find hard."""
    ts = wide(100)
    for r in bmc(ts, depth=60, timeout=0.3) + k_induction(ts, max_k=60, timeout=0.3):
        assert r.verdict == UNKNOWN and r.verdict not in (HOLDS, HOLDS_BOUNDED)
        assert r.bound is not None and r.bound < 34
    (r,) = pdr(ts, timeout=0.3, strategy="spacer")
    assert r.verdict == UNKNOWN and "canceled" in r.reason
    # Spacer alone finds the violation; its run is returned as is when not minimising
    (r,) = pdr(ts, shortest=False, timeout=30, strategy="spacer")
    assert r.verdict == VIOLATED and len(r.trace) >= 34
    # the default strategy samples the reachable states first, and its path is a shortest run
    (r,) = pdr(ts, timeout=30)
    assert r.verdict == VIOLATED and len(r.trace) == 34
