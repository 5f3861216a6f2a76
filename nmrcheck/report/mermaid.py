"""Render a counterexample as a Mermaid sequence diagram (renders in GitHub Markdown).

The arrows come from :func:`sequence`, which reads the steps of a trace as messages between
participants (the OS, every driver instance, NMR); the HTML report draws the same messages as
SVG, so both diagrams always agree.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from nmrcheck.engines.common.results import HANG, CheckResult, PropertyResult
from nmrcheck.ir import Property, TransitionSystem
from nmrcheck.nmr.vocab import CLIENT_CALLBACKS, PROVIDER_CALLBACKS
from nmrcheck.report.describe import defined_at, hang_message, loop_message, meaning, ordered
from nmrcheck.traces.steps import Step, describe

NMR, OS = "NMR", "OS"
CALLBACKS = frozenset(CLIENT_CALLBACKS + PROVIDER_CALLBACKS)
SHOWN_VERDICTS = ("violated", "witnessed")
NOTE_WIDTH = 60

# One note of a step: an NMR API call with its result, or NMR calling back (nested attach).
_NMR_CALL = re.compile(
    r"^(?P<call>Nmr\w+)(?P<args>\([^()]*\))?"
    r"(?:(?P<arrow> -> | returns )(?P<status>STATUS_\w+))?"
    r"(?:: NMR calls (?P<callee>\S+) (?P<callback>\w+))?"
    r"(?:: (?P<comment>.+))?$"
)
_RETURN = re.compile(r"^return(?: (?P<value>.+))?$")
_NPI_CALL = re.compile(r"^(?P<fn>.+?): calls into (?P<target>\S+)$")
_NPI_RETURN = re.compile(r"^(?P<fn>.+?): call returns from (?P<target>\S+)$")
_STARTS = ("starts task ", "starts work item ")


@dataclass(frozen=True)
class Message:
    """One arrow or note of a sequence diagram.

    ``kind`` is ``"call"`` (solid arrow), ``"return"`` (dashed arrow) or ``"note"`` (a note
    over ``src``; ``dst == src``). ``fault`` marks the note that says what was violated.
    """

    step: int  # 1-based step of the trace; 0 for the closing notes
    kind: str
    src: str
    dst: str
    text: str
    fault: bool = False


def drivers(ts: TransitionSystem) -> list[str]:
    """The driver instances of the model, in declaration order."""
    out: list[str] = []
    for s in ts.slots:
        actor = s.meta.get("actor")
        if actor == s.name and s.meta.get("binding") is None and actor not in out:
            out.append(actor)
    return out


def _caller(routine: str | None) -> str:
    return NMR if routine in CALLBACKS else OS


def _after(text: str, prefix: str) -> str:
    return text[len(prefix) :] if text.startswith(prefix) else text


def step_messages(s: Step) -> list[Message]:
    """The arrows and notes of one step (without the note about a violation)."""
    k = s.index
    if s.kind == "callback":
        return [Message(k, "call", NMR, s.callee or "?", _after(s.text, f"calls {s.callee} "))]
    if s.kind == "call":
        text = _after(s.text, f"calls {s.callee} ")
        if text.startswith(f"starts {s.callee} "):
            text = "starts " + _after(text, f"starts {s.callee} ")
        return [Message(k, "call", OS, s.callee or "?", text)]
    if s.kind == "nmr":
        return [Message(k, "note", NMR, NMR, s.text)]
    me = s.actor
    out: list[Message] = []

    def emit(m: Message) -> None:
        """Add ``m``; a note right after a note over the same participant joins it (a line
        per statement)."""
        last = out[-1] if out else None
        if m.kind == "note" and last and last.kind == "note" and last.src == m.src:
            out[-1] = Message(k, "note", m.src, m.src, f"{last.text}\n{m.text}")
        else:
            out.append(m)

    depth = 0  # inside an atomic block, statements stay together in one note
    later: list[Message] = []  # NPI calls inside an atomic block, drawn after its note
    for note in s.text.split("; ") if s.text else []:
        if not note or note.endswith(": "):
            continue  # a step with no words of its own (its note says what it broke)
        if depth or note.startswith("atomic {"):
            depth += note.startswith("atomic {") - note.endswith("}")
            emit(Message(k, "note", me, me, note))
            core = note.removeprefix("atomic { ").removesuffix(" }")
            later.extend(_npi(k, me, core))
            if not depth:
                out.extend(later)
                later.clear()
            continue
        m = _NMR_CALL.match(note)
        r = _RETURN.match(note)
        if m:
            for x in _nmr_call(k, me, m):
                emit(x)
        elif r:
            what = f"{s.routine} returns" if s.routine else "returns"
            if r["value"]:
                what += f" {r['value']}"
            emit(Message(k, "return", me, _caller(s.routine), what))
        elif _npi(k, me, note):
            out.extend(_npi(k, me, note))
        elif note.startswith(_STARTS):
            emit(Message(k, "call", OS, me, note))
        elif note.startswith("NMR "):
            emit(Message(k, "note", NMR, NMR, note))
        else:
            emit(Message(k, "note", me, me, note))
    out.extend(later)
    return out


def _npi(k: int, me: str, note: str) -> list[Message]:
    """The arrow of an NPI call from ``me`` into another driver, or of its return."""
    call, back = _NPI_CALL.match(note), _NPI_RETURN.match(note)
    if call:
        return [Message(k, "call", me, call["target"], call["fn"])]
    if back:
        return [Message(k, "return", back["target"], me, f"{back['fn']} returns")]
    return []


def _nmr_call(k: int, me: str, m: re.Match[str]) -> list[Message]:
    """The arrows of one NMR API call of driver ``me`` (matched by ``_NMR_CALL``)."""
    out = []
    call, args, status = m["call"], m["args"], m["status"]
    if m["arrow"] == " returns ":  # the return of a call made in an earlier step
        return [Message(k, "return", NMR, me, f"{call} returns {status}")]
    if args is not None or not (status or m["callee"]):
        out.append(Message(k, "call", me, NMR, call + (args or "")))
    if m["callee"]:
        out.append(Message(k, "call", NMR, m["callee"], f"{m['callback']}{args or ''}"))
    if m["comment"]:
        out.append(Message(k, "note", NMR, NMR, f"{m['comment']}"))
    if status:
        out.append(
            Message(k, "return", NMR, me, status if args is not None else f"{call} -> {status}")
        )
    return out


def _closing_notes(
    ts: TransitionSystem, r: PropertyResult, p: Property | None, steps: list[Step]
) -> list[Message]:
    """Notes on what the run ends in: the violated property, or the thread blocked forever."""
    last = steps[-1] if steps else None
    where = NMR if last is None or last.kind in ("nmr", "callback") else last.actor
    if r.property == HANG:
        out = []
        actors = {sl.name: sl.meta.get("actor", sl.name) for sl in ts.slots}
        stuck = [ts.slots[k].name for k in r.stats.get("blocked_slots", [])]
        for name, msg in zip(stuck, hang_message(ts, r)):
            out.append(Message(0, "note", actors.get(name, NMR), actors.get(name, NMR), msg, True))
        return out or [Message(0, "note", where, where, f"{HANG} violated", True)]
    if last is not None and last.fault == r.property:
        return []  # the step's own fault note already says it
    word = "reached" if r.verdict == "witnessed" else "violated"
    out = [Message(0, "note", where, where, f"{r.property} {word}", True)]
    loop = loop_message(r)  # a lasso: how the run goes on forever
    if loop is not None:
        out.append(Message(0, "note", where, where, loop))
    return out


def sequence(ts: TransitionSystem, r: PropertyResult) -> tuple[list[str], list[Message]]:
    """The participants and messages of the trace of ``r``, in order.

    Participants are the OS (when it acts), every driver instance, then NMR.
    """
    steps = describe(ts, r.trace, prop=r.property)
    props = {p.name: p for p in ts.properties}
    msgs: list[Message] = []
    for s in steps:
        msgs.extend(step_messages(s))
        if s.fault:
            where = s.actor if s.kind == "step" else NMR
            msgs.append(Message(s.index, "note", where, where, f"{s.fault}: {s.fault_msg}", True))
    msgs.extend(_closing_notes(ts, r, props.get(r.property), steps))
    names = drivers(ts)
    for m in msgs:
        for n in (m.src, m.dst):
            if n not in names and n not in (NMR, OS):
                names.append(n)
    uses_os = any(OS in (m.src, m.dst) for m in msgs)
    return ([OS] if uses_os else []) + names + [NMR], msgs


# -- Mermaid text ---------------------------------------------------------------------------
_KEYWORDS = {
    "participant", "actor", "as", "note", "over", "left", "right", "of", "loop", "alt", "else",
    "opt", "par", "and", "rect", "end", "critical", "break", "box", "activate", "deactivate",
    "autonumber", "title", "link", "links", "properties", "details", "create", "destroy",
}  # fmt: skip


def participant_ids(names: list[str]) -> dict[str, str]:
    """A valid, unique Mermaid id for each participant name: ``ExampleClient[1]`` ->
    ``ExampleClient_1`` (declared ``participant ExampleClient_1 as ExampleClient[1]``)."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for n in names:
        base = re.sub(r"\W+", "_", n).strip("_") or "P"
        if base[0].isdigit() or base.lower() in _KEYWORDS:
            base = "P_" + base
        pid, k = base, 2
        while pid in used:
            pid, k = f"{base}_{k}", k + 1
        used.add(pid)
        ids[n] = pid
    return ids


