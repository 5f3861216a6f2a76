"""The fairness assumptions of a compiled design, for liveness properties.

Liveness properties (``eventually``, ``leads_to``) speak about the *fair* runs only: runs in
which nothing that must eventually happen is postponed forever. nmrcheck assumes, by default:

* every **thread** that is running (DriverEntry, Unload, a callback, a started task or work
  item) is strongly fair: if it can take a step again and again, it takes steps again and
  again (``thread D``). For a thread whose next statement can always run this is plain weak
  fairness; for one waiting in ``acquire``, ``await`` or ``NmrWaitFor*`` it means a lock
  that is released again and again, or a condition that comes true again and again, is
  eventually seen;
* every **queued work item** is eventually started (``work item D.W``, strong, like a
  thread that waits for its first statement);
* each thing **NMR** does is weakly fair, grouped by what it does: the offer of one binding,
  the call of one detach callback (one side of one binding), the start of one binding's
  cleanup, the call of one cleanup callback, the drain of one registration. Whether NMR
  runs it on its own thread or nested inside an ``NmrRegister*``/``NmrDeregister*`` call
  does not matter: the group is taken either way.

Not forced: the **OS calling Unload**, and the **start of a task** (``task NAME when
(...)``): the environment may never do them. A model says otherwise for a task or work item
with a driver member ``fair NAME`` (its start is weakly fair) or ``fair strong NAME`` (each of
its steps, the start included, separately for each way its conditions can come out, is
strongly fair: a step that is possible again and again is taken again and again).
"""

from __future__ import annotations

from nmrcheck.errors import Finding, InputError
from nmrcheck.ir import STRONG, WEAK, Fairness, TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.nmr.design import suggest

THREADS = STRONG  # the kind of the per-thread groups (see the module docstring)
WORK_ITEMS = STRONG
NMR = WEAK
_NESTED = " (inside the "  # the label suffix of a callback run nested in a caller's call


def _starts(ts: TransitionSystem) -> set[int]:
    """The actions that start an idle thread (a task or work item whose first step it is)."""
    out = set()
    for ai, a in enumerate(ts.actions):
        if a.slot < 0:
            continue
        slot = ts.slots[a.slot]
        for c in E.conjuncts(a.guard):
            if (
                c.op == "eq"
                and c.args[0].op == "var"
                and c.args[0].val == slot.pc
                and c.args[1].op == "const"
                and c.args[1].val == slot.idle
            ):
                out.add(ai)
                break
    return out


def fairness(ts: TransitionSystem) -> list[Fairness]:
    """The fairness groups of the compiled design ``ts`` (module docstring); raises
    InputError for a ``fair`` declaration that names no task or work item."""
    comp = ts.meta["compiler"]
    design = comp.design
    starts = _starts(ts)
    by_slot: dict[int, list[int]] = {}
    for ai, a in enumerate(ts.actions):
        by_slot.setdefault(a.slot, []).append(ai)
    items = {slot.id for key, slot in comp.tasks.items() if key in comp.queued}
    groups: list[Fairness] = []
    for k, slot in enumerate(ts.slots):
        running = tuple(a for a in by_slot.get(k, []) if a not in starts)
        if running:
            groups.append(Fairness(f"thread {slot.name}", THREADS, running))
        if k in items:
            started = tuple(a for a in by_slot.get(k, []) if a in starts)
            if started:
                groups.append(Fairness(f"work item {slot.name} starts", WORK_ITEMS, started))
    nmr: dict[str, list[int]] = {}
    for ai in by_slot.get(-1, []):
        a = ts.actions[ai]
        if a.meta.get("actor") == "OS":
            continue  # the OS calling Unload: never forced
        nmr.setdefault(a.label.split(_NESTED)[0], []).append(ai)
    for name, acts in nmr.items():
        groups.append(Fairness(name, NMR, tuple(acts)))
    groups += _declared(ts, comp, design, starts, by_slot)
    return groups


def _unload_fair(ts: TransitionSystem, design, driver: str) -> list[Fairness]:
    """``fair Unload``: the OS eventually calls the driver's Unload (weakly fair), an
    assumption about who stops the driver (a service stopped before the ones it uses)."""
    out = []
    for d in design.instances_of(driver):
        acts = tuple(
            ai
            for ai, a in enumerate(ts.actions)
            if a.meta.get("actor") == "OS" and a.meta.get("callee") == d.name
        )
        if acts:
            out.append(Fairness(f"OS calls {d.name} Unload (fair)", WEAK, acts))
    return out


def _declared(ts, comp, design, starts, by_slot) -> list[Fairness]:
    findings: list[Finding] = []
    out: list[Fairness] = []
    for decl in design.model.drivers:
        names = [t.name for t in decl.tasks]
        for f in decl.fairness:
            if f.name == "Unload" and any(r.name == "Unload" for r in decl.routines):
                out += _unload_fair(ts, design, decl.name)
                continue
            if f.name not in names:
                findings.append(
                    Finding(
                        f.pos.file,
                        f.pos.line,
                        f.pos.col,
                        f"'fair' names no task or work item of {decl.name}: "
                        f"{f.name!r}{suggest(f.name, names)}",
                    )
                )
                continue
            insts = {d.id for d in design.instances_of(decl.name)}
            for key, slot in sorted(comp.tasks.items(), key=lambda kv: kv[1].id):
                if key[0] not in insts or key[1] != f.name:
                    continue
                acts = by_slot.get(slot.id, [])
                owner = ts.slots[slot.id].name
                if f.strong:
                    for ai in acts:
                        out.append(Fairness(f"{owner}: {ts.actions[ai].label}", STRONG, (ai,)))
                else:
                    started = tuple(a for a in acts if a in starts)
                    if started:
                        out.append(Fairness(f"{owner} starts (fair)", WEAK, started))
    if findings:
        raise InputError(findings)
    return out
