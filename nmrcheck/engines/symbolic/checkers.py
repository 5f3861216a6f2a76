"""The symbolic engines behind the checker interface (:mod:`nmrcheck.engines.common.checker`):
BMC, k-induction and PDR decide the safety properties, lasso search the liveness ones."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from nmrcheck import control
from nmrcheck.engines.common.checker import (
    Options,
    liveness_properties,
    restricted,
    without_liveness,
)
from nmrcheck.engines.common.results import PARTIAL, UNKNOWN, CheckResult, PropertyResult
from nmrcheck.engines.common.sample import Sampler
from nmrcheck.ir import TransitionSystem

from .bmc import bmc
from .induction import k_induction
from .lasso import lasso_bmc_all
from .pdr import pdr

Solve = Callable[[TransitionSystem, list[str], float | None], list[PropertyResult]]


def _timeout(options: Options) -> float | None:
    """The seconds left: the tighter of ``--timeout`` and the run control's deadline."""
    left = control.current().remaining()
    mine = options.limits.timeout
    if left is None:
        return mine
    return left if mine is None else min(mine, left)


class _Safety:
    """An engine of the safety properties (the liveness ones are :class:`Lasso`'s)."""

    name: ClassVar[str]

    def solve(self, ts: TransitionSystem, names: list[str], options: Options,
              timeout: float | None) -> list[PropertyResult]:
        raise NotImplementedError

    def check(self, ts: TransitionSystem, options: Options) -> CheckResult:
        ts = without_liveness(restricted(ts, options))
        start = time.monotonic()
        ctl = control.current()
        names = options.wanted(ts)
        with ctl.timed("proof"):
            results = self.solve(ts, names, options, _timeout(options)) if names else []
        stats: dict[str, object] = {
            "seconds": round(time.monotonic() - start, 3),
            "depth": options.depth if self.name != "pdr" else None,
            "complete": False,
            "hangs": "not checked: hang detection needs the explicit engine",
        }
        if ctl.interrupted:
            stats["interrupted"] = True
        for r in results:
            if r.verdict == UNKNOWN and not r.coverage:
                r.coverage = PARTIAL
        return CheckResult(results, self.name, stats)


class Bmc(_Safety):
    """Bounded model checking up to ``options.depth`` steps: shortest violations."""

    name: ClassVar[str] = "bmc"

    def solve(self, ts, names, options, timeout):
        return bmc(ts, names, depth=options.depth, timeout=timeout)


class Induction(_Safety):
    """k-induction up to ``k = options.depth``."""

    name: ClassVar[str] = "induction"

    def solve(self, ts, names, options, timeout):
        return k_induction(ts, names, max_k=options.depth, timeout=timeout)


class Pdr(_Safety):
    """Unbounded proofs with certificates (invariant inference, then Spacer); ``sampler``
    gives reachable states of smaller instances to the inference."""

    name: ClassVar[str] = "pdr"

    def __init__(self, sampler: Sampler | None = None, shortest: bool = True) -> None:
        self.sampler, self.shortest = sampler, shortest

    def solve(self, ts, names, options, timeout):
        return pdr(ts, names, timeout=timeout, shortest=self.shortest, sampler=self.sampler)


class Lasso:
    """Bounded search for fair lassos (up to ``options.depth`` steps): the liveness
    properties, violated with a shortest lasso or unknown."""

    name: ClassVar[str] = "lasso"

    def check(self, ts: TransitionSystem, options: Options) -> CheckResult:
        props = liveness_properties(ts, options.properties)
        if not props:
            return CheckResult([], self.name, {})
        results = lasso_bmc_all(ts, props, options.depth, _timeout(options))
        stats = {
            "properties": len(props),
            "fairness_groups": len(ts.fairness),
            "engine": "lasso bmc",
            "depth": options.depth,
        }
        return CheckResult(results, self.name, stats)
