"""Render check results as one self-contained HTML file (inline CSS, JS and SVG; no network).

For each model: the verdict of every property; for each counterexample a sequence diagram
drawn as inline SVG (the messages of :func:`nmrcheck.report.mermaid.sequence`), the steps with
a collapsible table of the full state after each one, and the model source with the steps'
lines highlighted (clicking a step, or an arrow of the diagram, marks its line).
"""

from __future__ import annotations

import textwrap
from html import escape

from nmrcheck import __version__
from nmrcheck.engines.common.results import CheckResult, PropertyResult
from nmrcheck.ir import TransitionSystem
from nmrcheck.report.describe import defined_at, hang_message, loop_message, meaning, ordered
from nmrcheck.report.mermaid import Message, sequence, traces
from nmrcheck.report.text import VERDICT_WORD, reproduce
from nmrcheck.traces.steps import Step, describe, is_internal

CHAR_W = 7.2  # width of one character of the 12px monospace font used in the diagram
ROW_H = 26
NOTE_LINE_H = 15
LEFT = 48  # room for the step numbers
TOP = 12
BOX_H = 30
FIT_WIDTH = 1180  # a diagram grows to about this wide before its labels are cut

CSS = """
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bad:#cf222e; --good:#1a7f37;
  --warn:#9a6700; --hit:#fff8c5; --act:#ffd33d; --badbg:#ffebe9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  margin: 0 auto; padding: 16px 24px 48px; max-width: 1600px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 6px; }
h3 { font-size: 16px; margin: 22px 0 4px; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 12px; }
.muted { color: var(--muted); }
.verdict { font-weight: 600; }
.v-holds, .v-unreachable { color: var(--good); }
.v-violated { color: var(--bad); }
.v-unknown, .v-proof-failed, .v-holds-up-to-bound, .v-witnessed { color: var(--warn); }
table { border-collapse: collapse; }
table.verdicts td, table.verdicts th { border-bottom: 1px solid var(--line); padding: 3px 10px;
  text-align: left; vertical-align: top; }
section.model { border-top: 2px solid var(--line); margin-top: 18px; }
section.trace { margin: 10px 0 30px; padding: 0 0 0 12px; border-left: 4px solid var(--bad); }
figure.seq { margin: 8px 0; overflow-x: auto; border: 1px solid var(--line); border-radius: 6px;
  background: #fff; }
svg.seq text { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 12px; }
svg.seq .lifeline { stroke: #8c959f; stroke-dasharray: 4 3; }
svg.seq .pbox { fill: #eef1ff; stroke: #6e7781; }
svg.seq .call line { stroke: #24292f; } svg.seq .return line { stroke: #57606a;
  stroke-dasharray: 5 3; }
svg.seq .note rect { fill: #fff8c5; stroke: #d4a72c; }
svg.seq .note.fault rect { fill: #ffebe9; stroke: var(--bad); }
svg.seq .faultband { fill: #ffebe9; opacity: .6; }
svg.seq g.msg { cursor: pointer; } svg.seq g.msg.active text { font-weight: 700; fill: #0969da; }
svg.seq .stepno { fill: var(--muted); }
.cols { display: flex; gap: 16px; align-items: flex-start; }
.cols > .steps-wrap { flex: 3; min-width: 0; }
.cols > .source { flex: 2; min-width: 280px; position: sticky; top: 0; max-height: 90vh;
  overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
table.steps { width: 100%; }
table.steps td { padding: 3px 6px; vertical-align: top; border-bottom: 1px solid #eaeef2; }
tr.step { cursor: pointer; } tr.step:hover { background: #f6f8fa; }
tr.step.active { background: var(--act); }
tr.step.fault td { background: var(--badbg); }
tr.faultmsg td { color: var(--bad); font-weight: 600; border-bottom: none; }
tr.state td { border-bottom: 1px solid var(--line); padding-bottom: 6px; }
details summary { cursor: pointer; color: var(--muted); font-size: 12px; }
table.state td { padding: 1px 8px; border: none; font-size: 12px; }
table.state tr.changed td { background: var(--hit); font-weight: 600; }
table.state tr.internal td { color: var(--muted); }
.source pre { margin: 0; padding: 6px 0; }
.source .ln { display: inline-block; width: 3.5em; padding-right: 8px; text-align: right;
  color: var(--muted); user-select: none; }
.source .line { display: block; padding-right: 8px; white-space: pre; }
.source .line.hit { background: var(--hit); }
.source .line.fault { background: var(--badbg); }
.source .line.active { background: var(--act); outline: 1px solid #bf8700; }
.source .title { padding: 4px 8px; border-bottom: 1px solid var(--line); background: #f6f8fa; }
.note-box { color: var(--bad); }
"""

