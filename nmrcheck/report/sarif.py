"""Render violated properties as SARIF 2.1.0, for GitHub code scanning and editors.

One ``result`` per violated property: ``ruleId`` is the property name, the location is the
model line of the step that broke it (the step that broke an obligation, else the last step
with a model line; for a hang, the line where the routine waits forever), and the
counterexample is a ``codeFlow`` with one ``threadFlowLocation`` per step.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from nmrcheck import __version__
from nmrcheck.engines.common.results import HANG, VIOLATED, CheckResult, PropertyResult
from nmrcheck.ir import TransitionSystem
from nmrcheck.report.describe import defined_at, hang_message, loop_message, meaning, ordered
from nmrcheck.report.text import step_line
from nmrcheck.traces.steps import Step, describe

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def uri(path: str) -> str:
    """A URI reference for a file path: relative paths stay relative (to the repository root
    when nmrcheck runs there, as GitHub code scanning expects)."""
    p = PurePath(path)
    if p.is_absolute():
        return "file://" + quote(p.as_posix())
    return quote(p.as_posix())


def rule(ts: TransitionSystem, name: str) -> dict[str, Any]:
    """The reportingDescriptor of a property."""
    p = next((q for q in ts.properties if q.name == name), None)
    text = meaning(p, name) or name
    out: dict[str, Any] = {"id": name}
    friendly = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", name))
    if friendly and friendly != name:
        out["name"] = friendly  # a Pascal-case name, distinct from the id (SARIF1001)
    return out | {
        "shortDescription": {"text": text},
        "fullDescription": {"text": f"{text} (defined at {defined_at(p, name)})"},
        "defaultConfiguration": {"level": "error"},
        "help": {"text": f"{text}\nDefined at {defined_at(p, name)}."},
        "properties": {"kind": p.kind if p is not None else "hang"},
    }


def _physical(file: str, line: int, source: dict[str, str] | None = None) -> dict[str, Any]:
    """A physicalLocation; with the line's text as its snippet when ``source`` has the file."""
    region: dict[str, Any] = {"startLine": line}
    lines = (source or {}).get(file, "").splitlines()
    if 0 < line <= len(lines):
        region["snippet"] = {"text": lines[line - 1]}
    return {"artifactLocation": {"uri": uri(file)}, "region": region}


def _blocked_at(ts: TransitionSystem, r: PropertyResult) -> tuple[str, int] | None:
    """The model line where the first thread of a hang waits forever."""
    if r.trace is None:
        return None
    last = r.trace.states[-1]
    for k in r.stats.get("blocked_slots", []):
        slot = ts.slots[k]
        pc = last[slot.pc]
        positions = slot.meta.get("positions", ())
        pos = positions[pc] if pc < len(positions) else None
        if pos is not None:
            return pos.file, pos.line
    return None


def culprit(ts: TransitionSystem, r: PropertyResult, steps: list[Step]) -> tuple[str, int] | None:
    """Where the property broke: (file, line), or None if no step has a model line."""
    if r.property == HANG:
        at = _blocked_at(ts, r)
        if at is not None:
            return at
    for s in reversed(steps):
        if s.fault == r.property and s.file and s.line:
            return s.file, s.line
    for s in reversed(steps):
        if s.fault and s.file and s.line:
            return s.file, s.line
    for s in reversed(steps):
        if s.file and s.line:
            return s.file, s.line
    return None


def _flow_location(s: Step, last: bool, source: dict[str, str]) -> dict[str, Any]:
    loc: dict[str, Any] = {"message": {"text": step_line(s).replace("\n      ", " ")}}
    if s.file and s.line:
        loc["physicalLocation"] = _physical(s.file, s.line, source)
    kinds = []
    if s.kind in ("callback", "call"):
        kinds.append("call")
    if s.text.startswith("return") or "; return" in s.text:
        kinds.append("return")
    if s.fault:
        kinds.append("danger")
    out: dict[str, Any] = {
        "location": loc,
        "executionOrder": s.index,
        "importance": "essential" if s.fault or last else "important",
    }
    if kinds:
        out["kinds"] = kinds
    if s.changes:
        out["state"] = {n: {"text": f"{a} -> {b}"} for n, a, b in s.changes}
    return out


