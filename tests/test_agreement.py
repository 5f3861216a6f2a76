"""The engines agree on the whole catalogue (issue 4).

Every model under models/ goes through the explicit engine (exhaustive breadth-first search),
BMC and PDR, on its safety properties (invariants and reachable properties: the obligations,
the built-in properties and those of specs/). Liveness is the lasso engines' business, and hang
detection the explicit engine's alone.

* A violation (or witness) the explicit search finds is found by BMC, run to the length of the
  longest of them that is at most ``MAX_BMC_DEPTH`` steps long, with a run of the same,
  shortest, length; one longer than BMC's depth is not found by it (``holds up to bound``);
  PDR finds every one, with a shortest run.
* A property the explicit search proves (exhaustively) is proved by PDR, with a certificate
  that fresh solvers re-check here once more, except for the few listed in ``EXCEPTIONS``.
* Nowhere does an engine contradict another: BMC never refutes what explicit proves, PDR
  never refutes it either, and neither ever proves what explicit refutes.

What keeps this within the suite's budget (about 10 minutes of it before; the trade-offs):

* BMC's depth. Its cost grows steeply with the depth (about 2 s at 16 steps, 5 s at 20 and
  13 to 21 s at 24 on the progcons patterns), so BMC runs only as deep as the agreement
  needs: to the longest violation it must find (at most ``MAX_BMC_DEPTH``). A model whose
  violations are all longer than that (three of the catalogue: 36 to 44 steps), and one with
  none, gets the shallow check to ``BMC_DEPTH``. Neither is ever run deeper than the explicit
  search's depth: every reachable state is that close to the initial one, so a deeper bound
  adds no state, only a longer unrolling. What is given up: on those three models BMC is no
  longer asked to find nothing spurious at 11 to 24 steps (the models with violations of 17
  to 21 steps still run it that deep).
* PDR samples reachable states with the explicit engine's sampler, as ``nmrcheck check
  --engine pdr`` does (the reference breadth-first sampler, which the symbolic tests of the
  fast tier use, costs up to 40% more PDR time here). That sample only suggests candidate
  facts and shallow refutations: every proof is still re-checked by fresh solvers and every
  run replayed by the reference interpreter here, so a bug of the explicit engine cannot make
  PDR agree with it.
* The engines run on two models at once, in worker processes started by the first test of
  this file (tests/ahead.py; ``NMRCHECK_TEST_WORKERS=1`` runs them in the test process
  instead); each test then asserts on its model's answers, replays the runs and re-checks the
  certificates in the test process. The answers are those of one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from ahead import ahead, selected
from support import ROOT

from nmrcheck.engines.common.results import (
    HOLDS,
    HOLDS_BOUNDED,
    PROVED,
    UNKNOWN,
    UNREACHABLE,
    VIOLATED,
    WITNESSED,
    PropertyResult,
)
from nmrcheck.engines.explicit.checker import check
from nmrcheck.engines.explicit.liveness import without_liveness
from nmrcheck.engines.explicit.sample import reachable_states
from nmrcheck.engines.symbolic import bmc, pdr
from nmrcheck.engines.symbolic.certificate import check_all
from nmrcheck.ir.system import INVARIANT
from nmrcheck.ir.walkers import evaluate
from nmrcheck.nmr.load import load

pytestmark = pytest.mark.slow  # the fast tier (-m "not slow") leaves these out

ALL = sorted((ROOT / "models").rglob("*.nmr"))
# The D1-D5 designs and their mutants (models/designs) have 500 to 41,000 states and up to 170
# state variables: PDR proves few of their properties within a minute, so they have a test of
# their own, where an engine may leave a property open but never contradicts another.
DESIGNS = [p for p in ALL if p.parent.name == "designs"]
MODELS = [p for p in ALL if p not in DESIGNS]
DESIGN_BMC_DEPTH = 8
DESIGN_PDR_SECONDS = 4.0
FOUND = (VIOLATED, WITNESSED)
BMC_DEPTH = 10  # when BMC is asked to find nothing: a shallow agreement check
# BMC's depth at most: the deepest shortest violations of the catalogue (27 to 44 steps, in
# models/patterns/progcons-*.nmr, the docs' programming considerations and an eBPF bug) take
# BMC from 15 s to over a minute each on this 2-core machine, more than this test's share of
# the suite's time; up to this depth BMC must agree exactly, beyond it BMC must find nothing
# shorter.
MAX_BMC_DEPTH = 24
BMC_SECONDS = 120.0  # per model, far above what any needs (a few seconds on a busy machine)
PDR_SECONDS = 60.0  # per model

# (model, property) -> why PDR does not prove within PDR_SECONDS what explicit search proves.
# Keep it minimal: every entry is a known weakness, and the test still fails if PDR answers
# anything but the explicit verdict or unknown for it.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _load(path: Path):  # type: ignore[no-untyped-def]
    return without_liveness(load(str(path.relative_to(ROOT))))


def _replays(ts, trace) -> bool:  # type: ignore[no-untyped-def]
    if trace.states[0] != ts.initial_state():
        return False
    return all(
        a in ts.enabled(trace.states[j]) and ts.fire(a, trace.states[j]) == trace.states[j + 1]
        for j, a in enumerate(trace.actions)
    )


def _reaches_goal(ts, name: str, trace) -> bool:  # type: ignore[no-untyped-def]
    (p,) = [p for p in ts.properties if p.name == name]
    holds = bool(evaluate(p.expr, trace.states[-1]))
    return not holds if p.kind == INVARIANT else holds


def bmc_depth(explicit: dict[str, PropertyResult], diameter: int) -> int:
    """How deep BMC runs: to the longest violation the explicit search found within
    ``MAX_BMC_DEPTH`` steps; without one, ``BMC_DEPTH``, but never deeper than the explicit
    search went (``diameter``: every reachable state is that close to the initial state)."""
    within = [len(r.trace) for r in explicit.values()
              if r.verdict in FOUND and len(r.trace) <= MAX_BMC_DEPTH]
    return max(within) if within else min(BMC_DEPTH, diameter)


@dataclass
class Answers:
    """The engines' answers on one model, by property."""

    complete: bool
    explicit: dict[str, PropertyResult]
    depth: int  # BMC's
    bmc: dict[str, PropertyResult]
    pdr: dict[str, PropertyResult]


