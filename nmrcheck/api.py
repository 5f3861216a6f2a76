"""The Python API: load a design, check it, prove a property, render what came out.

    >>> import nmrcheck
    >>> design = nmrcheck.load("models/seeds/provider-unload-no-wait.nmr")
    >>> report = nmrcheck.check(design)
    >>> report.verdict, report.exit_code
    ('violated', 1)
    >>> v = report["DRG-2"]
    >>> v.verdict, len(v.trace.steps), v.trace.shortest
    ('violated', 3, True)
    >>> v.trace.steps[-1].text
    'NmrDeregisterProvider(Prov) -> STATUS_PENDING; return'

Everything the command line prints comes from here: ``nmrcheck check`` is :func:`load`,
:func:`check` and a renderer (:func:`to_text`, :func:`to_json`, :func:`to_itf`,
:func:`to_mermaid`, :func:`to_sarif`, :func:`to_html`). docs/api.md has more examples (run as
tests).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmrcheck.control import Control
from nmrcheck.engines.common.results import CheckResult, PropertyResult
from nmrcheck.engines.explicit.search import Limits
from nmrcheck.engines.run import ENGINES, Plan
from nmrcheck.engines.run import run as run_engines
from nmrcheck.errors import InputError
from nmrcheck.ir import TransitionSystem
from nmrcheck.ir.trace import Trace as RawTrace
from nmrcheck.traces.steps import describe

OVERALL = {0: "holds", 1: "violated", 3: "inconclusive"}


@dataclass(frozen=True)
class Design:
    """A compiled design: its transition system, where it came from, and its properties."""

    ts: TransitionSystem
    source: str  # the model's file name (or the name given to its text)

    @property
    def properties(self) -> list[str]:
        """The names of the properties a check decides (``no_hang`` besides)."""
        return [p.name for p in self.ts.properties]


@dataclass(frozen=True)
class Step:
    """One step of a trace, as a person reads it: who did what (NMR words), where in the
    model, what changed, and the whole state after it (variable name -> value)."""

    index: int
    actor: str
    routine: str | None
    text: str
    file: str | None
    line: int | None
    violates: str | None  # the obligation this step breaks, if any
    message: str
    changes: Mapping[str, tuple[str, str]]
    state: Mapping[str, str]


@dataclass(frozen=True)
class Trace:
    """A run of the design: its initial state and steps; ``loop_start`` (1-based step) for a
    lasso that repeats from there forever; ``shortest`` when no shorter run does the same."""

    initial: Mapping[str, str]
    steps: tuple[Step, ...]
    loop_start: int | None
    shortest: bool
    raw: RawTrace = field(repr=False)

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class Verdict:
    """The answer for one property: ``verdict`` (holds, violated, unknown, holds up to bound,
    witnessed, unreachable, proof failed), how far it reaches (``coverage``: exhaustive,
    proved, bounded, partial), the engine, why when unknown, and a trace when there is one."""

    property: str
    verdict: str
    coverage: str
    engine: str
    reason: str
    trace: Trace | None
    raw: PropertyResult = field(repr=False)


@dataclass(frozen=True)
class Report:
    """Every answer of one check of one design, and the search's figures."""

    design: Design
    verdicts: tuple[Verdict, ...]
    stats: Mapping[str, Any]
    raw: CheckResult = field(repr=False)

    @property
    def exit_code(self) -> int:
        """0 all hold, 1 a property is violated, 3 inconclusive (130: interrupted)."""
        return 130 if self.stats.get("interrupted") else self.raw.exit_code

    @property
    def verdict(self) -> str:
        """``holds``, ``violated`` or ``inconclusive``, for the whole design."""
        return OVERALL[self.raw.exit_code]

    def __getitem__(self, name: str) -> Verdict:
        for v in self.verdicts:
            if v.property == name:
                return v
        raise KeyError(name)

    def __iter__(self) -> Iterator[Verdict]:
        return iter(self.verdicts)


def load(
    model: str | Path,
    *,
    text: str | None = None,
    specs: Sequence[str] = (),
    bundled: bool = True,
    options: Mapping[str, str] | None = None,
) -> Design:
    """Compile a model file (or, with ``text``, model text named ``model``) with the bundled
    spec (unless ``bundled`` is False), the spec files ``specs`` and the knobs ``options``.
    Bad input raises :class:`~nmrcheck.errors.InputError` with positioned findings."""
    from nmrcheck.nmr.load import bundled_specs, load_text
    from nmrcheck.nmr.load import load as load_file

    if text is None:
        ts = load_file(str(model), list(specs), bundled=bundled, options=dict(options or {}))
    else:
        files = (bundled_specs() if bundled else []) + list(specs)
        pairs = [(f, Path(f).read_text(encoding="utf-8")) for f in files]
        ts = load_text(text, str(model), pairs, dict(options or {}))
    return Design(ts, str(model))


