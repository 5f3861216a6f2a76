"""``check --ray``'s workers: one long-lived Ray actor (:class:`CheckWorker`) per CPU, and
the driver itself.

Ray's fixed cost, not the checks, bounded the catalogue's speed-up when every model was
compiled in the driver and sent as one task: the driver compiled every model alone (a fifth
of the one-process run), pickled each system out and in, and sat idle while Ray started the
workers' processes. Here the driver sends text:

* the models with the shortest text, a share of 1/(workers + 1) of all the text, are the
  driver's: it compiles and checks them itself, one at a time, whenever it has nothing to
  take from the workers (while their processes start, and between their answers);
* the other models are split between the workers, longest text first, each to the worker
  with the least text so far, and each worker compiles its share in :data:`CHUNK`-model
  calls, keeping every system for its check and sending it to the driver (which renders the
  reports);
* each worker runs one check at a time, the next one sent when the last one answers: its own
  model with the most actions times variables (a cheap estimate of the search, ranked 0.9
  with the check times of the catalogue), else the costliest one left of another worker or
  of the driver, which it compiles again (a few hundredths of a second against an idle core).

A worker process that dies is restarted by Ray and its call run once more (the model
compiled again from its text); a check whose worker died twice is :class:`WorkerLost`.
Ctrl-C kills every worker at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from nmrcheck import control
from nmrcheck.distributed.cluster import GRACE_SECONDS, WAIT_SECONDS, RayPool, WorkerLost
from nmrcheck.distributed.tasks import CheckWorker, Loaded, Outcome, Source, check_task
from nmrcheck.engines.run import Plan
from nmrcheck.ir import TransitionSystem

CHUNK = 4  # models compiled per call: the driver takes the first systems early
LOCAL = -1  # the driver's lane

PlanFor = Callable[[int, TransitionSystem], Plan]


@dataclass
class _Job:
    """One model's check: where it was compiled, what it costs, and its answer."""

    source: Source
    home: int  # the worker that compiled it (LOCAL: the driver)
    plan: Plan | None = None  # set when its system reached the driver
    cost: int = 0
    answer: Any = None
    done: bool = False


@dataclass
class _Lane:
    """One worker and what it runs: its compile calls and its one check."""

    actor: Any
    loading: list[tuple[Any, list[int]]] = field(default_factory=list)
    running: tuple[Any, int] | None = None


def driver_share(sizes: list[int], workers: int) -> list[int]:
    """Indices of the smallest ``sizes`` (ties by index) that sum to at most 1/(workers + 1)
    of them all: the driver's models."""
    budget, total, out = sum(sizes) / (workers + 1), 0, []
    for i in sorted(range(len(sizes)), key=lambda i: (sizes[i], i)):
        if total + sizes[i] > budget:
            break
        total += sizes[i]
        out.append(i)
    return sorted(out)


def partition(sizes: list[int], workers: int, skip: list[int] = ()) -> list[list[int]]:
    """Indices of ``sizes`` (but ``skip``) split in ``workers`` shares: the largest first, each
    to the share with the least so far (ties to the lowest share); each share largest first."""
    shares: list[list[int]] = [[] for _ in range(workers)]
    totals = [0] * workers
    left = set(range(len(sizes))) - set(skip)
    for i in sorted(left, key=lambda i: (-sizes[i], i)):
        k = totals.index(min(totals))
        shares[k].append(i)
        totals[k] += sizes[i]
    return shares


def cost(ts: TransitionSystem) -> int:
    """A cheap estimate of a check's search: actions times variables."""
    return len(ts.actions) * len(ts.vars)


