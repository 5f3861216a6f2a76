"""What the language server says about a .nmr text, without any LSP types: diagnostics (the
CLI's positioned errors, and a bounded search's verdict), symbols and their definitions,
hovers and completions. Lines and columns are 0-based, columns in code points."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from nmrcheck.errors import Finding, InputError
from nmrcheck.lang import ast as A
from nmrcheck.lsp import context as C
from nmrcheck.lsp import knowledge as K
from nmrcheck.nmr import vocab as V

ERROR, INFORMATION = "error", "information"


@dataclass(frozen=True)
class Diag:
    """A diagnostic: a range on one line, a message and a severity."""

    line: int
    col: int
    end: int
    message: str
    severity: str = ERROR
    source: str = "nmrcheck"


# -- diagnostics ----------------------------------------------------------------------------
def check(text: str, path: str) -> list[Diag]:
    """The errors ``nmrcheck check`` gives before it searches (parse, names, types, the
    compilation of the model and the bundled specs), positioned as the CLI positions them."""
    try:
        if path.endswith(".spec"):
            from nmrcheck.lang.parser import parse_spec

            parse_spec(text, path)
        else:
            _load(text, path)
    except InputError as exc:
        return [_diag(text, path, f) for f in exc.findings]
    return []


def _load(text: str, path: str) -> None:
    from nmrcheck.lang.parser import read_source
    from nmrcheck.nmr.load import bundled_specs, load_text

    load_text(text, path, [(f, read_source(f)) for f in bundled_specs()])


def _diag(text: str, path: str, f: Finding) -> Diag:
    lines = text.split("\n")
    if f.file != path:  # in another file (a spec): shown at the top, with its position
        return Diag(0, 0, len(lines[0]), str(f))
    if f.line <= 0 or f.line > len(lines):
        return Diag(0, 0, len(lines[0]), f.message)
    line, col = f.line - 1, max(f.col - 1, 0)
    word = C.word_at(text, line, col)
    end = word[2] if word and word[1] == col else min(col + 1, len(lines[line]))
    return Diag(line, col, max(end, col), f.message)


def search_command(path: str, max_states: int, timeout: float) -> list[str]:
    """The bounded check run on save: the CLI itself, so the verdict is the CLI's."""
    return [sys.executable, "-m", "nmrcheck", "check", path, "--json", "--no-hang",
            "--max-states", str(max_states), "--timeout", f"{timeout:g}"]


def verdict(doc: dict, path: str, text: str) -> list[Diag]:
    """Information diagnostics from the JSON report of a bounded check of ``path``: each
    violated property at the line of the step that breaks it, or one line for the verdict."""
    model = (doc.get("models") or [{}])[0]
    props = model.get("properties", [])
    bad = [p for p in props if p.get("verdict") == "violated"]
    if bad:
        return [_violation(p, path, text) for p in bad]
    unknown = [p["property"] for p in props if p.get("verdict") == "unknown"]
    first = len(text.split("\n")[0])
    if unknown:
        why = next((p.get("reason", "") for p in props if p.get("verdict") == "unknown"), "")
        msg = (f"bounded search on save: {len(unknown)} of {len(props)} properties unknown "
               f"({why}); run nmrcheck check {path}")
    else:
        states = model.get("stats", {}).get("states")
        size = f", {states} states" if states is not None else ""
        msg = f"bounded search on save: all {len(props)} properties hold (exhaustive{size})"
    return [Diag(0, 0, first, msg, INFORMATION, "nmrcheck search")]


def _violation(p: dict, path: str, text: str) -> Diag:
    steps = p.get("trace") or []
    name = p["property"]
    mine = [s for s in steps if s.get("line") and _same(s.get("file"), path)]
    marked = [s for s in mine if name in (s.get("violates") or "").split(", ")]
    at = (marked or mine or [{"line": 1}])[-1]
    line = int(at["line"]) - 1
    lines = text.split("\n")
    line = min(max(line, 0), len(lines) - 1)
    indent = len(lines[line]) - len(lines[line].lstrip())
    why = at.get("message") or p.get("description") or ""
    msg = (f"{name} violated ({len(steps)} steps): {why}; the counterexample: "
           f"nmrcheck check {path} --property {name}")
    return Diag(line, indent, len(lines[line]), msg, INFORMATION, "nmrcheck search")