def engines(model: str, design: bool) -> Answers:
    """The explicit search, BMC and PDR on ``model`` (relative to the project root, the
    working directory); run in a worker process (tests/ahead.py)."""
    ts = without_liveness(load(model))
    result, _ = check(ts, hangs=False)
    explicit = {r.property: r for r in result.results}
    depth = DESIGN_BMC_DEPTH if design else bmc_depth(explicit, result.stats["depth"])
    by_bmc = {r.property: r for r in bmc(ts, depth=depth, timeout=BMC_SECONDS)}
    seconds = DESIGN_PDR_SECONDS if design else PDR_SECONDS
    by_pdr = {r.property: r for r in pdr(ts, timeout=seconds, sampler=reachable_states)}
    return Answers(bool(result.stats["complete"]), explicit, depth, by_bmc, by_pdr)


@pytest.fixture(scope="module")
def runs(request):  # type: ignore[no-untyped-def]
    """The engines' answers on the models of the selected tests, computed ahead."""
    with ahead(engines, {p: (str(p.relative_to(ROOT)), p in DESIGNS)
                         for p in selected(request)}) as work:
        yield work


@pytest.mark.parametrize("path", MODELS, ids=[str(p.relative_to(ROOT)) for p in MODELS])
def test_explicit_bmc_and_pdr_agree(path: Path, runs) -> None:  # type: ignore[no-untyped-def]
    model = str(path.relative_to(ROOT))
    ts = _load(path)
    run: Answers = runs.get(path)
    assert run.complete, f"{model}: the explicit search is not exhaustive"
    explicit = run.explicit
    assert set(explicit) == {p.name for p in ts.properties}
    assert all(r.verdict in (HOLDS, UNREACHABLE, *FOUND) for r in explicit.values())
    for name, e in explicit.items():
        if e.verdict in FOUND:
            assert _replays(ts, e.trace) and _reaches_goal(ts, name, e.trace), (model, name)

    _bmc_agrees(model, ts, explicit, run.depth, run.bmc)

    by_pdr = run.pdr
    assert set(by_pdr) == set(explicit)
    certified = []
    for name, r in by_pdr.items():
        e = explicit[name]
        if e.verdict in FOUND:
            assert r.verdict == e.verdict, (model, name, r.verdict, r.reason)
            assert len(r.trace) == len(e.trace), (model, name, len(r.trace), len(e.trace))
            assert _replays(ts, r.trace) and _reaches_goal(ts, name, r.trace), (model, name)
        elif (model, name) in EXCEPTIONS:
            assert r.verdict in (e.verdict, UNKNOWN), (model, name, r.verdict, r.reason)
        else:
            assert r.verdict == e.verdict and r.coverage == PROVED, (model, name, r.reason)
            assert "re-checked" in r.reason
            certified.append(r.certificate)
    # a fresh re-check (certificates sharing an invariant share its consecution check)
    props = {p.name: p for p in ts.properties}
    checks = check_all(ts, [(props[c.property], c) for c in certified])
    for cert, (ok, message) in zip(certified, checks, strict=True):
        assert ok, (model, cert.property, message)