JS = """
(function () {
  function select(sec, step) {
    sec.querySelectorAll('.active').forEach(function (e) { e.classList.remove('active'); });
    var row = sec.querySelector('tr.step[data-step="' + step + '"]');
    sec.querySelectorAll('g.msg[data-step="' + step + '"]').forEach(function (g) {
      g.classList.add('active'); });
    if (!row) { return; }
    row.classList.add('active');
    var src = sec.querySelector('.source');
    var line = row.getAttribute('data-line');
    if (src && line) {
      var el = src.querySelector('.line[data-line="' + line + '"]');
      if (el) { el.classList.add('active');
        src.scrollTop = el.offsetTop - src.clientHeight / 2; }
    }
  }
  document.querySelectorAll('section.trace').forEach(function (sec) {
    sec.addEventListener('click', function (ev) {
      var t = ev.target.closest('[data-step]');
      if (t && sec.contains(t)) { select(sec, t.getAttribute('data-step')); }
    });
    sec.addEventListener('keydown', function (ev) {
      var t = ev.target.closest('tr.step');
      if (t && (ev.key === 'Enter' || ev.key === ' ')) {
        ev.preventDefault(); select(sec, t.getAttribute('data-step')); }
    });
  });
  var id = decodeURIComponent(location.hash.slice(1));
  var target = id && document.getElementById(id);
  if (target && target.matches('tr.step')) {
    select(target.closest('section.trace'), target.getAttribute('data-step'));
  }
})();
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _fit(text: str, width: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels."""
    n = max(4, int(width / CHAR_W))
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _columns(
    names: list[str], msgs: list[Message]
) -> tuple[dict[str, float], dict[str, float], float]:
    """Where each lifeline goes, each participant box's width, and the diagram's width.

    Each gap between neighbouring lifelines is as wide as the longest label of an arrow over
    it (an arrow over several gaps shares its width among them), within FIT_WIDTH overall;
    labels that still do not fit are cut.
    """
    col = {n: i for i, n in enumerate(names)}
    boxw = {n: max(90.0, len(n) * CHAR_W + 20) for n in names}
    least = [(boxw[a] + boxw[b]) / 2 + 12 for a, b in zip(names, names[1:])]
    gaps = list(least)
    spans = sorted(
        ((abs(col[m.src] - col[m.dst]), min(col[m.src], col[m.dst]), len(m.text))
         for m in msgs if m.kind != "note"),
    )  # fmt: skip
    for span, lo, chars in spans:
        if span == 0:
            continue
        need = (chars + 2) * CHAR_W + 16
        have = sum(gaps[lo : lo + span])
        if have < need:
            for g in range(lo, lo + span):
                gaps[g] += (need - have) / span
    room = FIT_WIDTH - LEFT - (boxw[names[0]] + boxw[names[-1]]) / 2 if names else 0
    if sum(gaps) > room > sum(least):
        extra = [g - m for g, m in zip(gaps, least)]
        k = (room - sum(least)) / sum(extra)
        gaps = [m + e * k for m, e in zip(least, extra)]
    x: dict[str, float] = {}
    pos = LEFT + (boxw[names[0]] / 2 if names else 0)
    for i, n in enumerate(names):
        x[n] = pos
        if i < len(gaps):
            pos += gaps[i]
    width = pos + (boxw[names[-1]] / 2 if names else 0) + 8
    return x, boxw, width