def _same(a: str | None, b: str) -> bool:
    return a is not None and Path(a).resolve() == Path(b).resolve()


# -- symbols --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Symbol:
    """A declared name: where its name stands, what it is, and in which driver and routine."""

    name: str
    kind: str
    line: int
    col: int
    detail: str
    driver: str | None = None
    routine: str | None = None  # for a local: its routine (``NAME`` or ``NAME for REG``)


def parse(text: str, path: str) -> A.Model | None:
    from nmrcheck.lang.parser import parse_model

    try:
        return parse_model(text, path)
    except InputError:
        return None


def symbols(model: A.Model, text: str) -> list[Symbol]:
    """Every name the model declares: NPIs, drivers, registrations, variables, locks, tasks,
    routines and locals."""
    out = [_sym(text, n.pos, n.name, "npi", "NPI") for n in model.npis]
    for d in model.drivers:
        count = f"[{d.count}]" if d.count > 1 else ""
        out.append(_sym(text, d.pos, d.name, "driver", f"driver {d.name}{count}",
                        skip="driver"))
        out.extend(_members(d, text))
    return out


def _members(d: A.DriverDecl, text: str) -> list[Symbol]:
    out = []
    for r in d.regs:
        out.append(_sym(text, r.pos, r.name, "registration", f"{r.role} {r.name} of {r.npi}",
                        d.name, skip=r.role))
    for v in d.vars:
        kind = "binding variable" if v.per_binding else "variable"
        out.append(_sym(text, v.pos, v.name, kind, f"{kind} {v.name}: {_type(v.type)}",
                        d.name, skip="var"))
    for lk in d.locks:
        kind = ("binding " if lk.per_binding else "") + ("push lock" if lk.passive
                                                         else "spin lock")
        out.append(_sym(text, lk.pos, lk.name, "lock", f"{kind} {lk.name}", d.name,
                        skip=r"lock|spinlock|pushlock|mutex"))
    for t in d.tasks:
        kind = ("binding " if t.per_binding else "") + t.kind
        out.append(_sym(text, t.pos, t.name, t.kind, f"{kind} {t.name}", d.name,
                        skip=t.kind))
        out.extend(_locals(t.body, text, d.name, t.name))
    for r in d.routines:
        key = f"{r.name} for {r.reg}" if r.reg else r.name
        out.append(_sym(text, r.pos, r.name, "routine", f"routine {key} of {d.name}", d.name))
        out.extend(_locals(r.body, text, d.name, key))
    return out


def _locals(body: tuple[A.Node, ...], text: str, driver: str, routine: str) -> list[Symbol]:
    out, seen = [], set()
    for s in A.statements(body):
        if isinstance(s, A.LocalDecl) and s.name not in seen:
            seen.add(s.name)
            out.append(_sym(text, s.pos, s.name, "local", f"local {s.name}: {_type(s.type)}",
                            driver, r"var|NTSTATUS", routine))
        elif isinstance(s, A.Assign) and isinstance(s.value, A.Call) and s.target not in seen:
            seen.add(s.target)  # an implicit NTSTATUS local, or a variable declared above
            out.append(_sym(text, s.pos, s.target, "local", f"local {s.target}: NTSTATUS "
                            f"(the status of {s.value.func})", driver, None, routine))
    return out


def _type(t: A.TypeRef) -> str:
    if t.kind == "int":
        return f"{t.lo}..{t.hi}"
    if t.kind == "enum":
        return "{" + ", ".join(t.labels) + "}"
    return "NTSTATUS" if t.kind == "status" else t.kind


def _sym(text: str, pos: A.Pos, name: str, kind: str, detail: str, driver: str | None = None,
         skip: str | None = None, routine: str | None = None) -> Symbol:
    """The symbol ``name`` declared at ``pos``: its name is the first occurrence of the word
    at or after ``pos`` (past the keyword ``skip``)."""
    start = C.offset(text, pos.line - 1, pos.col - 1)
    clean = C.blank(text)
    if skip:
        m = re.compile(rf"(?:binding\s+)?(?:{skip})\b").match(clean, start)
        start = m.end() if m else start
    m = re.compile(rf"\b{re.escape(name)}\b").search(clean, start)
    at = m.start() if m else start
    line = text.count("\n", 0, at)
    col = at - (text.rfind("\n", 0, at) + 1)
    return Symbol(name, kind, line, col, detail, driver, routine)


