"""Proof certificates: an inductive invariant as SMT-LIB 2 text, bound to one system and property.

A certificate for property ``P`` of a system with initial state ``I`` and transition relation
``T`` is a formula ``Inv`` over the state variables with ``I => Inv``, ``Inv and T => Inv'`` and
``Inv => P`` (for a reachable property, ``Inv => not P``: the property is unreachable).
``check_certificate`` re-checks all three with a fresh solver, and that the certificate's
fingerprint is the one of the system and property at hand.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import z3

from nmrcheck.control import Stopped
from nmrcheck.errors import InputError
from nmrcheck.ir.system import Property, TransitionSystem
from nmrcheck.ir.walkers import to_text

from .budget import Budget
from .encode import encode_bool, encode_int, mk_and
from .targets import safe

_FORMAT = "nmrcheck-certificate-1"


@dataclass(frozen=True)
class Certificate:
    """An inductive invariant proving ``property``.

    ``invariant`` is an SMT-LIB 2 term over one integer constant per state variable (named
    ``symbols(variables)``: the variable's name, or a mangled ``name!index`` when that is not
    a plain, declarable SMT-LIB symbol); ``fingerprint`` identifies the transition system and
    property it proves.
    """

    property: str
    invariant: str
    fingerprint: str
    variables: tuple[str, ...]


def fingerprint(ts: TransitionSystem, prop: Property) -> str:
    """SHA-256 (hex) of what the proof depends on: variables (names, types, domains, initial
    values), actions (labels, guards, updates), ``halted``, and the property (kind and
    expression). Deterministic across runs and hash seeds."""
    return fingerprints(ts, [prop])[0]


def fingerprints(ts: TransitionSystem, props: Sequence[Property]) -> list[str]:
    """:func:`fingerprint` of each of ``props``, the system's part written once."""
    system = _json(_system(ts))
    out = []
    for p in props:  # the JSON text of the system's object with one more member
        text = f'{system[:-1]},"property":{_json([p.kind, to_text(p.expr)])}}}'
        out.append(hashlib.sha256(text.encode("utf-8")).hexdigest())
    return out


def system_fingerprint(ts: TransitionSystem) -> str:
    """SHA-256 (hex) of the system alone (what :func:`fingerprint` hashes but the property)."""
    return hashlib.sha256(_json(_system(ts)).encode("utf-8")).hexdigest()


def _system(ts: TransitionSystem) -> dict[str, object]:
    return {
        "format": _FORMAT,
        "vars": [[v.name, v.type, v.lo, v.hi, v.init] for v in ts.vars],
        "actions": [
            [a.label, to_text(a.guard), [[i, to_text(e)] for i, e in a.updates]] for a in ts.actions
        ],
        "halted": to_text(ts.halted),
    }


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def make_certificate(
    ts: TransitionSystem, prop: Property, inv: z3.BoolRef | str
) -> Certificate:
    """A certificate for ``inv``, a formula over the ``state_constants`` of ``ts`` (or its
    SMT-LIB text, when several certificates share one invariant)."""
    return make_certificates(ts, [prop], inv)[0]


def make_certificates(
    ts: TransitionSystem, props: Sequence[Property], inv: z3.BoolRef | str
) -> list[Certificate]:
    """:func:`make_certificate` for each of ``props``, with one invariant."""
    text = inv if isinstance(inv, str) else inv.sexpr()
    names = tuple(v.name for v in ts.vars)
    return [
        Certificate(property=p.name, invariant=text, fingerprint=f, variables=names)
        for p, f in zip(props, fingerprints(ts, props), strict=True)
    ]


def state_constants(names: tuple[str, ...], ctx: z3.Context) -> list[z3.ArithRef]:
    """The integer constants a certificate's invariant is written over, one per variable."""
    return [z3.Int(sym, ctx) for sym in symbols(names)]


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_RESERVED = frozenset(
    {"let", "forall", "exists", "match", "par", "as", "lambda"}
    | {"NUMERAL", "DECIMAL", "STRING", "BINARY", "HEXADECIMAL"}
)