def svg_diagram(names: list[str], msgs: list[Message], uid: str) -> str:
    """The sequence diagram as an inline SVG element: one lifeline per participant."""
    x, boxw, width = _columns(names, msgs)
    note_chars = max(24, min(90, int((width - LEFT) / max(2, len(names)) * 2 / CHAR_W) - 3))
    body: list[str] = []
    bands: list[str] = []
    y = TOP + BOX_H + 14
    faulty = {m.step for m in msgs if m.fault and m.step}
    seen: set[int] = set()
    for m in msgs:
        first = m.step not in seen and m.step > 0
        seen.add(m.step)
        y0 = y
        cls = f"msg {m.kind}" + (" fault" if m.fault else "")
        parts = [f'<g class="{cls}" data-step="{m.step}"><title>{_e(m.text)}</title>']
        if first:
            parts.append(f'<text class="stepno" x="6" y="{y + 16}">[{m.step}]</text>')
        if m.kind == "note":
            lines = [
                x for part in m.text.split("\n") for x in textwrap.wrap(part, note_chars) or [""]
            ]
            w = max(len(s) for s in lines) * CHAR_W + 14
            h = len(lines) * NOTE_LINE_H + 8
            cx = x[m.src]
            left = min(max(cx - w / 2, LEFT), width - w - 4)
            parts.append(f'<rect x="{left:.1f}" y="{y + 3}" width="{w:.1f}" height="{h}" rx="3"/>')
            for i, s in enumerate(lines):
                parts.append(
                    f'<text x="{left + 7:.1f}" y="{y + 3 + 15 + i * NOTE_LINE_H}">{_e(s)}</text>'
                )
            y += h + 8
        else:
            x1, x2 = x[m.src], x[m.dst]
            span = abs(x2 - x1)
            label = _fit(m.text, span - 10)
            mid = (x1 + x2) / 2
            parts.append(
                f'<text x="{mid:.1f}" y="{y + 12}" text-anchor="middle">{_e(label)}</text>'
            )
            tip = x2 - 2 if x2 > x1 else x2 + 2
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y + 18}" x2="{tip:.1f}" y2="{y + 18}" '
                f'marker-end="url(#{uid}-{m.kind})"/>'
            )
            y += ROW_H
        parts.append("</g>")
        if m.step in faulty:
            bands.append(
                f'<rect class="faultband" x="{LEFT - 4}" y="{y0}" width="{width - LEFT}" '
                f'height="{y - y0}"/>'
            )
        body.append("".join(parts))
    bottom = y + 8
    height = bottom + BOX_H + TOP
    head: list[str] = []
    for n in names:
        cx = x[n]
        bw = boxw[n]
        for by in (TOP, bottom):
            head.append(
                f'<rect class="pbox" x="{cx - bw / 2:.1f}" y="{by}" width="{bw:.1f}" '
                f'height="{BOX_H}" rx="4"/><text x="{cx:.1f}" y="{by + 19}" '
                f'text-anchor="middle">{_e(n)}</text>'
            )
        head.append(
            f'<line class="lifeline" data-participant="{_e(n)}" x1="{cx:.1f}" '
            f'y1="{TOP + BOX_H}" x2="{cx:.1f}" y2="{bottom}"/>'
        )
    defs = (
        f'<defs><marker id="{uid}-call" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#24292f"/></marker>'
        f'<marker id="{uid}-return" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10" fill="none" stroke="#57606a"/></marker></defs>'
    )
    return (
        f'<svg class="seq" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="sequence diagram">{defs}'
        + "".join(bands)
        + "".join(head)
        + "\n"
        + "\n".join(body)
        + "\n</svg>"
    )


