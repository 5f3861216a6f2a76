"""The symbolic engines honour the run control (nmrcheck/control.py): a deadline or a Ctrl-C
stops every engine within about a second, even inside a Z3 call, and every property not decided
by then is unknown with the control's reason.

The models are bench/models/provider-clients-N.nmr: left alone, each engine below runs for much
longer than the limits here (minutes for BMC at depth 200, k-induction up to k = 60, Spacer
alone and the lasso search at depth 60 on N = 3; at least 4 s for the default PDR on N = 6), so
a test fails when an engine ignores the stop. The margins are generous for a loaded machine: an
engine stops about 0.1 to 0.2 s after the limit here.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from functools import cache

import pytest

from nmrcheck.control import INTERRUPTED, Control
from nmrcheck.engines.common.results import UNKNOWN, PropertyResult
from nmrcheck.engines.explicit.liveness import liveness_properties
from nmrcheck.engines.symbolic import bmc, k_induction, pdr
from nmrcheck.engines.symbolic.lasso import lasso_bmc_all
from nmrcheck.ir.system import TransitionSystem
from nmrcheck.nmr.load import load

pytestmark = pytest.mark.slow  # the fast tier (-m "not slow") leaves these out

LIMIT = 2.0  # seconds before the stop
MARGIN = 1.5  # seconds the engine may take to stop (about 0.2 here)


@cache
def model(n: int) -> TransitionSystem:
    return load(f"bench/models/provider-clients-{n}.nmr")


ENGINES: dict[str, Callable[[], list[PropertyResult]]] = {
    "bmc": lambda: bmc(model(3), depth=200),
    "k-induction": lambda: k_induction(model(3), max_k=60),
    "pdr": lambda: pdr(model(6)),
    "spacer": lambda: pdr(model(3), strategy="spacer"),
    "lasso": lambda: lasso_bmc_all(model(3), liveness_properties(model(3), ()), depth=60),
}


def stopped_in_time(
    engine: str, stop: Callable[[Control], None] | None
) -> tuple[list[PropertyResult], float, Control]:
    """Run ``engine`` under a fresh installed control: with a deadline, or (``stop``) one
    that ``stop`` arms to be stopped otherwise."""
    run = ENGINES[engine]
    for n in (3, 6):
        model(n)  # loaded before the clock starts
    ctl = Control(timeout=LIMIT) if stop is None else Control()
    start = time.monotonic()
    with ctl.installed():
        if stop is not None:
            stop(ctl)
        results = run()
    return results, time.monotonic() - start, ctl


def assert_all_unknown(results: list[PropertyResult], reason: str) -> None:
    assert results
    for r in results:
        assert r.verdict == UNKNOWN and r.reason == reason, (r.property, r.verdict, r.reason)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_deadline_stops_the_engine(engine: str) -> None:
    results, took, ctl = stopped_in_time(engine, None)
    assert took < LIMIT + MARGIN, took
    assert_all_unknown(results, f"time limit {LIMIT:g} s reached")
    assert ctl.reason == f"time limit {LIMIT:g} s reached"


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_ctrl_c_stops_the_engine(engine: str) -> None:
    def ctrl_c(ctl: Control) -> None:
        threading.Timer(LIMIT, os.kill, (os.getpid(), signal.SIGINT)).start()

    results, took, ctl = stopped_in_time(engine, ctrl_c)
    assert took < LIMIT + MARGIN, took
    assert_all_unknown(results, INTERRUPTED)
    assert ctl.interrupted


def test_a_stopped_run_keeps_what_it_decided() -> None:
    """The mutant without the wait: BMC finds its 6 violations (within 8 steps) in well under
    a second, then deepens until the deadline; those stay violated, the rest is unknown."""
    ts = load("bench/models/provider-clients-nowait-3.nmr")
    ctl = Control(timeout=LIMIT + 1)
    with ctl.installed():
        results = bmc(ts, depth=200)
    violated = [r for r in results if r.verdict == "violated"]
    assert len(violated) == 6 and all(len(r.trace) <= 8 for r in violated)
    assert_all_unknown([r for r in results if r.verdict != "violated"], ctl.reason)


def test_an_engine_timeout_never_outlasts_the_control() -> None:
    ctl = Control(timeout=LIMIT)
    start = time.monotonic()
    with ctl.installed():
        results = bmc(model(3), depth=200, timeout=600)
    assert time.monotonic() - start < LIMIT + MARGIN
    assert_all_unknown(results, f"time limit {LIMIT:g} s reached")


@pytest.mark.parametrize("engine", ["bmc", "pdr"])
def test_the_memory_bound_stops_the_engine(engine: str) -> None:
    run = {"bmc": lambda ts: bmc(ts, depth=200), "pdr": pdr}[engine]
    ts = model(3)
    ctl = Control(max_memory_mb=1)  # already over it
    start = time.monotonic()
    with ctl.installed():
        results = run(ts)
    assert time.monotonic() - start < MARGIN
    assert_all_unknown(results, "memory limit 1 MiB reached")