def symbols(names: tuple[str, ...]) -> list[str]:
    """The SMT-LIB symbol of each state variable: its name when that is a plain identifier Z3
    lets one declare, else a mangled ``name!index`` (plain names never contain ``!``)."""
    out = []
    for i, n in enumerate(names):
        if _PLAIN.fullmatch(n) and n not in _RESERVED and _declarable(n):
            out.append(n)
        else:
            out.append(re.sub(r"[^A-Za-z0-9_.]", "_", n) + f"!{i}")
    return out


@lru_cache(maxsize=1024)
def _declarable(name: str) -> bool:
    """False for Z3's builtin symbols (``and``, ``true``, ``distinct``, ...)."""
    try:
        z3.parse_smt2_string(
            f"(declare-fun {name} () Int)(assert (<= {name} (+ {name} 1)))", ctx=z3.Context()
        )
    except z3.Z3Exception:
        return False
    return True


def _declarations(names: tuple[str, ...]) -> str:
    return "".join(f"(declare-fun {sym} () Int)\n" for sym in symbols(names))


def parse_invariant(cert: Certificate, ctx: z3.Context) -> z3.BoolRef:
    """The invariant of ``cert`` as a Z3 formula over ``state_constants`` (raises
    ``z3.Z3Exception`` when it does not parse)."""
    text = _declarations(cert.variables) + f"(assert {cert.invariant})\n"
    parsed = z3.parse_smt2_string(text, ctx=ctx)
    if len(parsed) != 1:
        raise z3.Z3Exception("the invariant must be a single formula")
    return parsed[0]


# -- files ----------------------------------------------------------------------------------

_VARIABLE = "; variable: "


def write_certificate(cert: Certificate, path: str | Path) -> None:
    """Write ``cert`` as an SMT-LIB 2 file: comments naming the property, the fingerprint and
    the state variables, a ``declare-fun`` per state variable, and
    ``(define-fun inv () Bool ...)``."""
    lines = [
        f"; {_FORMAT}",
        f"; property: {json.dumps(cert.property)}",
        f"; fingerprint: {cert.fingerprint}",
    ]
    lines += [f"{_VARIABLE}{json.dumps(n)} as {sym}" for n, sym in _named(cert.variables)]
    text = "\n".join(lines) + "\n" + _declarations(cert.variables)
    text += f"(define-fun inv () Bool\n  {cert.invariant})\n"
    Path(path).write_text(text, encoding="utf-8")


def _named(names: tuple[str, ...]) -> list[tuple[str, str]]:
    return list(zip(names, symbols(names), strict=True))


def read_certificate(path: str | Path) -> Certificate:
    """Read a file written by ``write_certificate``; a malformed file is an ``InputError``."""
    text = Path(path).read_text(encoding="utf-8")
    fields: dict[str, str] = {}
    names: list[str] = []
    try:
        for line in text.splitlines():
            if line.startswith(_VARIABLE):
                quoted = line[len(_VARIABLE) :].rsplit(" as ", 1)[0]
                names.append(json.loads(quoted))
            elif line.startswith("; property: "):
                fields["property"] = json.loads(line[len("; property: ") :])
            elif line.startswith("; fingerprint: "):
                fields["fingerprint"] = line[len("; fingerprint: ") :].strip()
    except ValueError as ex:
        raise InputError(f"{path}: bad certificate header: {ex}") from None
    if not isinstance(fields.get("property"), str) or not fields.get("fingerprint"):
        raise InputError(f"{path}: not an nmrcheck certificate (no property or fingerprint)")
    if not all(isinstance(n, str) for n in names):
        raise InputError(f"{path}: bad variable names")
    try:
        parsed = z3.parse_smt2_string(text + "\n(assert inv)\n", ctx=z3.Context())
    except z3.Z3Exception as ex:
        raise InputError(f"{path}: the invariant does not parse: {ex}") from None
    if len(parsed) != 1:
        raise InputError(f"{path}: a certificate defines inv and asserts nothing")
    cert = Certificate(fields["property"], parsed[0].sexpr(), fields["fingerprint"], tuple(names))
    try:
        parse_invariant(cert, z3.Context())
    except z3.Z3Exception as ex:
        raise InputError(f"{path}: the invariant is not over the listed variables: {ex}") from None
    return cert