def definition(model: A.Model, text: str, line: int, col: int) -> Symbol | None:
    """The declaration of the name under (line, col), resolved in the cursor's routine, then
    its driver, then among drivers and NPIs."""
    word = C.word_at(text, line, col)
    if word is None:
        return None
    ctx = C.at(text, line, col)
    found = [s for s in symbols(model, text) if s.name == word[0]]
    here = _routine_key(ctx)
    for ok in (lambda s: s.kind == "local" and s.driver == ctx.driver and s.routine == here,
               lambda s: s.kind not in ("local", "routine") and s.driver == ctx.driver
               and s.driver is not None,
               lambda s: s.kind in ("driver", "npi")):
        hit = [s for s in found if ok(s)]
        if hit:
            return hit[0]
    return None


def declared(model: A.Model, text: str, word: str) -> Symbol | None:
    """The driver, NPI or registration called ``word`` (for names used in spec files)."""
    return next((s for s in symbols(model, text) if s.name == word
                 and s.kind in ("driver", "npi", "registration")), None)


def _routine_key(ctx: C.Context) -> str | None:
    if ctx.routine is None:
        return None
    r = ctx.routine
    return f"{r.name} for {r.reg}" if r.reg and not r.task else r.name


# -- hover ----------------------------------------------------------------------------------
def hover(model: A.Model | None, text: str, line: int, col: int) -> tuple[str, int, int] | None:
    """Markdown for the word under (line, col), with its columns; None when there is none."""
    word = C.word_at(text, line, col)
    if word is None:
        return None
    entry = K.lookup(word[0])
    if entry is not None:
        return entry.markdown(), word[1], word[2]
    if model is not None:
        sym = definition(model, text, line, col)
        if sym is not None:
            return f"**{sym.detail}** (line {sym.line + 1})", word[1], word[2]
    return None


# -- completion -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """A completion: what is shown, what is inserted, and its kind."""

    label: str
    kind: str  # "function", "callback", "keyword", "variable", "constant", "reference"
    detail: str = ""
    insert: str | None = None
    doc: str = ""


def complete(model: A.Model | None, text: str, line: int, col: int) -> list[Item]:
    """What may be written at (line, col): the NMR calls and statements valid in the
    routine there, the callbacks the driver may still define, or the declarations. The
    text is read without the cursor's line (being typed), else as it last parsed."""
    model = parse(_without_line(text, line), "<typing>") or model
    ctx = C.at(text, line, col)
    driver = _driver(model, ctx.driver)
    if ctx.depth == 0:
        return [Item(w, "keyword") for w in ("npi", "driver", "option")]
    if ctx.depth == 1:
        m = re.search(r"\b([A-Za-z_]\w*)\s+for\s+\w*$", ctx.line_before)
        if m and driver is not None:
            return _registrations_for(driver, m.group(1))
        return _member_items(driver)
    if re.search(r"\breturn\s+\w*$", ctx.line_before):
        return _statuses() + _attach_return(ctx)
    return _statement_items(driver, ctx)


def _without_line(text: str, line: int) -> str:
    lines = text.split("\n")
    if 0 <= line < len(lines):
        lines[line] = ""
    return "\n".join(lines)


def _driver(model: A.Model | None, name: str | None) -> A.DriverDecl | None:
    if model is None or name is None:
        return None
    return next((d for d in model.drivers if d.name == name), None)


def _roles(driver: A.DriverDecl | None) -> set[str]:
    return {r.role for r in driver.regs} if driver is not None else {"client", "provider"}


def _callback_role(name: str) -> str | None:
    if name in V.CLIENT_CALLBACKS:
        return "client"
    if name in V.PROVIDER_CALLBACKS:
        return "provider"
    return None