def result(
    ts: TransitionSystem, r: PropertyResult, model: str, rule_index: int, reproduce: str
) -> dict[str, Any]:
    """The SARIF result of one violated property."""
    steps = describe(ts, r.trace, prop=r.property)
    props = {p.name: p for p in ts.properties}
    p = props.get(r.property)
    fault = next((s for s in reversed(steps) if s.fault == r.property), None)
    if r.property == HANG:
        why = "; ".join(hang_message(ts, r)) or meaning(p, r.property)
    elif fault is not None:
        why = f"{fault.fault_msg} ({meaning(p, r.property)})"
    else:
        why = meaning(p, r.property)
    shape = "(shortest)"
    loop = loop_message(r)  # a lasso: how the run goes on forever
    if loop is not None:
        shape = f"({loop})"
    text = (
        f"{r.property} violated: {why}. Counterexample of {len(steps)} steps {shape}; "
        f"reproduce: {reproduce}"
    )
    at = culprit(ts, r, steps) or (model, 1)
    source = {model: ts.meta.get("source", "")}
    flow = [_flow_location(s, s.index == len(steps), source) for s in steps]
    digest = hashlib.sha256(
        "\n".join([model, r.property] + [s.text for s in steps]).encode()
    ).hexdigest()
    out: dict[str, Any] = {
        "ruleId": r.property,
        "ruleIndex": rule_index,
        "level": "error",
        "message": {"text": text},
        "locations": [{"physicalLocation": _physical(*at, source)}],
        "partialFingerprints": {"nmrcheckTrace/v1": digest[:32]},
        "codeFlows": [
            {
                "message": {"text": f"Counterexample to {r.property}, {len(steps)} steps"},
                "threadFlows": [{"locations": flow}],
            }
        ]
        if flow
        else [],
    }
    if not flow:
        del out["codeFlows"]
    if p is not None and p.meta.get("kind") == "spec" and p.meta.get("pos") is not None:
        pos = p.meta["pos"]
        out["relatedLocations"] = [
            {
                "id": 1,
                "physicalLocation": _physical(pos.file, pos.line),
                "message": {"text": f"{r.property} is defined here"},
            }
        ]
    return out


class SarifLog:
    """Collects the rules and results of the models of one run into one SARIF log."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.artifacts: list[str] = []

    def add(
        self,
        ts: TransitionSystem,
        res: CheckResult,
        model: str,
        reproduce: Any = None,
    ) -> None:
        """Add the properties checked on ``model`` (rules) and its violations (results).

        ``reproduce(model, property)`` gives the command that reproduces a violation.
        """
        index = {r["id"]: i for i, r in enumerate(self.rules)}
        if model not in self.artifacts:
            self.artifacts.append(model)
        for r in ordered(ts, res.results):
            if r.property not in index:
                index[r.property] = len(self.rules)
                self.rules.append(rule(ts, r.property))
        for r in ordered(ts, res.results):
            if r.verdict != VIOLATED or r.trace is None:
                continue
            again = (
                reproduce(model, r.property)
                if reproduce is not None
                else f"nmrcheck check {model} --property {r.property}"
            )
            self.results.append(result(ts, r, model, index[r.property], again))

    def to_dict(self) -> dict[str, Any]:
        return {
            "$schema": SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "nmrcheck",
                            "version": __version__,
                            "semanticVersion": __version__,
                            "rules": self.rules,
                        }
                    },
                    "artifacts": [{"location": {"uri": uri(m)}} for m in self.artifacts],
                    "results": self.results,
                }
            ],
        }

    def render(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def render(ts: TransitionSystem, res: CheckResult, model: str) -> str:
    """The SARIF log of one checked model."""
    log = SarifLog()
    log.add(ts, res, model)
    return log.render()
