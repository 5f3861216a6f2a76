"""The jobs that run on a worker (a Ray task, or this process without ``--ray``).

Each is a module-level function of picklable arguments returning a picklable value. The
model arrives as its text and its specs' texts (a :class:`Source`), so a worker needs no access
to the model's files; it compiles them itself (a compiled system does not survive pickling:
its hash-consed expressions would lose their identity, and with it symmetry reduction). The
answer goes back whole for the driver to replay and render, exactly as a check in one process
does.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

from nmrcheck import control
from nmrcheck.engines import swarm
from nmrcheck.engines.explicit.search import HANG
from nmrcheck.engines.result import UNKNOWN, CheckResult, PropertyResult
from nmrcheck.engines.run import Plan
from nmrcheck.engines.run import run as run_engines
from nmrcheck.ir import TransitionSystem
from nmrcheck.lang.parser import read_source
from nmrcheck.nmr.load import bundled_specs, load_text


@dataclass(frozen=True)
class Source:
    """What a model is compiled from: its file name and text, its specs, its knobs."""

    file: str
    text: str
    specs: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()

    def load(self) -> TransitionSystem:
        """The checked system (InputError as for a file)."""
        return load_text(self.text, self.file, list(self.specs), dict(self.options))


def source_of(model: str, spec_paths: list[str], bundled: bool,
              options: dict[str, str], text: str | None = None) -> Source:
    """The :class:`Source` of model file ``model`` (or of ``text`` under its name)."""
    files = (bundled_specs() if bundled else []) + list(spec_paths)
    specs = tuple((f, read_source(f)) for f in files)
    body = read_source(model) if text is None else text
    return Source(model, body, specs, tuple(sorted(options.items())))


@dataclass
class Outcome:
    """A check's answer, the time each phase took, and what it told the user."""

    result: CheckResult
    phases: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def check_task(model: Source | TransitionSystem, plan: Plan, timeout: float | None,
               max_memory_mb: int | None, own_control: bool = True) -> Outcome:
    """``nmrcheck check`` of one model (one configuration): under a run control of its own
    (a worker), or under the caller's (``own_control`` False: this process, one job after
    the other, as ``check`` without ``--ray``)."""
    ctl = control.Control(timeout, max_memory_mb) if own_control else control.current()
    notices: list[str] = []
    plan = replace(plan, notice=notices.append, progress=None)
    phases = dict(ctl.phases)
    with ctl.installed() if own_control else contextlib.nullcontext():
        ts = model if isinstance(model, TransitionSystem) else None
        try:
            if ts is None:
                with ctl.abortable():
                    ts = model.load()  # type: ignore[union-attr]
            result = run_engines(ts, plan)
        except control.Stopped as stop:
            ts = ts if ts is not None else model.load()  # type: ignore[union-attr]
            result = stopped_result(ts, plan, stop.reason, stop.interrupted)
    spent = {k: v - phases.get(k, 0.0) for k, v in ctl.phases.items()}
    return Outcome(result, spent if own_control else {}, notices)


def stopped_result(ts: TransitionSystem, plan: Plan, reason: str,
                   interrupted: bool = False) -> CheckResult:
    """Every property of ``ts`` (those of ``plan``) unknown, for ``reason``."""
    names = [p.name for p in ts.properties] + ([HANG] if plan.hangs else [])
    if plan.properties:
        names = [n for n in names if n in plan.properties]
    results = [PropertyResult(n, UNKNOWN, "explicit", "partial", reason=reason) for n in names]
    return CheckResult(results, "explicit", {"complete": False, "interrupted": interrupted})


_TARGETS: dict[str, swarm.Target] = {}  # per worker process: systems compiled for runs


def swarm_task(source: Source, spec: swarm.RunSpec,
               deadline: float | None) -> swarm.RunResult:
    """One run of a swarm (the system compiled once per worker process and source)."""
    key = repr(hash(source))
    target = _TARGETS.get(key)
    if target is None:
        _TARGETS.clear()
        target = _TARGETS[key] = swarm.prepare(source.load())
    return swarm.run(target, spec, deadline)