def _member_items(driver: A.DriverDecl | None) -> list[Item]:
    roles = _roles(driver)
    defined = {r.name for r in driver.routines if r.reg is None} if driver else set()
    out = []
    for name in V.ROUTINES:
        role = _callback_role(name)
        if name in defined or (role is not None and role not in roles):
            continue
        entry = K.lookup(name)
        out.append(Item(name, "callback", entry.kind if entry else "routine",
                        f"{name} {{\n  \n}}", entry.markdown() if entry else ""))
    members = ("client", "provider", "var", "binding", "lock", "spinlock", "pushlock",
               "mutex", "task", "workitem", "fair")
    out += [Item(w, "keyword") for w in members if w in K.keywords()]
    return out


def _registrations_for(driver: A.DriverDecl, callback: str) -> list[Item]:
    role = _callback_role(callback)
    return [Item(r.name, "reference", f"{r.role} {r.name} of {r.npi}")
            for r in driver.regs if role is None or r.role == role]


def _statuses() -> list[Item]:
    return [Item(s, "constant", "NTSTATUS") for s in V.STATUSES]


def _attach_return(ctx: C.Context) -> list[Item]:
    if ctx.routine is not None and ctx.routine.name == "ClientAttachProvider":
        return [_call_item(V.ATTACH_CALL, "")]
    return []


def _sides(driver: A.DriverDecl | None, routine: C.Routine | None) -> set[str]:
    """The binding sides the code at the cursor runs for (empty outside binding code)."""
    if routine is None:
        return set()
    role = _callback_role(routine.name)
    if role is not None:
        return {role}
    if not routine.per_binding:
        return set()
    if routine.reg and driver is not None:
        return {r.role for r in driver.regs if r.name == routine.reg}
    return _roles(driver)


def _call_item(name: str, arg: str) -> Item:
    entry = K.lookup(name)
    return Item(f"{name}({arg})", "function", entry.kind if entry else "",
                f"{name}({arg})", entry.markdown() if entry else "")


def _statement_items(driver: A.DriverDecl | None, ctx: C.Context) -> list[Item]:
    r = ctx.routine
    name = r.name if r is not None else ""
    sides = _sides(driver, r)
    in_callback = _callback_role(name) is not None
    blocking_ok = not ctx.atomic
    regs = list(driver.regs) if driver is not None else []
    out: list[Item] = []
    may_register = blocking_ok and (not in_callback or "Attach" in name)  # REG-4
    for reg in regs:
        if may_register:
            out.append(_call_item(V.REGISTER[reg.role], reg.name))
        if blocking_ok:
            out.append(_call_item(V.DEREGISTER[reg.role], reg.name))
        if blocking_ok and not in_callback:
            out.append(_call_item(V.WAIT[reg.role], reg.name))
    if blocking_ok and name == "ClientAttachProvider":
        out.append(_call_item(V.ATTACH_CALL, ""))
    out += [_call_item(V.COMPLETE[s], "binding") for s in sorted(sides)]
    out += _builtin_items(driver, ctx, sides)
    out += _variables(driver, bool(sides))
    return out + _statuses()


def _builtin_items(driver: A.DriverDecl | None, ctx: C.Context, sides: set[str]) -> list[Item]:
    binding = bool(sides)
    out = [_call_item("assert", "C"), _call_item("error", '"message"')]
    if driver is not None:
        out += [_call_item(f, lk.name) for lk in driver.locks
                if binding or not lk.per_binding for f in ("acquire", "release")]
        out += [_call_item("queue", t.name) for t in driver.tasks
                if t.kind == "workitem" and (binding or not t.per_binding)]
        out += [_call_item("free_registration_data", r.name) for r in driver.regs]
    if binding:
        out += [_call_item("npi_call_begin", ""), _call_item("npi_call_end", ""),
                _call_item("free_binding_context", "")]
    r = ctx.routine
    if r is not None and "Attach" in r.name and _callback_role(r.name):
        out.append(_call_item("allocate_binding_context", ""))
    known = {"assert", "error", "acquire", "release", "queue", "free_registration_data",
             "npi_call_begin", "npi_call_end", "free_binding_context",
             "allocate_binding_context"}
    out += [_call_item(n, "") for n in sorted(V.BUILTIN_CALLS - known)]  # new statements
    return out


def _variables(driver: A.DriverDecl | None, binding: bool) -> list[Item]:
    if driver is None:
        return []
    return [Item(v.name, "variable", ("binding var " if v.per_binding else "var ")
                 + _type(v.type)) for v in driver.vars if binding or not v.per_binding]
