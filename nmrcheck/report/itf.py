"""Render a trace in the Informal Trace Format of Apalache (ADR-015), ``*.itf.json``.

Every state lists every variable of the model (bookkeeping included, so a replay can compare
whole states): booleans as JSON booleans, enum values as their label strings (a label that two
values share gets `` @VALUE``), integers as JSON numbers (``{"#bigint": "..."}`` beyond
2**53). The trace ``#meta`` names the model and the violated property; each state's ``#meta``
names the action that led to it, so ITF viewers show the steps and ``nmrcheck replay`` can
re-execute them.
"""

from __future__ import annotations

import json
from typing import Any

from nmrcheck import __version__
from nmrcheck.engines.common.results import HANG, PropertyResult
from nmrcheck.ir import TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.system import Var
from nmrcheck.report.describe import defined_at, hang_message, meaning
from nmrcheck.traces.load import itf_labels
from nmrcheck.traces.steps import describe

FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
MAX_JSON_INT = 2**53 - 1


def value(v: Var, x: int) -> Any:
    """The ITF expression of value ``x`` of variable ``v``."""
    if v.type == E.BOOL:
        return bool(x)
    labels = itf_labels(v)
    if labels is not None and v.lo <= x <= v.hi:
        return labels[x - v.lo]
    if abs(x) > MAX_JSON_INT:
        return {"#bigint": str(x)}
    return x


def var_type(v: Var) -> str:
    """The variable's type in Apalache's notation (``Bool``, ``Int``, ``Str`` for enums)."""
    if v.type == E.BOOL:
        return "Bool"
    return "Str" if v.labels is not None else "Int"


def to_dict(
    ts: TransitionSystem,
    r: PropertyResult,
    model: str,
    specs: list[str] | None = None,
    options: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ITF object of the trace of ``r`` (which must have one); ``specs`` and ``options``
    (``--spec`` files and ``--option`` knobs of the run) let a replay load the same model."""
    trace = r.trace
    props = {p.name: p for p in ts.properties}
    p = props.get(r.property)
    steps = describe(ts, trace)
    prop: dict[str, Any] = {
        "name": r.property,
        "kind": p.kind if p is not None else "hang",
        "verdict": r.verdict,
        "defined_at": defined_at(p, r.property),
        "description": meaning(p, r.property),
    }
    if r.property == HANG:
        prop["blocked"] = hang_message(ts, r)
        if "blocked_from" in r.stats:
            prop["blocked_from"] = r.stats["blocked_from"]
    meta: dict[str, Any] = {
        "format": "ITF",
        "format-description": FORMAT_DESCRIPTION,
        "source": model,
        "description": f"nmrcheck {__version__}: {r.verdict} {r.property} in {model}, "
        f"{len(trace)} steps",
        "tool": f"nmrcheck {__version__}",
        "specs": list(specs or []),
        "options": dict(sorted((options or {}).items())),
        "property": prop,
        "varTypes": {v.name: var_type(v) for v in ts.vars},
    }
    states = []
    for i, s in enumerate(trace.states):
        smeta: dict[str, Any] = {"index": i}
        if i > 0:
            a = trace.actions[i - 1]
            step = steps[i - 1]
            smeta["action"] = ts.actions[a].label
            smeta["action_index"] = a
            smeta["actor"] = step.actor
            smeta["step"] = step.text
            if step.file is not None:
                smeta["file"] = step.file
                smeta["line"] = step.line
            if step.fault:
                smeta["violates"] = step.fault
                smeta["message"] = step.fault_msg
        state: dict[str, Any] = {"#meta": smeta}
        for v, x in zip(ts.vars, s):
            state[v.name] = value(v, x)
        states.append(state)
    doc: dict[str, Any] = {"#meta": meta, "vars": [v.name for v in ts.vars], "states": states}
    if trace.loop_start is not None:
        doc["loop"] = trace.loop_start
    return doc


def render(
    ts: TransitionSystem,
    r: PropertyResult,
    model: str,
    specs: list[str] | None = None,
    options: dict[str, str] | None = None,
) -> str:
    """The ITF JSON text of the trace of ``r``: the same bytes for the same trace."""
    return json.dumps(to_dict(ts, r, model, specs, options), indent=2) + "\n"