def _state_table(
    ts: TransitionSystem, state: tuple[int, ...], before: tuple[int, ...] | None
) -> str:
    rows = []
    for v, x, old in zip(ts.vars, state, before or state):
        cls = []
        if before is not None and x != old:
            cls.append("changed")
        if is_internal(v.name):
            cls.append("internal")
        c = f' class="{" ".join(cls)}"' if cls else ""
        shown = v.show(x) if before is None or x == old else f"{v.show(old)} \u2192 {v.show(x)}"
        rows.append(f"<tr{c}><td>{_e(v.name)}</td><td>{_e(shown)}</td></tr>")
    return '<table class="state mono">' + "".join(rows) + "</table>"


def _step_rows(ts: TransitionSystem, r: PropertyResult, steps: list[Step], uid: str) -> str:
    states = r.trace.states
    out = [
        '<table class="steps"><tbody>',
        '<tr class="state"><td colspan="4"><details><summary>initial state</summary>'
        + _state_table(ts, states[0], None)
        + "</details></td></tr>",
    ]
    for s in steps:
        where = f"{s.file}:{s.line}" if s.file and s.line else ""
        if s.kind == "callback":
            who = f"NMR \u2192 {s.callee}"
        elif s.kind == "call":
            who = f"OS \u2192 {s.callee}"
        elif s.kind == "nmr":
            who = "NMR"
        else:
            who = f"{s.actor} {s.routine}" if s.routine else s.actor
        line_attr = f' data-line="{s.line}"' if s.line else ""
        cls = "step fault" if s.fault else "step"
        out.append(
            f'<tr class="{cls}" id="{uid}-s{s.index}" data-step="{s.index}"{line_attr} '
            f'tabindex="0"><td class="mono">[{s.index}]</td><td>{_e(who)}</td>'
            f'<td class="mono">{_e(s.text)}</td><td class="mono muted">{_e(where)}</td></tr>'
        )
        if s.fault:
            out.append(
                f'<tr class="faultmsg"><td></td><td colspan="3">!! {_e(s.fault)}: '
                f"{_e(s.fault_msg)}</td></tr>"
            )
        n = len(s.changes)
        out.append(
            f'<tr class="state"><td></td><td colspan="3"><details><summary>state after step '
            f"{s.index} ({n} changed)</summary>"
            + _state_table(ts, states[s.index], states[s.index - 1])
            + "</details></td></tr>"
        )
    out.append("</tbody></table>")
    return "\n".join(out)


def _source(ts: TransitionSystem, model: str, steps: list[Step]) -> str:
    text = ts.meta.get("source")
    if text is None:
        return ""
    hit = {s.line for s in steps if s.line and s.file == model}
    bad = {s.line for s in steps if s.line and s.file == model and s.fault}
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        cls = "line" + (" fault" if i in bad else " hit" if i in hit else "")
        rows.append(
            f'<span class="{cls}" data-line="{i}"><span class="ln">{i}</span>{_e(line)}</span>'
        )
    return (
        f'<div class="source"><div class="title mono">{_e(model)}</div><pre>'
        + "".join(rows)
        + "</pre></div>"
    )


def _trace_section(
    ts: TransitionSystem, r: PropertyResult, model: str, uid: str, again: str
) -> str:
    p = next((q for q in ts.properties if q.name == r.property), None)
    steps = describe(ts, r.trace, prop=r.property)
    names, msgs = sequence(ts, r)
    kind = "Witness" if r.verdict == "witnessed" else "Counterexample"
    extra = ""
    if "blocked_from" in r.stats:
        extra = f" (blocked forever from step {r.stats['blocked_from']} on)"
    blocked = "".join(f'<p class="note-box">{_e(m)}</p>' for m in hang_message(ts, r))
    loop = loop_message(r)  # a lasso: how the run goes on forever
    if loop is not None:
        blocked += f'<p class="note-box">{_e(loop[0].upper() + loop[1:])}.</p>'
    return (
        f'<section class="trace" id="{uid}" data-property="{_e(r.property)}">'
        f'<h3><span class="verdict v-{_e(r.verdict.replace(" ", "-"))}">{_e(r.verdict)}</span>: '
        f"{_e(r.property)}</h3>"
        f'<p>{_e(meaning(p, r.property))} <span class="muted">(defined at '
        f"{_e(defined_at(p, r.property))})</span></p>"
        f"<p>{kind}, {len(steps)} steps{extra}:</p>{blocked}"
        f'<figure class="seq">{svg_diagram(names, msgs, uid)}</figure>'
        f'<div class="cols"><div class="steps-wrap">{_step_rows(ts, r, steps, uid)}</div>'
        f"{_source(ts, model, steps)}</div>"
        f"<p>Reproduce: <code>{_e(again)}</code></p></section>"
    )


