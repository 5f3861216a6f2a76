"""Many checks at once: one job per model (or per configuration of a sweep).

``nmrcheck check MODEL... --ray ADDRESS`` reads every model in the driver and sends the text
to long-lived workers, one per CPU (:mod:`.lanes`), which compile it, send the systems back
and check them. No report is printed before every model has compiled (a bad model is exit 2
before anything is printed, as in one process). The driver then takes the answers in the
order of the command line and replays and renders each exactly as the check in one process
does, so what is printed is the same byte for byte.

A sweep's configurations are compiled in the driver and each sent as a Ray task
(:class:`CompiledChecks`). One job decides every property of its model: the explicit engine
decides them all on one exploration, and splitting them would explore the same states once
per group.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from nmrcheck import control, inputs
from nmrcheck.distributed.cluster import Pool, RayPool, WorkerLost, connect
from nmrcheck.distributed.lanes import Lanes
from nmrcheck.distributed.tasks import Outcome, check_task, stopped_result
from nmrcheck.engines.common.results import CheckResult
from nmrcheck.engines.run import Plan
from nmrcheck.errors import Finding, InputError
from nmrcheck.ir import TransitionSystem
from nmrcheck.lang.parser import read_source
from nmrcheck.nmr.load import bundled_specs

LOST = "the Ray worker running this check died twice (the task was run again once)"

PlanFor = Callable[[TransitionSystem, str], Plan]


class CompiledChecks:
    """Checks of systems compiled in the driver, each a job of a pool (a sweep's
    configurations); answers by name, in any order."""

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

    def result(self, name: str, notice: Callable[[str], None] | None = None) -> CheckResult:
        """The answer of check ``name`` (its phases added to the run control's, its notices
        given to ``notice``); a check whose worker died twice is unknown, with why."""
        ts, plan = self._plans[name]
        try:
            outcome: Outcome = self.pool.result(self._tickets[name])
        except WorkerLost:
            return stopped_result(ts, plan, LOST)
        return _taken(outcome, notice)


class Checks:
    """The checks of ``nmrcheck check --ray``: models compiled and checked by the workers of
    a Ray pool; answers by model, in any order."""

    def __init__(self, pool: RayPool, max_memory_mb: int | None) -> None:
        self.pool = pool
        self.max_memory_mb = max_memory_mb or control.default_memory_mb() // pool.workers
        self.lanes: Lanes | None = None
        self._index: dict[str, int] = {}
        self._plans: dict[str, tuple[TransitionSystem, Plan]] = {}

    def preflight(self, args: argparse.Namespace, plan_for: PlanFor) -> dict[str, TransitionSystem]:
        """``inputs.preflight_check`` on the workers: every model compiled (InputError for
        the first bad one in command-line order, as in one process), each check started
        once its model is compiled and a worker is free."""
        inputs.check_outputs(args)
        options = inputs.knob_options(args)
        models = list(dict.fromkeys(args.models))
        texts = {m: _read(m) for m in models}
        specs = _specs(args, texts[models[0]])
        readable = [m for m in models if isinstance(texts[m], str)]
        self._index = {m: k for k, m in enumerate(readable)}
        self.lanes = Lanes(self.pool, specs, options, self.max_memory_mb)
        self.lanes.load([(m, texts[m]) for m in readable],
                        lambda k, ts: self._plan(readable[k], ts, plan_for))
        systems = self.lanes.loaded()
        loaded: dict[str, TransitionSystem] = {}
        for m in models:
            got = systems[self._index[m]] if m in self._index else texts[m]
            if not isinstance(got, TransitionSystem):
                raise InputError(list(got))
            loaded[m] = got
        return loaded

    def _plan(self, model: str, ts: TransitionSystem, plan_for: PlanFor) -> Plan:
        """The plan of ``model``'s check, kept for its answer."""
        plan = replace(plan_for(ts, model), notice=None, progress=None)
        self._plans[model] = (ts, plan)
        return plan

    def result(self, name: str, notice: Callable[[str], None] | None = None) -> CheckResult:
        """The answer of model ``name``'s check (its phases added to the run control's, its
        notices given to ``notice``); a check whose worker died twice is unknown, with why."""
        assert self.lanes is not None
        ts, plan = self._plans[name]
        try:
            outcome = self.lanes.answer(self._index[name])
        except WorkerLost:
            return stopped_result(ts, plan, LOST)
        return _taken(outcome, notice)

    def close(self) -> None:
        """Leave the cluster (Ray ends the workers of a job whose driver left) or stop it."""
        self.pool.close()


def _read(model: str) -> str | tuple[Finding, ...]:
    """The text of ``model``, or why it cannot be read."""
    try:
        return read_source(model)
    except InputError as exc:
        return tuple(exc.findings)


def _specs(args: argparse.Namespace, first: str | tuple[Finding, ...]) -> list[tuple[str, str]]:
    """The (file, text) of every spec of the run. As in one process, the first model's own
    read error comes before a spec's."""
    if not isinstance(first, str):
        raise InputError(list(first))
    files = (bundled_specs() if not args.no_bundled_specs else []) + list(args.spec)
    return [(f, read_source(f)) for f in files]


def _taken(outcome: Outcome, notice: Callable[[str], None] | None) -> CheckResult:
    """The result of ``outcome``; its phases added to the run control's, its notices given
    to ``notice``."""
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
    assert isinstance(pool, RayPool)
    checks = Checks(pool, max_memory_mb)
    try:
        yield checks
    finally:
        checks.close()