def escape(text: str) -> str:
    """Message text that Mermaid shows as is: ``;`` and ``#`` would end or encode a message and
    ``<`` may start markup, so they become their full-width look-alikes (entity codes such as
    ``#59;`` are not decoded by every renderer)."""
    codes = {"#": "\uff03", ";": "\uff1b", "<": "\uff1c", "\n": " "}
    return re.sub(r"[#;<\n]", lambda m: codes[m.group()], text)


def _wrap(text: str, width: int = NOTE_WIDTH) -> str:
    """Escaped note text: one line per statement, broken at about ``width`` characters, the
    lines joined with ``<br/>``."""
    lines = [x for part in text.split("\n") for x in textwrap.wrap(part, width) or [part]]
    return "<br/>".join(escape(x) for x in lines)


def diagram(names: list[str], msgs: list[Message]) -> str:
    """The ``sequenceDiagram`` text (without Markdown fences)."""
    ids = participant_ids(names)
    lines = ["sequenceDiagram"]
    for n in names:
        lines.append(f"    participant {ids[n]} as {escape(n)}")
    arrow = {"call": "->>", "return": "-->>"}
    seen: set[int] = set()
    faulty = {m.step for m in msgs if m.fault and m.step}
    in_rect = 0
    for m in msgs:
        if m.step != in_rect and in_rect:
            lines.append("    end")
            in_rect = 0
        if m.step in faulty and m.step != in_rect:
            lines.append("    rect rgb(255, 228, 228)")
            in_rect = m.step
        label = m.text
        if m.step and m.step not in seen:
            seen.add(m.step)
            label = f"[{m.step}] {label}"
        pad = "        " if in_rect else "    "
        if m.kind == "note":
            text = ("!! " if m.fault else "") + label
            lines.append(f"{pad}Note over {ids[m.src]}: {_wrap(text)}")
        else:
            lines.append(f"{pad}{ids[m.src]}{arrow[m.kind]}{ids[m.dst]}: {escape(label)}")
    if in_rect:
        lines.append("    end")
    return "\n".join(lines) + "\n"