def check(
    design: Design,
    *,
    properties: Sequence[str] = (),
    engine: str = "auto",
    keep_going: bool = False,
    hangs: bool = True,
    symmetry: str = "auto",
    por: str = "off",
    depth: int = 40,
    max_states: int | None = None,
    timeout: float | None = None,
    max_memory_mb: int | None = None,
) -> Report:
    """Decide the properties of ``design`` (all of them, or those named) with ``engine``
    (``auto``, ``explicit``, ``bmc``, ``induction``, ``pdr``). By default the search stops
    at the first violation; ``keep_going`` decides every property. ``timeout`` and
    ``max_memory_mb`` bound the whole check (the properties left open are ``unknown``)."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (one of {', '.join(ENGINES)})")
    known = set(design.properties) | {"no_hang"}
    for name in properties:
        if name not in known:
            raise InputError(f"unknown property {name!r}")
    plan = Plan(
        engine=engine, limits=Limits(max_states), depth=depth,
        hangs=hangs and (not properties or "no_hang" in properties),
        properties=tuple(properties), symmetry=symmetry, por=por, keep_going=keep_going,
    )
    ctl = Control(timeout, max_memory_mb)
    with ctl.installed():
        result = run_engines(design.ts, plan)
    if properties:
        result = CheckResult([r for r in result.results if r.property in properties],
                             result.engine, result.stats)
    return report_of(design, result)


def prove(design: Design, prop: str, *, timeout: float | None = None) -> Verdict:
    """Prove (or refute) one safety property of ``design`` without a bound (PDR); a proof
    comes with its certificate (``verdict.raw.certificate``), re-checked by a fresh solver."""
    return check(design, properties=[prop], engine="pdr", timeout=timeout, hangs=False)[prop]


def report_of(design: Design, result: CheckResult) -> Report:
    """The :class:`Report` of an engine's answers."""
    verdicts = tuple(_verdict(design.ts, r) for r in result.results)
    return Report(design, verdicts, dict(result.stats), result)


def _verdict(ts: TransitionSystem, r: PropertyResult) -> Verdict:
    trace = _trace(ts, r) if r.trace is not None else None
    return Verdict(r.property, r.verdict, r.coverage, r.engine, r.reason, trace, r)


def _trace(ts: TransitionSystem, r: PropertyResult) -> Trace:
    raw = r.trace
    assert raw is not None

    def named(state: Sequence[int]) -> dict[str, str]:
        return {v.name: v.show(x) for v, x in zip(ts.vars, state)}

    steps = tuple(
        Step(s.index, s.actor, s.routine, s.text, s.file, s.line, s.fault, s.fault_msg,
             {n: (a, b) for n, a, b in s.changes}, named(raw.states[s.index]))
        for s in describe(ts, raw, prop=r.property)
    )
    loop = raw.loop_start
    return Trace(named(raw.states[0]), steps, loop, bool(r.stats.get("shortest", loop is None)),
                 raw)


# -- renderers ----------------------------------------------------------------------------------
def to_text(report: Report, argv: Sequence[str] = (), verbose: bool = False) -> str:
    """The text report, as ``nmrcheck check`` prints it (``argv``: the command line, for the
    reproduction commands)."""
    from nmrcheck.report import text

    return text.render(report.design.ts, report.raw, report.design.source, list(argv),
                       verbose=verbose)


def to_json(report: Report) -> str:
    """The JSON report of one design (docs/json.md), as one document."""
    from nmrcheck.report import json_report

    return json.dumps(json_report.to_dict(report.design.ts, report.raw, report.design.source),
                      indent=2) + "\n"


def to_itf(report: Report, prop: str) -> str:
    """The counterexample of ``prop`` as an Apalache ITF trace."""
    from nmrcheck.report import itf

    r = report[prop].raw
    if r.trace is None:
        raise ValueError(f"{prop} has no trace")
    return itf.render(report.design.ts, r, report.design.source, [], {})


def to_mermaid(report: Report) -> str:
    """The counterexamples as Mermaid sequence diagrams (Markdown)."""
    from nmrcheck.report import mermaid

    return mermaid.render(report.design.ts, report.raw, report.design.source)


def to_sarif(report: Report) -> str:
    """The violations as a SARIF 2.1.0 log."""
    from nmrcheck.report import sarif, text

    log = sarif.SarifLog()
    log.add(report.design.ts, report.raw, report.design.source,
            lambda m, p: text.reproduce([], m, p))
    return log.render()


def to_html(report: Report) -> str:
    """A self-contained HTML report."""
    from nmrcheck.report import html

    section = html.model_section(report.design.ts, report.raw, report.design.source, 0, [])
    return html.document([section], f"nmrcheck: {report.design.source}")


__all__ = [
    "Design",
    "Report",
    "Step",
    "Trace",
    "Verdict",
    "check",
    "load",
    "prove",
    "report_of",
    "to_html",
    "to_itf",
    "to_json",
    "to_mermaid",
    "to_sarif",
    "to_text",
]