# -- checking -------------------------------------------------------------------------------


def check_certificate(ts: TransitionSystem, cert: Certificate) -> tuple[bool, str]:
    """Re-check ``cert`` against ``ts`` from scratch: the fingerprint matches, and with a fresh
    solver ``Init => Inv``, ``Inv and T => Inv'`` (per action) and ``Inv => P``."""
    for p in ts.properties:
        if p.name == cert.property:
            return check_against(ts, p, cert)
    return False, f"the system has no property named {cert.property!r}"


def check_against(ts: TransitionSystem, prop: Property, cert: Certificate) -> tuple[bool, str]:
    """``check_certificate`` for a given property object."""
    return check_all(ts, [(prop, cert)])[0]


def check_all(
    ts: TransitionSystem,
    items: list[tuple[Property, Certificate]],
    budget: Budget | None = None,
) -> list[tuple[bool, str]]:
    """``check_against`` for each ``(property, certificate)``; certificates with the same
    invariant share one check of initiation and consecution. A check the solver cannot decide
    (within ``budget``) fails; when the run control stops the run, ``Stopped`` is raised."""
    return [(ok is True, message) for ok, message in recheck(ts, items, budget)]


def recheck(
    ts: TransitionSystem,
    items: list[tuple[Property, Certificate]],
    budget: Budget | None = None,
) -> list[tuple[bool | None, str]]:
    """:func:`check_all`, telling apart (``None``) the checks the solver could not decide
    within ``budget`` (the current run control's time when None)."""
    budget = budget or Budget(None)
    out: list[tuple[bool | None, str]] = []
    checked: dict[str, tuple[_Checker | None, bool | None, str]] = {}
    prints = fingerprints(ts, [prop for prop, _ in items])
    for (prop, cert), fp in zip(items, prints, strict=True):
        ok, message = _header(ts, prop, cert, fp)
        if not ok:
            out.append((False, message))
            continue
        if cert.invariant not in checked:
            checked[cert.invariant] = _Checker.run(ts, cert, budget)
        checker, ok2, message = checked[cert.invariant]
        out.append((ok2, message) if checker is None else checker.safety(prop))
    return out


class _Undecided(Exception):
    """The solver could not decide a check (its time ran out)."""


def _header(
    ts: TransitionSystem, prop: Property, cert: Certificate, fp: str
) -> tuple[bool, str]:
    if cert.property != prop.name:
        return False, f"certificate is for {cert.property!r}, not {prop.name!r}"
    if cert.fingerprint != fp:
        return False, "fingerprint mismatch: the certificate is for another system or property"
    if tuple(cert.variables) != tuple(v.name for v in ts.vars):
        return False, "the certificate declares other state variables than the system"
    return True, ""


