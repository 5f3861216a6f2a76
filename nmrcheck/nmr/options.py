"""Knobs for the behaviours nmr-semantics.md leaves UNSPECIFIED (§7).

By default every behaviour Windows allows is explored; a knob narrows or widens that on
purpose. A model sets one with ``option NAME = VALUE``; ``--option NAME=VALUE`` overrides it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nmrcheck.errors import Finding, InputError
from nmrcheck.lang import ast as A
from nmrcheck.nmr.design import suggest


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``--option NAME=VALUE`` arguments as a map (the last one of a name wins); one without
    ``=`` is a usage error. Names and values are checked when a model loads."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"usage: --option takes NAME=VALUE, not {item!r}")
        out[name.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class Knob:
    name: str
    values: tuple[str, ...]
    default: str
    doc: str


KNOBS = {
    k.name: k
    for k in (
        Knob(
            "dereg_may_return_success",
            ("false", "true"),
            "false",
            "§6.1: NmrDeregister* may return STATUS_SUCCESS when nothing is left to wait for, "
            "closing the handle at once (usersim, ReactOS); Windows always returns STATUS_PENDING",
        ),
        Knob(
            "detach_order",
            ("any", "client_first", "client_done_first"),
            "any",
            "N3: the order of the two detach callbacks: any (Windows), the client's first "
            "(usersim), or the provider's only after the client's side is done (ReactOS)",
        ),
        Knob(
            "register_may_fail",
            ("false", "true"),
            "false",
            "§2.1: NmrRegister* may fail with STATUS_INSUFFICIENT_RESOURCES",
        ),
        Knob(
            "detach_irql",
            ("any", "caller"),
            "any",
            "O11/N5: the IRQL NMR calls detach and cleanup callbacks at: any (the docs: up to "
            "DISPATCH_LEVEL, so blocking there is DET-7), or caller (what Windows does: the "
            "IRQL of the thread the callback runs on, PASSIVE_LEVEL on its own thread)",
        ),
        Knob(
            "max_inflight",
            ("1", "2", "3", "4", "5", "6", "7"),
            "3",
            "CALL-4: how many NPI calls per binding and direction the model tracks in flight",
        ),
    )
}


def resolve(model: A.Model, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The knob values of ``model`` with ``overrides`` applied; raises InputError."""
    values = {k: knob.default for k, knob in KNOBS.items()}
    findings: list[Finding] = []
    seen: set[str] = set()
    for o in model.options:
        if o.name in seen:
            findings.append(
                Finding(o.pos.file, o.pos.line, o.pos.col, f"option {o.name!r} is set twice")
            )
        seen.add(o.name)
        _set(values, o.name, o.value, findings, o.pos)
    for name, value in (overrides or {}).items():
        _set(values, name, value, findings, None)
    if findings:
        raise InputError(findings)
    return values


def _set(
    values: dict[str, str], name: str, value: str, findings: list[Finding], pos: A.Pos | None
) -> None:
    where = (pos.file, pos.line, pos.col) if pos else ("--option", 0, 0)
    knob = KNOBS.get(name)
    if knob is None:
        findings.append(Finding(*where, f"unknown option {name!r}{suggest(name, list(KNOBS))}"))
    elif value not in knob.values:
        findings.append(Finding(*where, f"option {name} takes one of: {', '.join(knob.values)}"))
    else:
        values[name] = value
