"""Read a saved trace (a ``--json`` report or an ITF file) back into a Trace of a model.

:func:`read` parses the file into :class:`SavedTrace` objects (bad files raise InputError);
:func:`rebuild` re-executes one on a TransitionSystem, step by step, and returns the Trace, or
raises :class:`Divergence` naming the first step the model cannot take.

An ITF file (``--itf``) holds every variable of every state and each step's action label, so a
step matches when the action with that label is enabled and leads to exactly the saved state.
A ``--json`` report holds each step's description and the design variables it changed, so a
step matches an enabled action with the same description and changes (when several do, the
one that lets the rest of the trace replay is taken).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmrcheck.errors import Finding, InputError, NmrcheckError
from nmrcheck.ir import TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.system import Var
from nmrcheck.ir.trace import Trace
from nmrcheck.traces.steps import Step, describe, is_internal

MAX_BYTES = 64 * 1024 * 1024
SEARCH_LIMIT = 200_000  # candidate steps tried when matching a --json trace
# --json step key -> Step attribute: what a step must agree on to match. Its file and line are
# provenance, not behaviour (they move when a comment is added): they only order candidates.
STEP_FIELDS = {
    "actor": "actor",
    "routine": "routine",
    "kind": "kind",
    "callee": "callee",
    "action": "text",
    "status": "status",
    "binding": "binding",
    "violates": "fault",
}


class Divergence(NmrcheckError):
    """The saved trace is not a run of the model: ``step`` (0 = the initial state) and why;
    ``replayed`` is the run of the steps before it, when there is one."""

    def __init__(self, step: int, why: str, replayed: Trace | None = None):
        self.step, self.why, self.replayed = step, why, replayed
        super().__init__(f"diverges at step {step}: {why}")


@dataclass(frozen=True)
class SavedStep:
    """One step as saved: an ITF state with its action label, or a --json step object."""

    index: int  # 1-based
    label: str | None = None
    action_index: int | None = None
    state: dict[str, Any] | None = None  # ITF: the state after the step, raw JSON values
    fields: dict[str, Any] | None = None  # --json: the step object


@dataclass(frozen=True)
class SavedTrace:
    """A trace read from a file, not yet matched against a model."""

    format: str  # "itf" or "json"
    file: str
    model: str | None
    property: str | None
    verdict: str | None
    initial: dict[str, Any] | None  # ITF: the first state
    steps: tuple[SavedStep, ...]
    loop: int | None = None
    specs: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()  # the --option knobs of the run that saved it

    def __len__(self) -> int:
        return len(self.steps)


# -- reading --------------------------------------------------------------------------------
def _bad(path: str, why: str, line: int = 0, col: int = 0) -> InputError:
    return InputError(Finding(path, line, col, why))


def read_json(path: str) -> Any:
    """The JSON value in ``path``; InputError (exit 2) when it cannot be read or parsed."""
    p = Path(path)
    try:
        if p.is_dir():
            raise _bad(path, "is a directory, not a trace file")
        data = p.read_bytes()
    except FileNotFoundError:
        raise _bad(path, "no such file") from None
    except OSError as exc:
        raise _bad(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise _bad(path, f"file is larger than {MAX_BYTES} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad(path, "not a trace file: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _bad(
            path, f"not a trace file: invalid JSON: {exc.msg}", exc.lineno, exc.colno
        ) from None


def read(path: str, model: str | None = None, prop: str | None = None) -> list[SavedTrace]:
    """The traces saved in ``path`` (ITF, or a ``--json`` report) for ``model``.

    From a ``--json`` report: the traces of the model entry matching ``model`` (or the only
    one), restricted to property ``prop`` when given.
    """
    doc = read_json(path)
    if isinstance(doc, dict) and "states" in doc and "vars" in doc:
        t = _read_itf(path, doc)
        if prop is not None and t.property is not None and t.property != prop:
            raise _bad(path, f"this ITF trace is for {t.property!r}, not {prop!r}")
        return [t]
    if isinstance(doc, dict) and isinstance(doc.get("models"), list):
        entry = _pick_model(path, doc["models"], model)
    elif isinstance(doc, dict) and isinstance(doc.get("properties"), list):
        entry = doc
    else:
        raise _bad(
            path,
            "not a trace file: expected an ITF trace (with 'vars' and 'states') or an "
            "nmrcheck --json report (with 'models')",
        )
    return _read_json_entry(path, entry, prop)


def _pick_model(path: str, models: list[Any], model: str | None) -> dict[str, Any]:
    entries = [m for m in models if isinstance(m, dict)]
    if not entries:
        raise _bad(path, "the report has no model")
    if model is not None:
        for m in entries:
            if m.get("model") == model:
                return m
        want = Path(model).resolve()
        for m in entries:
            if isinstance(m.get("model"), str) and Path(m["model"]).resolve() == want:
                return m
        same = [m for m in entries if Path(str(m.get("model"))).name == Path(model).name]
        if len(same) == 1:
            return same[0]
    if len(entries) == 1:
        return entries[0]
    names = ", ".join(str(m.get("model")) for m in entries)
    raise _bad(path, f"the report has no model {model!r} (it has {names})")


def _read_json_entry(path: str, entry: dict[str, Any], prop: str | None) -> list[SavedTrace]:
    props = entry.get("properties")
    if not isinstance(props, list):
        raise _bad(path, "a model entry has no 'properties' list")
    out = []
    names = []
    for e in props:
        if not isinstance(e, dict) or "trace" not in e:
            continue
        name = e.get("property")
        names.append(str(name))
        if prop is not None and name != prop:
            continue
        trace = e["trace"]
        if not isinstance(trace, list) or not all(isinstance(s, dict) for s in trace):
            raise _bad(path, f"the trace of {name!r} is not a list of step objects")
        steps = []
        for k, s in enumerate(trace, 1):
            ch = s.get("changes", {})
            if not isinstance(ch, dict) or not all(
                isinstance(v, list) and len(v) == 2 for v in ch.values()
            ):
                raise _bad(path, f"step {k} of {name!r}: 'changes' is not a map to [old, new]")
            label = s.get("label")
            steps.append(SavedStep(k, label=label if isinstance(label, str) else None, fields=s))
        out.append(
            SavedTrace(
                "json",
                path,
                entry.get("model"),
                name,
                e.get("verdict"),
                None,
                tuple(steps),
                e.get("loop_start") if isinstance(e.get("loop_start"), int) else None,
            )
        )
    if prop is not None and not out:
        have = f" (traces: {', '.join(names)})" if names else " (it has no trace)"
        raise _bad(path, f"the report has no trace of {prop!r}{have}")
    if not out:
        raise _bad(path, "the report has no trace (no property is violated or witnessed)")
    return out


def _read_itf(path: str, doc: dict[str, Any]) -> SavedTrace:
    states, names = doc.get("states"), doc.get("vars")
    if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
        raise _bad(path, "ITF: 'vars' is not a list of names")
    if not isinstance(states, list) or not states:
        raise _bad(path, "ITF: 'states' is not a non-empty list")
    for i, s in enumerate(states):
        if not isinstance(s, dict):
            raise _bad(path, f"ITF: states[{i}] is not an object")
        m = s.get("#meta", {})
        if not isinstance(m, dict):
            raise _bad(path, f"ITF: states[{i}].#meta is not an object")
    meta = doc.get("#meta", {})
    if not isinstance(meta, dict):
        raise _bad(path, "ITF: '#meta' is not an object")
    loop = doc.get("loop")
    if loop is not None and (not isinstance(loop, int) or not 0 <= loop < len(states)):
        raise _bad(path, f"ITF: 'loop' is not a state index: {loop!r}")
    prop = meta.get("property")
    pname = prop.get("name") if isinstance(prop, dict) else prop if isinstance(prop, str) else None
    verdict = prop.get("verdict") if isinstance(prop, dict) else None
    steps = []
    for i, s in enumerate(states[1:], 1):
        m = s.get("#meta", {})
        label = m.get("action")
        idx = m.get("action_index")
        steps.append(
            SavedStep(
                i,
                label=label if isinstance(label, str) else None,
                action_index=idx if isinstance(idx, int) and not isinstance(idx, bool) else None,
                state=_values(s),
            )
        )
    specs = meta.get("specs")
    knobs = meta.get("options")
    if not isinstance(knobs, dict) or not all(isinstance(v, str) for v in knobs.values()):
        knobs = {}
    return SavedTrace(
        "itf",
        path,
        meta.get("source") if isinstance(meta.get("source"), str) else None,
        pname if isinstance(pname, str) else None,
        verdict if isinstance(verdict, str) else None,
        _values(states[0]),
        tuple(steps),
        loop,
        tuple(x for x in specs if isinstance(x, str)) if isinstance(specs, list) else (),
        tuple(sorted(knobs.items())),
    )


def _values(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "#meta" and not k.startswith("mbt::")}


# -- matching against a model ---------------------------------------------------------------
def itf_labels(v: Var) -> tuple[str, ...] | None:
    """The ITF strings of an enum variable's values: its labels, made unique (two program
    counter values may read alike) by `` @VALUE`` on a label that occurs more than once."""
    if v.labels is None:
        return None
    seen = Counter(v.labels)
    return tuple(x if seen[x] == 1 else f"{x} @{v.lo + i}" for i, x in enumerate(v.labels))


def decode(v: Var, raw: Any) -> int | None:
    """The value of ``v`` written as ITF ``raw``, or None if it is not one of its values."""
    if isinstance(raw, dict) and set(raw) == {"#bigint"} and isinstance(raw["#bigint"], str):
        try:
            raw = int(raw["#bigint"])
        except ValueError:
            return None
    if v.type == E.BOOL:
        return int(raw) if isinstance(raw, bool) else None
    labels = itf_labels(v)
    if labels is not None:
        if isinstance(raw, str) and raw in labels:
            return v.lo + labels.index(raw)
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and v.lo <= raw <= v.hi:
        return raw
    return None


def state_of(ts: TransitionSystem, values: dict[str, Any], step: int) -> dict[int, int]:
    """The values of an ITF state, by variable index; Divergence when they do not fit the model.

    Bookkeeping variables (program counters, fault flags) that only one side has are skipped,
    so a trace still replays on a model whose bookkeeping changed; a design variable that
    only one side has is a divergence.
    """
    # bookkeeping the model does not know (a program counter of a changed routine) is
    # skipped too: the steps themselves then say where the trace and the model part
    values = {
        n: x
        for n, x in values.items()
        if not is_internal(n) or any(v.name == n and decode(v, x) is not None for v in ts.vars)
    }
    missing = [v.name for v in ts.vars if v.name not in values and not is_internal(v.name)]
    if missing:
        raise Divergence(step, f"the trace has no value for {_names(missing)} of the model")
    known = {v.name for v in ts.vars}
    extra = sorted(n for n in values if n not in known and not is_internal(n))
    if extra:
        raise Divergence(step, f"the model has no variable {_names(extra)}")
    out = {}
    for i, v in enumerate(ts.vars):
        if v.name not in values:
            continue
        x = decode(v, values[v.name])
        if x is None:
            shown = json.dumps(values[v.name])
            domain = ", ".join(itf_labels(v) or ()) or f"{v.lo}..{v.hi}"
            if v.type == E.BOOL:
                domain = "true, false"
            raise Divergence(step, f"{v.name} = {shown} is not a value of it ({domain})")
        out[i] = x
    return out


def _fits(s: tuple[int, ...], saved: dict[int, int]) -> bool:
    return all(s[i] == x for i, x in saved.items())


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return shown


def state_diff(ts: TransitionSystem, here: tuple[int, ...], saved: dict[int, int]) -> str:
    """``X is A here, the trace says B`` for the first variables that differ."""
    # design variables first: bookkeeping (program counters) says less
    order = sorted(saved.items(), key=lambda kv: (is_internal(ts.vars[kv[0]].name), kv[0]))
    diffs = [_differs(ts.vars[i], here[i], x) for i, x in order if here[i] != x]
    more = f" (and {len(diffs) - 3} more)" if len(diffs) > 3 else ""
    return "; ".join(diffs[:3]) + more


def _differs(v: Var, here: int, saved: int) -> str:
    """One difference in words: a program counter as the statement its thread is at."""
    if not v.name.endswith(".pc"):
        return f"{v.name} is {v.show(here)} here, the trace says {v.show(saved)}"
    owner = v.name[: -len(".pc")]

    def at(x: int) -> str:
        label = v.show(x)
        if label == "idle":
            return "runs nothing"
        routine, _, stmt = label.partition(": ")
        return f"is in {routine} at '{stmt}'"

    return f"{owner} {at(here)} here; in the trace it {at(saved)}"


def rebuild(ts: TransitionSystem, saved: SavedTrace) -> Trace:
    """Re-execute ``saved`` on ``ts`` from its initial state; the Trace, or Divergence."""
    if saved.format == "itf":
        trace = _rebuild_itf(ts, saved)
    else:
        trace = _rebuild_json(ts, saved)
    if saved.loop is not None:
        last, back = trace.states[-1], trace.states[saved.loop]
        stutter = saved.loop == len(trace.states) - 1  # the run stays in its last state
        if not stutter and not any(ts.fire(a, last) == back for a in ts.enabled(last)):
            raise Divergence(
                len(trace), f"no step leads from the last state back to state {saved.loop}"
            )
        trace = Trace(trace.states, trace.actions, saved.loop)
    return trace


def _rebuild_itf(ts: TransitionSystem, saved: SavedTrace) -> Trace:
    first = state_of(ts, saved.initial or {}, 0)
    s = ts.initial_state()
    if not _fits(s, first):
        raise Divergence(0, f"the first state is not the initial state: {state_diff(ts, s, first)}")
    states, actions = [s], []
    for st in saved.steps:
        k = st.index
        target = state_of(ts, st.state or {}, k)
        enabled = ts.enabled(s)
        cands = [a for a in enabled if st.label is None or ts.actions[a].label == st.label]
        if st.action_index in cands:
            cands.remove(st.action_index)
            cands.insert(0, st.action_index)
        chosen = next((a for a in cands if _fits(ts.fire(a, s), target)), None)
        if chosen is None:
            why = _itf_why(ts, s, st.label, cands, enabled, target)
            raise Divergence(k, why, Trace(tuple(states), tuple(actions)))
        s = ts.fire(chosen, s)
        states.append(s)
        actions.append(chosen)
    return Trace(tuple(states), tuple(actions))


def _itf_why(
    ts: TransitionSystem,
    s: tuple[int, ...],
    label: str | None,
    cands: list[int],
    enabled: list[int],
    target: dict[int, int],
) -> str:
    if label is None:
        return "no enabled action leads to the saved state"
    if cands:
        return f"'{label}' leads to another state: {state_diff(ts, ts.fire(cands[0], s), target)}"
    other = next((a for a in enabled if _fits(ts.fire(a, s), target)), None)
    why = f"'{label}' is not enabled here"
    if other is not None:
        return why + f" (the model reaches the saved state by '{ts.actions[other].label}')"
    if not any(a.label == label for a in ts.actions):
        return why + " (the model has no such action)"
    return why


def _one_step(
    ts: TransitionSystem, s: tuple[int, ...], a: int, prop: str | None = None
) -> tuple[tuple[int, ...], Step]:
    """The state after action ``a`` and its step, which says what it breaks of spec
    invariant ``prop`` when given (the last step of that property's trace)."""
    t = ts.fire(a, s)
    return t, describe(ts, Trace((s, t), (a,)), prop=prop)[0]


def _matches(want: dict[str, Any], label: str | None, got: Step, act_label: str) -> bool:
    if label is not None and label != act_label:
        return False
    for key, attr in STEP_FIELDS.items():
        if key in want and want[key] != getattr(got, attr):
            return False
    if "message" in want and (want["message"] or "") != (got.fault_msg or ""):
        return False
    if "changes" in want:
        have = {n: [a, b] for n, a, b in got.changes}
        if want["changes"] != have:
            return False
    return True


def _rebuild_json(ts: TransitionSystem, saved: SavedTrace) -> Trace:
    steps = saved.steps
    s0 = ts.initial_state()
    # depth-first search over the enabled actions that match each saved step
    stack: list[tuple[int, tuple[int, ...], list[int], list[tuple[int, ...]]]] = [(0, s0, [], [s0])]
    deepest, at, best = -1, s0, Trace((s0,), ())
    tried = 0
    while stack:
        k, s, acts, sts = stack.pop()
        if k == len(steps):
            return Trace(tuple(sts), tuple(acts))
        if k > deepest:
            deepest, at, best = k, s, Trace(tuple(sts), tuple(acts))
        want = steps[k]
        f = want.fields or {}
        nxt = []
        last = saved.property if k == len(steps) - 1 else None
        for a in ts.enabled(s):
            tried += 1
            t, got = _one_step(ts, s, a, last)
            if _matches(f, want.label, got, ts.actions[a].label):
                same_line = got.line == f.get("line")
                nxt.append((same_line, (k + 1, t, acts + [a], sts + [t])))
        # the last pushed is tried first: candidates on the saved line first, then in order
        nxt.sort(key=lambda c: c[0])
        stack.extend(c for _, c in reversed(nxt))
        if tried > SEARCH_LIMIT:
            break
    raise Divergence(deepest + 1, _json_why(ts, at, steps[deepest]), best)


def _step_words(f: dict[str, Any]) -> str:
    who = f.get("actor") or "?"
    if f.get("routine") and f.get("kind") == "step":
        who += f" {f['routine']}"
    return f"{who}: {f.get('action')}"


def _json_why(ts: TransitionSystem, s: tuple[int, ...], want: SavedStep) -> str:
    f = want.fields or {}
    enabled = ts.enabled(s)
    same = []
    for a in enabled:
        t, got = _one_step(ts, s, a)
        if got.text == f.get("action") and got.actor == f.get("actor"):
            same.append(got)
    if same:
        got = same[0]
        have = {n: [a, b] for n, a, b in got.changes}
        want_ch = f.get("changes", {})
        diff = [
            f"{n}: {' -> '.join(have.get(n) or ['unchanged'])} here, the trace says "
            f"{' -> '.join(want_ch.get(n) or ['unchanged'])}"
            for n in sorted(set(have) | set(want_ch))
            if have.get(n) != want_ch.get(n)
        ]
        if diff:
            return f"'{_step_words(f)}' changes other variables: " + "; ".join(diff[:3])
        for key, attr in STEP_FIELDS.items():
            if key in f and f[key] != getattr(got, attr):
                return (
                    f"'{_step_words(f)}' differs in {key}: "
                    f"{getattr(got, attr)!r} here, the trace says {f[key]!r}"
                )
        return f"'{_step_words(f)}' does not match the saved step"
    shown = []
    for a in enabled[:4]:
        _, got = _one_step(ts, s, a)
        shown.append(f"'{got.actor}: {got.text}'")
    more = f" and {len(enabled) - 4} more" if len(enabled) > 4 else ""
    here = f"enabled here: {', '.join(shown)}{more}" if shown else "nothing is enabled here"
    return f"'{_step_words(f)}' is not enabled here ({here})"