def _verdict_text(r: PropertyResult) -> str:
    if r.verdict == "holds" and r.coverage:
        return f"holds ({r.coverage})"
    if r.verdict == "holds up to bound":
        return f"holds up to bound {r.bound}"
    if r.verdict == "unknown" and r.reason:
        return f"unknown ({r.reason})"
    return r.verdict


def model_section(
    ts: TransitionSystem,
    result: CheckResult,
    model: str,
    index: int = 0,
    argv: list[str] | None = None,
) -> str:
    """The report of one model: verdicts, then one section per counterexample."""
    props = {p.name: p for p in ts.properties}
    shown = traces(ts, result)
    uid = {r.property: f"m{index}-t{k}" for k, r in enumerate(shown)}
    rows = []
    for r in ordered(ts, result.results):
        p = props.get(r.property)
        name = _e(r.property)
        if r.property in uid:
            name = f'<a href="#{uid[r.property]}">{name}</a>'
        rows.append(
            f'<tr class="prop" data-property="{_e(r.property)}" data-verdict="{_e(r.verdict)}">'
            f'<td class="mono">{name}</td>'
            f'<td class="verdict v-{_e(r.verdict.replace(" ", "-"))}">{_e(_verdict_text(r))}</td>'
            f'<td class="muted">{_e(defined_at(p, r.property))}</td>'
            f"<td>{_e(meaning(p, r.property))}</td></tr>"
        )
    st = result.stats
    scope = "exhaustive" if st.get("complete") else "partial"
    code = result.exit_code
    word = VERDICT_WORD.get(code, str(code))
    cls = {0: "v-holds", 1: "v-violated"}.get(code, "v-unknown")
    parts = [
        f'<section class="model" id="m{index}" data-model="{_e(model)}">',
        f'<h2><span class="mono">{_e(model)}</span>: <span class="verdict {cls}">'
        f"{_e(word)}</span></h2>",
        f'<p class="muted">search: {_e(result.engine)}, {scope}, {st.get("states", 0)} states, '
        f"{st.get('transitions', 0)} transitions, depth {st.get('depth', 0)}</p>",
        '<table class="verdicts"><thead><tr><th>property</th><th>verdict</th>'
        "<th>defined at</th><th>meaning</th></tr></thead><tbody>",
        "\n".join(rows),
        "</tbody></table>",
    ]
    for r in shown:
        again = reproduce(argv or [], model, r.property)
        parts.append(_trace_section(ts, r, model, uid[r.property], again))
    parts.append("</section>")
    return "\n".join(parts)


def document(sections: list[str], title: str) -> str:
    """The whole HTML file around model sections."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f'<header><h1>nmrcheck report</h1><p class="muted">nmrcheck {__version__}. '
        "Click a step, or an arrow of a diagram, to mark its line in the model.</p></header>\n"
        + "\n".join(sections)
        + f"\n<script>{JS}</script>\n</body>\n</html>\n"
    )


def render(
    ts: TransitionSystem, result: CheckResult, model: str, argv: list[str] | None = None
) -> str:
    """The HTML report of one checked model."""
    return document([model_section(ts, result, model, 0, argv)], f"nmrcheck: {model}")
