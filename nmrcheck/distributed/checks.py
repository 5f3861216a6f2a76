"""Many checks at once: one job per model (or per configuration of a sweep).

``nmrcheck check MODEL... --ray ADDRESS`` loads every model in the driver, as the check in
one process does before any search (a bad model is exit 2 before anything is printed), and
submits each model's check as a job as soon as it is loaded. The driver then takes the
answers in the order of the command line and replays and renders each exactly as the check
in one process does, so what is printed is the same byte for byte.

One job decides every property of its model: the explicit engine decides them all on one
exploration, and splitting them would explore the same states once per group.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from nmrcheck import control, inputs
from nmrcheck.distributed.cluster import Pool, WorkerLost, connect
from nmrcheck.distributed.tasks import Outcome, check_task, stopped_result
from nmrcheck.engines.common.results import CheckResult
from nmrcheck.engines.run import Plan
from nmrcheck.ir import TransitionSystem

LOST = "the Ray worker running this check died twice (the task was run again once)"

PlanFor = Callable[[TransitionSystem, str], Plan]


class Checks:
    """The checks of one command run as jobs of a pool; answers by name, in any order."""

    def __init__(self, pool: Pool, max_memory_mb: int | None) -> None:
        self.pool = pool
        self.max_memory_mb = max_memory_mb or control.default_memory_mb() // pool.workers
        self._tickets: dict[str, int] = {}
        self._plans: dict[str, tuple[TransitionSystem, Plan]] = {}

    def submit(self, name: str, ts: TransitionSystem, plan: Plan) -> None:
        """Start the check of ``ts`` (named ``name``) with ``plan``."""
        plan = replace(plan, notice=None, progress=None)
        self._plans[name] = (ts, plan)
        ctl = control.current()
        left = ctl.remaining()  # the same deadline for every task
        limit = None if left is None else (ctl.timeout, time.time() + left)
        self._tickets[name] = self.pool.submit(check_task, self.pool.put(ts), plan, limit,
                                               self.max_memory_mb, self.pool.remote)

    def preflight(self, args: argparse.Namespace, plan_for: PlanFor) -> dict[str, TransitionSystem]:
        """``inputs.preflight_check``, submitting each model's check once it is loaded."""
        inputs.check_outputs(args)
        loaded: dict[str, TransitionSystem] = {}
        for model in args.models:
            if model in loaded:
                continue
            one = argparse.Namespace(**{**vars(args), "models": [model]})
            ts = loaded[model] = inputs.load_models(one)[model]
            self.submit(model, ts, plan_for(ts, model))
        return dict(loaded)

    def result(self, name: str, notice: Callable[[str], None] | None = None) -> CheckResult:
        """The answer of check ``name`` (its phases added to the run control's, its notices
        given to ``notice``); a check whose worker died twice is unknown, with why."""
        ts, plan = self._plans[name]
        try:
            outcome: Outcome = self.pool.result(self._tickets[name])
        except WorkerLost:
            return stopped_result(ts, plan, LOST)
        ctl = control.current()
        for phase, seconds in outcome.phases.items():
            ctl.phases[phase] = ctl.phases.get(phase, 0.0) + seconds
        for text in outcome.notices:
            if notice is not None:
                notice(text)
        return outcome.result



@contextmanager
def checking(address: str | None, max_memory_mb: int | None) -> Iterator[Checks | None]:
    """The checks of ``nmrcheck check --ray ADDRESS`` (None without ``--ray``): connects
    first (an unreachable cluster is exit 2) and always closes."""
    if address is None:
        yield None
        return
    pool = connect(address)
    try:
        yield Checks(pool, max_memory_mb)
    finally:
        pool.close()