def _bmc_agrees(model: str, ts, explicit: dict, depth: int, by_bmc: dict) -> None:  # type: ignore[no-untyped-def]
    """BMC to ``depth`` found exactly the explicit search's violations of that length or less,
    with runs of the same length, and nothing else."""
    assert set(by_bmc) == set(explicit)
    for name, r in by_bmc.items():
        e = explicit[name]
        if e.verdict in FOUND and len(e.trace) <= depth:
            assert r.verdict == e.verdict, (model, name, r.verdict, r.reason)
            assert len(r.trace) == len(e.trace), (model, name, len(r.trace), len(e.trace))
            assert _replays(ts, r.trace) and _reaches_goal(ts, name, r.trace), (model, name)
        elif e.verdict in (HOLDS, VIOLATED):  # nothing within the bound
            assert r.verdict == HOLDS_BOUNDED and r.bound == depth, (model, name, r.reason)
        else:  # not witnessed within the bound is all BMC can say
            assert r.verdict == UNKNOWN and r.bound == depth, (model, name, r.reason)


@pytest.mark.parametrize("path", DESIGNS, ids=[str(p.relative_to(ROOT)) for p in DESIGNS])
def test_the_engines_never_contradict_each_other_on_the_designs(path: Path, runs) -> None:  # type: ignore[no-untyped-def]
    model = str(path.relative_to(ROOT))
    ts = _load(path)
    run: Answers = runs.get(path)
    assert run.complete, f"{model}: the explicit search is not exhaustive"
    explicit = run.explicit
    assert run.depth == DESIGN_BMC_DEPTH
    _bmc_agrees(model, ts, explicit, DESIGN_BMC_DEPTH, run.bmc)
    by_pdr = run.pdr
    assert set(by_pdr) == set(explicit)
    for name, r in by_pdr.items():
        e = explicit[name]
        if r.verdict == UNKNOWN:
            continue
        assert r.verdict == e.verdict, (model, name, r.verdict, r.reason)
        if e.verdict in FOUND:
            assert _replays(ts, r.trace) and _reaches_goal(ts, name, r.trace), (model, name)
            # never shorter than the explicit search's shortest; longer only when PDR's time
            # ran out before BMC could rule a shorter one out (and PDR says so)
            assert len(r.trace) >= len(e.trace), (model, name, len(r.trace), len(e.trace))
            if "shorter one was not ruled out" not in r.reason:
                assert len(r.trace) == len(e.trace), (model, name, len(r.trace), r.reason)
        else:
            assert r.coverage == PROVED and "re-checked" in r.reason, (model, name, r.reason)


def test_bmc_depth_follows_the_violations_and_the_diameter() -> None:
    """The depth rule of this file: the longest violation within ``MAX_BMC_DEPTH``, else
    ``BMC_DEPTH``, never beyond the explicit search's depth."""

    def found(*lengths: int) -> dict[str, PropertyResult]:
        class Run:
            def __init__(self, n: int) -> None:
                self.n = n

            def __len__(self) -> int:
                return self.n

        out = {f"p{k}": PropertyResult(f"p{k}", VIOLATED, "explicit", trace=Run(n))
               for k, n in enumerate(lengths)}
        out["q"] = PropertyResult("q", HOLDS, "explicit")
        return out

    assert bmc_depth(found(3, 12), 30) == 12
    assert bmc_depth(found(20, 27), 30) == 20  # the 27-step one is beyond MAX_BMC_DEPTH
    assert bmc_depth(found(36, 39), 42) == BMC_DEPTH  # all beyond: the shallow check
    assert bmc_depth(found(), 30) == BMC_DEPTH
    assert bmc_depth(found(), 6) == 6  # nothing is further than 6 steps


def test_exceptions_name_catalogue_models() -> None:
    """Every exception names a model of the catalogue and one of its safety properties."""
    for model, name in EXCEPTIONS:
        path = ROOT / model
        assert path in MODELS, model
        assert name in {p.name for p in _load(path).properties}, (model, name)