def render_trace(ts: TransitionSystem, r: PropertyResult) -> str:
    """The Mermaid sequence diagram of the trace of ``r``."""
    names, msgs = sequence(ts, r)
    return diagram(names, msgs)


def traces(ts: TransitionSystem, result: CheckResult) -> list[PropertyResult]:
    """The results that have a trace to show, in report order."""
    return [
        r
        for r in ordered(ts, result.results)
        if r.trace is not None and r.verdict in SHOWN_VERDICTS
    ]


def render(ts: TransitionSystem, result: CheckResult, model: str, level: int = 1) -> str:
    """A Markdown section for one model: one ```mermaid block per counterexample."""
    props = {p.name: p for p in ts.properties}
    h = "#" * level
    out = [f"{h} {model}", ""]
    shown = traces(ts, result)
    if not shown:
        out += ["No counterexample: no property is violated.", ""]
    for r in shown:
        p = props.get(r.property)
        kind = "Witness" if r.verdict == "witnessed" else "Counterexample"
        out += [
            f"{h}# {r.property}: {r.verdict}",
            "",
            f"{meaning(p, r.property)} (defined at {defined_at(p, r.property)})",
            "",
            f"{kind}, {len(r.trace)} steps:",
            "",
            "```mermaid",
            render_trace(ts, r).rstrip("\n"),
            "```",
            "",
        ]
    return "\n".join(out)