class Lanes:
    """Compile and check ``sources`` on one actor per CPU of the pool's cluster; answers by
    index, in any order."""

    def __init__(self, pool: RayPool, specs: list[tuple[str, str]],
                 options: dict[str, str], max_memory_mb: int) -> None:
        self.pool, self.ray = pool, pool.ray
        self.max_memory_mb = max_memory_mb
        self._worker = CheckWorker(specs, options)  # the driver's own compiles
        self.local: list[int] = []
        self._plan_for: PlanFor | None = None
        remote = self.ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=1)(CheckWorker)
        self.lanes = [_Lane(remote.remote(specs, options))
                      for _ in range(max(1, pool.workers - 1))]
        self.jobs: list[_Job] = []
        self.systems: dict[int, Loaded] = {}

    def load(self, sources: list[Source], plan_for: PlanFor) -> None:
        """Send ``sources`` to the workers to compile (answers by :meth:`loaded`); each
        system's check is started with ``plan_for(index, system)`` once a worker is free."""
        self._plan_for = plan_for
        sizes = [len(text) for _, text in sources]
        self.local = driver_share(sizes, len(self.lanes))
        shares = partition(sizes, len(self.lanes), self.local)
        self.jobs = [_Job(s, LOCAL) for s in sources]
        for k, share in enumerate(shares):
            for i in share:
                self.jobs[i].home = k
            for at in range(0, len(share), CHUNK):
                chunk = share[at:at + CHUNK]
                ref = self.lanes[k].actor.load.remote([sources[i] for i in chunk])
                self.lanes[k].loading.append((ref, chunk))

    def loaded(self) -> dict[int, Loaded]:
        """Every source compiled (a system, or its findings), by index."""
        ctl = control.current()
        while any(lane.loading for lane in self.lanes) or len(self.systems) < len(self.jobs):
            ctl.check()
            self._step()
        return self.systems

    def answer(self, index: int) -> Outcome:
        """The outcome of check ``index`` (raises what it raised; :class:`WorkerLost`)."""
        job = self.jobs[index]
        ctl = control.current()
        stopped_at = None
        while not job.done:
            self._step()
            if not job.done and ctl.poll():
                stopped_at = stopped_at or time.monotonic()
                if ctl.interrupted or time.monotonic() - stopped_at > GRACE_SECONDS:
                    self.kill()
                    raise control.Stopped(ctl.reason, ctl.interrupted)
        if isinstance(job.answer, BaseException):
            raise job.answer
        return job.answer

    def kill(self) -> None:
        """End every worker now (their calls are lost)."""
        for lane in self.lanes:
            try:
                self.ray.kill(lane.actor, no_restart=True)
            except Exception:  # noqa: BLE001 (an actor already gone)
                pass

    # -- scheduling ----------------------------------------------------------------------
    def _step(self) -> None:
        """Take what the workers answered and give free workers a check; if none answered,
        do one thing of the driver's own, or wait a little."""
        refs = [ref for lane in self.lanes for ref, _ in lane.loading[:1]]
        refs += [lane.running[0] for lane in self.lanes if lane.running]
        own = self._own_work()
        ready = []
        if refs:
            ready, _ = self.ray.wait(refs, num_returns=1,
                                     timeout=0 if own is not None else WAIT_SECONDS)
            for ref in ready:
                self._take(ref)
        for k, lane in enumerate(self.lanes):
            if lane.running is None:
                self._dispatch(k)
        if ready or own is None:
            return
        if own in self.systems:
            self._check_here(own)
        else:
            self._compiled([own], [self._here(own)])

    def _own_work(self) -> int | None:
        """The driver's next model to compile, else to check: its cheapest, else the
        cheapest left of a worker (the driver has every system), or None. Only cheap checks,
        so that a worker that answers meanwhile waits little for its next one."""
        for i in self.local:
            if i not in self.systems:
                return i
        ready = [i for i in range(len(self.jobs)) if self._ready(i)]
        mine = [i for i in ready if self.jobs[i].home == LOCAL] or ready
        return min(mine, key=lambda i: (self.jobs[i].cost, i), default=None)

    def _check_here(self, index: int) -> None:
        """Check model ``index`` in the driver, under its run control (its phases kept
        apart, for its own summary line)."""
        job, ctl = self.jobs[index], control.current()
        phases, progress = ctl.phases, ctl.progress
        ctl.phases, ctl.progress = {}, None
        try:
            outcome = check_task(self.systems[index], replace(job.plan, cores=1), None, None,
                                 own_control=False)  # one core: the workers have the others
            outcome.phases = ctl.phases
        finally:
            ctl.phases, ctl.progress = phases, progress
        job.answer, job.done = outcome, True

    def _take(self, ref: Any) -> None:
        for lane in self.lanes:
            if lane.loading and lane.loading[0][0] == ref:
                _, chunk = lane.loading.pop(0)
                self._compiled(chunk, self._get(ref))
            elif lane.running and lane.running[0] == ref:
                job = self.jobs[lane.running[1]]
                lane.running = None
                try:
                    job.answer = self._get(ref)
                except Exception as exc:  # noqa: BLE001 (raised by answer())
                    job.answer = exc
                job.done = True

    def _compiled(self, chunk: list[int], answers: list[Loaded] | WorkerLost) -> None:
        """Record a compile call's systems; a chunk whose worker died twice is compiled here."""
        for n, i in enumerate(chunk):
            got = answers[n] if isinstance(answers, list) else self._here(i)
            self.systems[i] = got
            if isinstance(got, TransitionSystem) and self._plan_for is not None:
                self.jobs[i].plan, self.jobs[i].cost = self._plan_for(i, got), cost(got)
            else:
                self.jobs[i].done = True  # not compiled: never checked

    def _here(self, index: int) -> Loaded:
        return self._worker.compile(*self.jobs[index].source)

    def _dispatch(self, k: int) -> None:
        """Start on worker ``k`` its own costliest ready check, else another's."""
        ready = [i for i in range(len(self.jobs)) if self._ready(i)]
        if not ready:
            return
        own = [i for i in ready if self.jobs[i].home == k] or ready
        i = max(own, key=lambda i: (self.jobs[i].cost, -i))
        job, lane = self.jobs[i], self.lanes[k]
        ctl = control.current()
        left = ctl.remaining()  # the same deadline for every check
        limit = None if left is None else (ctl.timeout, time.time() + left)
        lane.running = (lane.actor.check.remote(job.source, job.plan, limit,
                                                self.max_memory_mb), i)

    def _ready(self, index: int) -> bool:
        """Compiled, not checked and not being checked."""
        job = self.jobs[index]
        return (job.plan is not None and not job.done
                and not any(lane.running and lane.running[1] == index for lane in self.lanes))

    def _get(self, ref: Any) -> Any:
        """The value of ``ref``: WorkerLost when its worker died twice."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            raise exc.as_instanceof_cause() from None
        except ray.exceptions.RayActorError as exc:
            return WorkerLost(type(exc).__name__)
