"""Render check results as one JSON object (schema in docs/json.md)."""

from __future__ import annotations

import json
from typing import Any

from nmrcheck import __version__
from nmrcheck.engines.common.results import CheckResult, PropertyResult
from nmrcheck.ir import TransitionSystem
from nmrcheck.report.describe import defined_at, hang_message, meaning, ordered
from nmrcheck.traces.steps import describe

SCHEMA_VERSION = 1
# figures that differ from run to run or machine to machine: the stderr summary has them
MACHINE_STATS = frozenset({"seconds", "peak_memory_mb", "memory_mb"})


def portable_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """``stats`` without the machine-dependent figures, at any depth, so that the same input
    gives the same JSON document byte for byte."""
    return {
        k: portable_stats(v) if isinstance(v, dict) else v
        for k, v in stats.items()
        if k not in MACHINE_STATS
    }


def _trace(ts: TransitionSystem, r: PropertyResult) -> list[dict[str, Any]]:
    out = []
    for s in describe(ts, r.trace, prop=r.property):
        out.append(
            {
                "step": s.index,
                "label": ts.actions[r.trace.actions[s.index - 1]].label,
                "actor": s.actor,
                "routine": s.routine,
                "kind": s.kind,
                "callee": s.callee,
                "action": s.text,
                "status": s.status,
                "binding": s.binding,
                "file": s.file,
                "line": s.line,
                "violates": s.fault,
                "message": s.fault_msg or None,
                "changes": {n: [a, b] for n, a, b in s.changes},
            }
        )
    return out


def to_dict(ts: TransitionSystem, result: CheckResult, model: str) -> dict[str, Any]:
    props = {p.name: p for p in ts.properties}
    entries = []
    for r in ordered(ts, result.results):
        p = props.get(r.property)
        e: dict[str, Any] = {
            "property": r.property,
            "kind": p.kind if p is not None else "hang",
            "verdict": r.verdict,
            "engine": r.engine,
            "coverage": r.coverage,
            "states": result.stats.get("states"),
            "defined_at": defined_at(p, r.property),
            "description": meaning(p, r.property),
        }
        if r.bound is not None:
            e["bound"] = r.bound
        if r.reason:
            e["reason"] = r.reason
        if r.trace is not None:
            e["trace"] = _trace(ts, r)
            if r.trace.loop_start is None and "blocked_from" not in r.stats:
                e["shortest"] = bool(r.stats.get("shortest", True))
            if r.trace.loop_start is not None:
                e["loop_start"] = r.trace.loop_start
                e["stutter"] = bool(r.stats.get("stutter"))
                if "instance" in r.stats:
                    e["instance"] = r.stats["instance"]
            blocked = hang_message(ts, r)
            if blocked:
                e["blocked"] = blocked
                e["blocked_from"] = r.stats.get("blocked_from")
        entries.append(e)
    return {
        "version": SCHEMA_VERSION,
        "tool": f"nmrcheck {__version__}",
        "model": model,
        "exit_code": result.exit_code,
        "engine": result.engine,
        "stats": portable_stats(result.stats),
        "properties": entries,
    }


def render(ts: TransitionSystem, result: CheckResult, model: str) -> str:
    return json.dumps(to_dict(ts, result, model), indent=2, sort_keys=False) + "\n"