class _Checker:
    """One fresh context and solver re-checking one invariant against one system.

    Consecution is checked action by action on an incremental solver holding ``Inv`` and
    ``not halted``: the conjuncts of ``Inv`` that read no variable the action writes are the
    same after it, so only the others are asked for (an equivalent query, much smaller for the
    large conjunctive invariants of invariant inference)."""

    def __init__(
        self, ts: TransitionSystem, inv: z3.BoolRef, ctx: z3.Context, budget: Budget
    ) -> None:
        self.ts, self.inv, self.ctx, self.budget = ts, inv, ctx, budget
        self.names = tuple(v.name for v in ts.vars)
        self.cur = state_constants(self.names, ctx)

    @classmethod
    def run(
        cls, ts: TransitionSystem, cert: Certificate, budget: Budget
    ) -> tuple[_Checker | None, bool | None, str]:
        """A checker for ``cert`` once initiation and consecution hold, else ``(None, False,
        why not)``, or ``(None, None, why)`` when the solver could not decide."""
        ctx = z3.Context()
        try:
            inv = parse_invariant(cert, ctx)
        except z3.Z3Exception as ex:
            return None, False, f"the invariant does not parse: {ex}"
        if not z3.is_bool(inv):
            return None, False, "the invariant is not a formula"
        checker = cls(ts, inv, ctx, budget)
        try:
            message = checker._initiation() or checker._consecution()
        except _Undecided as ex:
            return None, None, str(ex)
        return (None, False, message) if message else (checker, True, "")

    def _refuted(self, solver: z3.Solver, *facts: z3.BoolRef) -> str | None:
        """None when ``facts`` are unsatisfiable (with what ``solver`` holds), else a
        description of the solver's answer; raises ``_Undecided`` when the solver cannot
        decide, ``Stopped`` when the run control stops the run."""
        solver.push()
        solver.add(*facts)
        r, why = self.budget.check(solver)
        try:
            if r == z3.unsat:
                return None
            if r == z3.unknown:
                ctl = self.budget.control
                if self.budget.stopped():
                    raise Stopped(ctl.reason, ctl.interrupted)
                raise _Undecided(f"the solver cannot decide ({why})")
            m = solver.model()
            return "e.g. in " + ", ".join(
                f"{n}={m.eval(x, model_completion=True)}"
                for n, x in zip(self.names, self.cur, strict=True)
            )
        finally:
            solver.pop()

    def _initiation(self) -> str | None:
        ts, ctx = self.ts, self.ctx
        init = mk_and([x == v.init for x, v in zip(self.cur, ts.vars, strict=True)], ctx)
        bad = self._refuted(z3.Solver(ctx=ctx), init, z3.Not(self.inv))
        if bad is not None:
            return f"the initial state does not satisfy the invariant ({bad})"
        return None

    def _consecution(self) -> str | None:
        ts, ctx, cur = self.ts, self.ctx, self.cur
        solver = z3.Solver(ctx=ctx)
        solver.add(self.inv, z3.Not(encode_bool(ts.halted, cur, ctx)))
        memo: dict = {}  # encodings shared between the actions
        parts = _conjuncts(self.inv)
        index = {sym: i for i, sym in enumerate(symbols(self.names))}
        readers: dict[int, list[int]] = {}
        for k, part in enumerate(parts):
            for i in sorted({index[t] for t in _TOKEN.findall(part.sexpr()) if t in index}):
                readers.setdefault(i, []).append(k)
        affected: dict[frozenset[int], z3.BoolRef | None] = {}
        for action in ts.actions:
            written = frozenset(i for i, _ in action.updates)
            if written not in affected:
                ks = sorted({k for i in written for k in readers.get(i, ())})
                affected[written] = mk_and([parts[k] for k in ks], ctx) if ks else None
            before = affected[written]
            if before is None:
                continue
            after = z3.substitute(
                before, *[(cur[i], encode_int(e, cur, ctx, memo)) for i, e in action.updates]
            )
            guard = encode_bool(action.guard, cur, ctx, memo)
            bad = self._refuted(solver, guard, z3.Not(after))
            if bad is not None:
                return f"not inductive: action {action.label!r} leaves the invariant ({bad})"
        return None

    def safety(self, prop: Property) -> tuple[bool | None, str]:
        ctx = self.ctx
        try:
            bad = self._refuted(
                z3.Solver(ctx=ctx), self.inv, z3.Not(encode_bool(safe(prop), self.cur, ctx))
            )
        except _Undecided as ex:
            return None, str(ex)
        if bad is not None:
            return False, f"the invariant does not imply the property ({bad})"
        return True, (
            f"certificate for {prop.name!r} re-checked: initiation, consecution "
            f"({len(self.ts.actions)} actions) and safety"
        )


def _conjuncts(f: z3.BoolRef) -> list[z3.BoolRef]:
    out, stack = [], [f]
    while stack:
        g = stack.pop()
        if z3.is_and(g):
            stack.extend(reversed(g.children()))
        else:
            out.append(g)
    return out


# The symbols of an s-expression: the state constants are plain symbols (see ``symbols``), so
# the constants a conjunct reads are among its tokens.
_TOKEN = re.compile(r"[^\s()|]+")
