"""Unbounded proofs: invariant inference (Houdini) and PDR with Z3's Spacer.

Strategies (``pdr(..., strategy=...)``):

``"spacer"``
    For each property, Spacer (PDR/IC3 over constrained Horn clauses) on its cone of influence
    (:mod:`.slicing`), with ``Inv`` a relation over the cone's variables::

        Inv(init)
        Inv(s) and not halted(s) and guard_a(s) and B(s)  ->  Inv(update_a(s))   (per action)
        Inv(s) and B(s) and goal(s)                       ->  false             (the query)

    where ``B`` is what is already known to hold in every reachable state: the domains of the
    variables when they are closed (:func:`.finite.domains_closed`).

``"houdini"``
    Invariant inference only. Reachable states are sampled breadth first (all of them when
    there are few; otherwise also all those of a smaller instance of the design, see
    :mod:`.candidates`), facts about pairs of variables that hold in all of them (and, from a
    smaller instance, about triples of one generic instance) are the candidates, and Houdini
    (:mod:`.houdini`) keeps their largest inductive subset together with the properties it can
    prove: every safety property of the system within the cone of influence of those asked
    about, so that they strengthen each other. A property whose goal a sampled state reaches
    is refuted by the breadth-first path to it, a shortest run. When the sample is *all* the
    reachable states (at most ``REACHABLE_SET_STATES``), the properties Houdini leaves open
    are proved with the reachable set itself, projected on the cone of influence, as the
    invariant (the result says so: "the reachable set as the invariant").

``"auto"`` (the default)
    ``"houdini"``, then ``"spacer"`` for the properties still open, with the inferred invariant
    added to ``B``.

Every proof is an inductive invariant (Spacer's ``Inv`` and ``B``, or the kept candidates with
the domains) re-checked with a fresh solver and returned as a ``Certificate``; a refutation is a
replayed run, a shortest one unless ``shortest`` is False (then Spacer's own may be returned).
Later calls on the same system object reuse what inference learnt (:mod:`.memo`). The run
control (:mod:`nmrcheck.control`) bounds every phase: when it stops the run, the properties not
decided by then are ``UNKNOWN`` with its reason.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import z3

from nmrcheck.engines.common.results import (
    HOLDS,
    PARTIAL,
    PROVED,
    UNKNOWN,
    UNREACHABLE,
    PropertyResult,
)
from nmrcheck.engines.common.sample import Sample, Sampler, bfs_sample
from nmrcheck.errors import InputError, InternalError
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import INVARIANT, Property, TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import evaluate, free_vars

from . import finite
from .bmc import found, shortest_run
from .budget import Budget, settle, stoppable, stopped
from .candidates import (
    Clause,
    harvest,
    matching,
    smaller_instance,
    transfer,
)
from .certificate import (
    Certificate,
    make_certificate,
    make_certificates,
    recheck,
    state_constants,
)
from .encode import encode_bool, encode_int, mk_and, mk_or
from .houdini import formula, houdini
from .memo import Learnt, Progress, key, learnt
from .slicing import Slice, cone
from .targets import goal, safe, select
from .traces import replay

ENGINE = "pdr"
STRATEGIES = ("auto", "spacer", "houdini")
SAMPLE_STATES = 20_000  # reachable states sampled from the system itself
REACHABLE_SET_STATES = SAMPLE_STATES  # all reachable states, at most this many: as invariant
SMALL_STATES = 100_000  # and from a smaller instance of its design
SAMPLE_SECONDS = 10.0  # at most, and at most this share of a time limit:
SAMPLE_SHARE = 0.2
HOUDINI_SHARE = 0.5  # Houdini may use this share of what is left (without a time limit:
HOUDINI_SECONDS = 120.0  # this long)
WIDER = 1.25  # infer over the cone of every safety property when it is at most this much wider


def pdr(
    ts: TransitionSystem,
    properties: Iterable[Property | str] | None = None,
    timeout: float | None = None,
    shortest: bool = True,
    *,
    strategy: str = "auto",
    hints: Sequence[TransitionSystem] | None = None,
    sampler: Sampler | None = None,
) -> list[PropertyResult]:
    """Prove or refute each property without a bound. A proof answers ``HOLDS`` (invariant) or
    ``UNREACHABLE`` (reachable property) with coverage ``PROVED`` and a re-checked
    ``certificate``; a refutation answers ``VIOLATED``/``WITNESSED`` with a replayed trace, a
    shortest one unless ``shortest`` is False or the time runs out first (then Spacer's own);
    when the engines give up or ``timeout`` (seconds, whole call) runs out, ``UNKNOWN``; when
    the run control stops the run, ``UNKNOWN`` with its reason.

    ``strategy`` is ``"auto"``, ``"spacer"`` or ``"houdini"`` (see the module documentation).
    ``hints`` are other instances of the same design (typically smaller ones, e.g. with fewer
    driver instances) whose reachable states supply candidate invariants; by default a smaller
    instance is made when the system has too many states to sample (``ts.resize``).
    ``sampler`` samples reachable states (default: the reference breadth-first search; the
    explicit engine offers a fast one)."""
    if strategy not in STRATEGIES:
        raise InputError(f"unknown PDR strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    props = select(ts, properties)
    budget = Budget(timeout)
    results: dict[int, PropertyResult] = {}

    src = _Sources(hints, sampler or bfs_sample)

    def work() -> None:
        _decide(ts, props, budget, shortest, strategy, src, results)

    why = stoppable(budget, work)
    return settle([results.get(n) or stopped(p, ENGINE, why) for n, p in enumerate(props)], why)


@dataclass(frozen=True)
class _Sources:
    """Where candidate facts come from: other instances of the design given by the caller
    (None: a smaller one made on demand), and how reachable states are sampled."""

    hints: Sequence[TransitionSystem] | None
    sample: Sampler


def _decide(
    ts: TransitionSystem,
    props: list[Property],
    budget: Budget,
    shortest: bool,
    strategy: str,
    src: _Sources,
    results: dict[int, PropertyResult],
) -> None:
    """The body of :func:`pdr`: record each property's result in ``results`` (none for the
    properties still open when the run control stops the run)."""
    memo = learnt(ts) if src.hints is None and strategy != "spacer" else Learnt("")
    for n, p in enumerate(props):
        old = memo.decided.get(key(p))
        if old is not None:
            results[n] = dataclasses.replace(old, stats=dict(old.stats, reused=True))
    background = None
    if strategy != "spacer" and len(results) < len(props):
        background = _infer(ts, props, budget, src, results, memo)
    todo = [n for n in range(len(props)) if n not in results]
    for k, n in enumerate(todo):
        p = props[n]
        if budget.stopped():
            return
        if strategy == "houdini":
            why = background.note if background is not None else "not applicable"
            stats = dict(background.stats) if background is not None else {"strategy": "houdini"}
            results[n] = _unknown(p, f"not proved by invariant inference ({why})", stats)
            continue
        # an equal share of what is left, so that one hard property cannot starve the rest
        left = budget.left()
        share = budget.part(None if left is None else left / (len(todo) - k))
        results[n] = _spacer(ts, p, share, shortest, background)


def _unknown(p: Property, reason: str, stats: dict[str, object]) -> PropertyResult:
    return PropertyResult(p.name, UNKNOWN, ENGINE, coverage=PARTIAL, reason=reason, stats=stats)


def _certified(
    ts: TransitionSystem, props: Sequence[Property], text: str, what: str, budget: Budget
) -> list[Certificate | None]:
    """The certificates of ``props`` by the invariant ``text``, each re-checked by a fresh
    solver (None where the re-check did not finish in time); a failed re-check is a bug of
    nmrcheck (``what`` names the invariant)."""
    certs = make_certificates(ts, props, text)
    out: list[Certificate | None] = []
    for p, cert, (ok, message) in zip(
        props, certs, recheck(ts, list(zip(props, certs)), budget), strict=True
    ):
        if ok is False:
            raise InternalError(f"pdr: {what} for {p.name!r} fails re-check: {message}")
        out.append(cert if ok else None)
    return out


def _proved(p: Property, cert: Certificate, reason: str, stats: dict) -> PropertyResult:
    verdict = HOLDS if p.kind == INVARIANT else UNREACHABLE
    return PropertyResult(
        p.name, verdict, ENGINE, coverage=PROVED, certificate=cert, reason=reason, stats=stats
    )


# -- invariant inference ------------------------------------------------------------------------


@dataclass
class _Background:
    """An inductive invariant found by Houdini over the slice ``slc``: the domains of its
    variables, ``clauses`` and ``exprs`` (the proved properties' safe sets)."""

    slc: Slice
    clauses: list[Clause]
    exprs: list[Expr]
    note: str
    stats: dict[str, object] = field(default_factory=dict)

    def formula(self, ts: TransitionSystem, cur: list[z3.ArithRef], ctx: z3.Context) -> z3.BoolRef:
        extra = [encode_bool(e, cur, ctx) for e in self.exprs]
        return formula(ts, self.slc, self.clauses, extra, cur, ctx)

    def within(
        self, ts: TransitionSystem, slc: Slice, cur: list[z3.ArithRef], ctx: z3.Context
    ) -> list[z3.BoolRef]:
        """The parts of the invariant over the variables of ``slc`` alone."""
        inside = set(slc.vars)
        clauses = [c for c in self.clauses if all(x in inside for x, _ in c)]
        out = [formula(ts, slc, clauses, [], cur, ctx)]
        out += [encode_bool(e, cur, ctx) for e in self.exprs if free_vars(e) <= inside]
        return out


class _Recorder:
    """Records a result for a property of the universe: in the memory of the system, and in
    ``results`` for the properties asked about."""

    def __init__(
        self, props: list[Property], results: dict[int, PropertyResult], memo: Learnt
    ) -> None:
        self.results, self.memo = results, memo
        self.asked: dict[tuple[str, str, str], list[int]] = {}
        for n, p in enumerate(props):
            self.asked.setdefault(key(p), []).append(n)

    def __call__(self, p: Property, result: PropertyResult) -> None:
        self.memo.decided[key(p)] = result
        for n in self.asked.get(key(p), ()):
            self.results.setdefault(n, result)

    def open(self, universe: list[Property]) -> list[Property]:
        """The properties of ``universe`` not decided yet."""
        return [p for p in universe if key(p) not in self.memo.decided]

    def wanted(self, universe: list[Property]) -> bool:
        """Whether a property asked about is among the open ones of ``universe``."""
        return any(key(p) in self.asked for p in self.open(universe))


def _universe(ts: TransitionSystem, props: list[Property], inside: set[int]) -> list[Property]:
    """``props``, then every other safety property of ``ts`` within the variables ``inside``
    (each once): Houdini proves them together, each helping the others."""
    out, seen = [], set()
    for p in [*props, *select(ts, None)]:
        if key(p) not in seen and free_vars(safe(p)) <= inside:
            seen.add(key(p))
            out.append(p)
    return out


def _infer(
    ts: TransitionSystem,
    props: list[Property],
    budget: Budget,
    src: _Sources,
    results: dict[int, PropertyResult],
    memo: Learnt,
) -> _Background | None:
    """Sample, refute what the sample refutes, run Houdini and record what it decides, for
    the properties asked about that are open and the others of their cone of influence; the
    invariant found, or None when inference does not apply or did not finish."""
    start = time.monotonic()
    open_ = [props[n] for n in range(len(props)) if n not in results]
    slc = _slice(ts, open_)
    if not finite.encodable(ts, slc) or not finite.domains_closed(ts, slc, budget):
        return None
    universe = _universe(ts, open_, set(slc.vars))
    record = _Recorder(props, results, memo)

    def elapsed() -> float:
        return round(time.monotonic() - start, 3)

    own = None
    if memo.sampled.get(slc.vars) is not False:  # not sampled yet, or all states (needed)
        own = _sample(ts, budget, src)
        memo.sampled[slc.vars] = own.complete
        _refute(ts, own, universe, record, elapsed)
    if not record.wanted(universe):
        return None
    progress = memo.houdini.get(slc.vars)
    if progress is None or progress.inferred is None:
        progress = _houdini(ts, slc, record.open(universe), budget, src, own, progress, memo)
        if progress is None:
            return None
    background = progress.inferred
    _certify(ts, background, universe, record, budget, elapsed)
    rest = [p for p in record.open(universe) if key(p) in record.asked]
    if rest and own is not None and own.complete:
        _by_reachable_set(ts, rest, own.states, background, record, budget, elapsed)
    return background


def _slice(ts: TransitionSystem, props: list[Property]) -> Slice:
    """The cone of influence of ``props``, or that of every safety property of ``ts`` when it
    is hardly larger (then one inference serves later calls about the others as well)."""
    slc = cone(ts, [safe(p) for p in props])
    everything = cone(ts, [safe(p) for p in select(ts, None)])
    if len(everything.vars) <= WIDER * len(slc.vars):
        return everything
    return slc


def _sample(ts: TransitionSystem, budget: Budget, src: _Sources) -> Sample:
    """The system's own reachable states, breadth first, within a share of the time."""
    left = budget.left()
    seconds = SAMPLE_SECONDS if left is None else min(SAMPLE_SECONDS, SAMPLE_SHARE * left)
    return src.sample(ts, SAMPLE_STATES, seconds)


def _refute(
    ts: TransitionSystem,
    own: Sample,
    universe: list[Property],
    record: _Recorder,
    elapsed: Callable[[], float],
) -> None:
    """A sampled state reaching a goal refutes the property: the BFS path is a shortest run."""
    for p in record.open(universe):
        j = own.first(p)
        if j is not None:
            trace = replay(ts, own.path(j), end=goal(p), what="pdr trace")
            record(p, found(p, trace, ENGINE, {"strategy": "sampled states", "seconds": elapsed()}))


def _candidates(
    ts: TransitionSystem,
    slc: Slice,
    budget: Budget,
    src: _Sources,
    own: Sample | None,
) -> tuple[list[Clause], str]:
    """Candidate facts and where they come from: all the reachable states when the sample has
    them all; otherwise smaller instances (all their states, breadth first from the same
    initial state, with triples), or failing those the sample (a shallow one: many of its facts
    will not hold)."""
    own = own if own is not None else _sample(ts, budget, src)
    sources = []
    others = list(src.hints) if src.hints is not None else []
    if not own.complete and src.hints is None:
        small = smaller_instance(ts)
        if small is not None:
            others.append(small)
    clauses: list[Clause] = []
    if own.complete or not others:
        clauses = harvest(ts, own.states, slc.vars)
        what = "all" if own.complete else "a sample of"
        sources.append(f"{what} {len(own.states)} reachable states")
    if not own.complete:
        left = budget.left()
        seconds = SAMPLE_SECONDS if left is None else min(SAMPLE_SECONDS, SAMPLE_SHARE * left)
        for other in others:
            sample = src.sample(other, SMALL_STATES, seconds)
            mine = harvest(other, sample.states, matching(other, ts, slc.vars), triples=True)
            clauses = sorted(set(clauses) | set(transfer(mine, other, ts)))
            what = "all" if sample.complete else "a sample of"
            sources.append(f"{what} {len(sample.states)} states of a smaller instance")
    return clauses, " and ".join(sources)


def _houdini(
    ts: TransitionSystem,
    slc: Slice,
    universe: list[Property],
    budget: Budget,
    src: _Sources,
    own: Sample | None,
    progress: Progress | None,
    memo: Learnt,
) -> Progress | None:
    """Houdini over the candidates (those an earlier call left, when it ran with at least
    these properties) and the properties of ``universe``: the progress with the invariant
    found, or None when it did not finish (what it dropped is kept for a later call)."""
    keys = frozenset(key(p) for p in universe)
    resumed = progress is not None and keys <= progress.universe
    if progress is None or not resumed:
        clauses, source = _candidates(ts, slc, budget, src, own)
        progress = Progress(clauses, keys, source, len(clauses))
        memo.houdini[slc.vars] = progress
    exprs = [safe(p) for p in universe]
    left = budget.left()
    # a share of what is left, or all of it when an earlier call ran out of time here
    if left is None:
        share = budget.part(HOUDINI_SECONDS)
    else:
        share = budget.part(left if resumed else HOUDINI_SHARE * left)
    try:
        out = houdini(ts, slc, progress.clauses, exprs, share)
    except finite.TooLarge:
        return None
    progress.clauses = out.remaining
    if not out.done:
        return None
    assert out.clauses is not None and out.exprs is not None
    note = (
        f"{progress.count} candidate facts from {progress.source}; Houdini kept "
        f"{len(out.clauses)} and {len(out.exprs)} of {len(exprs)} properties"
    )
    stats = {"strategy": "houdini", "houdini": dict(out.stats), "slice": slc.describe(ts)}
    progress.inferred = _Background(slc, out.clauses, out.exprs, note, stats)
    return progress


def _certify(
    ts: TransitionSystem,
    background: _Background,
    universe: list[Property],
    record: _Recorder,
    budget: Budget,
    elapsed: Callable[[], float],
) -> None:
    """Record the proofs of the open properties of ``universe`` that Houdini kept, one
    re-checked certificate each."""
    kept = {e.uid for e in background.exprs}
    universe = [p for p in record.open(universe) if safe(p).uid in kept]
    if not universe:
        return
    ctx = z3.Context()
    cur = state_constants(tuple(v.name for v in ts.vars), ctx)
    text = background.formula(ts, cur, ctx).sexpr()
    certs = _certified(ts, universe, text, "the invariant inferred", budget)
    reason = (
        f"proved by invariant inference ({background.note}); inductive invariant re-checked"
    )
    for p, cert in zip(universe, certs, strict=True):
        if cert is not None:
            record(p, _proved(p, cert, reason, dict(background.stats, seconds=elapsed())))


def _by_reachable_set(
    ts: TransitionSystem,
    props: list[Property],
    states: Sequence[Sequence[int]],
    background: _Background,
    record: _Recorder,
    budget: Budget,
    elapsed: Callable[[], float],
) -> None:
    """Prove ``props`` (which no state of ``states`` violates) with the reachable set itself
    as the invariant: ``states`` are *all* the reachable states, so their projections on the
    cone of influence, with the background invariant, form an inductive invariant (the slice
    is exact). Only its re-check by a fresh solver makes it a proof."""
    if len(states) > REACHABLE_SET_STATES:
        return
    start = time.monotonic()
    slc = background.slc
    ctx = z3.Context()
    cur = state_constants(tuple(v.name for v in ts.vars), ctx)
    points = sorted({tuple(s[i] for i in slc.vars) for s in states})
    inv = mk_and([background.formula(ts, cur, ctx), _diagram(slc, points, cur, ctx)], ctx)
    certs = _certified(ts, props, inv.sexpr(), "the reachable set as invariant", budget)
    how = (
        f"the reachable set as the invariant: all {len(states)} reachable states (breadth-first "
        f"exploration), {len(points)} on the {len(slc.vars)} variables of the cone of influence"
    )
    stats = {
        "strategy": "reachable set",
        "states": len(states),
        "projected": len(points),
        "slice": slc.describe(ts),
        "check_seconds": round(time.monotonic() - start, 3),
    }
    for p, cert in zip(props, certs, strict=True):
        if cert is not None:
            reason = f"proved with {how}; inductive invariant re-checked"
            record(p, _proved(p, cert, reason, dict(stats, seconds=elapsed())))


def _diagram(
    slc: Slice, points: list[tuple[int, ...]], cur: list[z3.ArithRef], ctx: z3.Context
) -> z3.BoolRef:
    """The set ``points`` (values of the slice variables) as a decision diagram: grouped by
    the value of each variable in turn, equal sets of continuations built once (Z3 shares
    equal terms, and so does the SMT-LIB text, with let bindings)."""
    r = ctx.ref()
    atoms: dict[tuple[int, int], z3.BoolRef] = {}

    def atom(i: int, val: int) -> z3.BoolRef:  # cur[i] == val, straight through the C API
        x = atoms.get((i, val))
        if x is None:
            eq = z3.Z3_mk_eq(r, cur[i].as_ast(), z3.IntVal(val, ctx).as_ast())
            x = atoms[(i, val)] = z3.BoolRef(eq, ctx)
        return x

    order = list(slc.vars)
    memo: dict[tuple[int, frozenset[tuple[int, ...]]], z3.BoolRef] = {}

    def build(depth: int, rest: frozenset[tuple[int, ...]]) -> z3.BoolRef:
        if depth == len(order):
            return z3.BoolVal(True, ctx)
        k = (depth, rest)
        f = memo.get(k)
        if f is None:
            groups: dict[int, set[tuple[int, ...]]] = {}
            for t in rest:
                groups.setdefault(t[0], set()).add(t[1:])
            f = mk_or(
                [
                    _both(atom(order[depth], val), build(depth + 1, frozenset(sub)), ctx)
                    for val, sub in sorted(groups.items())
                ],
                ctx,
            )
            memo[k] = f
        return f

    return build(0, frozenset(points))


def _both(a: z3.BoolRef, b: z3.BoolRef, ctx: z3.Context) -> z3.BoolRef:
    return a if z3.is_true(b) else mk_and([a, b], ctx)


# -- Spacer ---------------------------------------------------------------------------------------


@dataclass
class _SpacerRun:
    """One Spacer check of property ``p`` on its cone of influence ``slc`` (started at
    ``start``), and how its results are reported."""

    ts: TransitionSystem
    p: Property
    budget: Budget
    shortest: bool
    background: _Background | None
    slc: Slice
    start: float

    @property
    def strategy(self) -> str:
        """The strategy as the results' figures name it."""
        return "spacer, strengthened by an inferred invariant" if self.background else "spacer"

    def stats(self, answer: str) -> dict[str, object]:
        """The figures of a result: Spacer's ``answer``, the slice, the time taken."""
        return {
            "strategy": self.strategy,
            "spacer": answer,
            "slice": self.slc.describe(self.ts),
            "seconds": round(time.monotonic() - self.start, 3),
        }

    def unknown(self, reason: str) -> PropertyResult:
        """Open, for ``reason`` (the run control's reason when it stops the run)."""
        return _unknown(self.p, self.budget.stopped() or reason, self.stats("unknown"))


@dataclass
class _Clauses:
    """Spacer's fixedpoint with the Horn clauses of a cone; ``now`` is ``Inv(s)``.

    ``terms`` are what the clauses were built from. They must live as long as the query and
    what follows it: Z3 reuses the ids of freed terms, and Spacer's search (its invariant, and
    whether it finishes in time) depends on the ids."""

    fp: z3.Fixedpoint
    now: z3.BoolRef
    terms: list[object]


def _spacer(
    ts: TransitionSystem,
    p: Property,
    budget: Budget,
    shortest: bool,
    background: _Background | None,
) -> PropertyResult:
    """Property ``p`` by Spacer on its cone of influence (strengthened by ``background``, an
    inferred invariant, when there is one): a re-checked proof, a run, or unknown."""
    start = time.monotonic()
    slc = cone(ts, [safe(p)])
    closed = background is not None or (
        finite.encodable(ts, slc) and finite.domains_closed(ts, slc, budget)
    )
    run = _SpacerRun(ts, p, budget, shortest, background, slc, start)
    if budget.expired():
        return run.unknown("timeout before Spacer started")
    ctx = z3.Context()
    cur = state_constants(tuple(v.name for v in ts.vars), ctx)
    # A relation needs an argument: a slice without variables gets a constant 0 one.
    args: list[z3.ArithRef] = [cur[i] for i in slc.vars] or [z3.IntVal(0, ctx)]
    inv = z3.Function("Inv", *([z3.IntSort(ctx)] * len(args)), z3.BoolSort(ctx))
    known: list[z3.BoolRef] = []
    if background is not None:
        known = background.within(ts, slc, cur, ctx)
    elif closed:
        known = [formula(ts, slc, [], [], cur, ctx)]
    horn = _spacer_rules(run, inv, args, cur, known)  # kept to the end: see _Clauses
    if horn is None:
        return run.unknown("timeout before Spacer started")
    fp = horn.fp
    try:
        answer = budget.query(fp, z3.And(horn.now, *known, encode_bool(goal(p), cur, ctx)))
    except z3.Z3Exception as ex:  # a timeout surfaces as an exception ("canceled")
        return run.unknown(f"Spacer gave up: {_text(ex)}")
    if answer == z3.unsat:
        return _spacer_proved(run, fp, inv, args, cur, known)
    if answer == z3.sat:
        return _spacer_refuted(run, fp)
    return run.unknown(f"Spacer gave up: {fp.reason_unknown() or 'unknown'}")


def _spacer_rules(
    run: _SpacerRun,
    inv: z3.FuncDeclRef,
    args: list[z3.ArithRef],
    cur: list[z3.ArithRef],
    known: list[z3.BoolRef],
) -> _Clauses | None:
    """Spacer with the Horn clauses of the cone (see the module documentation): ``Inv`` of
    the initial state, and a rule per action; None when the time runs out first."""
    ts, slc, ctx = run.ts, run.slc, inv.ctx
    fp = z3.Fixedpoint(ctx=ctx)
    fp.set(engine="spacer")
    # Keep Inv intact so its interpretation is an invariant over exactly the state variables.
    fp.set("xform.slice", False)
    fp.set("xform.inline_linear", False)
    fp.set("xform.inline_eager", False)
    fp.register_relation(inv)
    if slc.vars:
        fp.declare_var(*args)
    fp.rule(_apply(inv, [z3.IntVal(ts.vars[i].init, ctx) for i in slc.vars] or args))
    not_halted = z3.Not(encode_bool(ts.halted, cur, ctx))
    position = {i: k for k, i in enumerate(slc.vars)}
    now = _apply(inv, args)
    memo: dict[tuple[int, bool], z3.ExprRef] = {}
    for index in slc.actions:
        if run.budget.expired():
            return None
        a = ts.actions[index]
        nxt = list(args)
        for i, e in a.updates:
            if i in position:
                nxt[position[i]] = encode_int(e, cur, ctx, memo)
        body = [now, not_halted, encode_bool(a.guard, cur, ctx, memo), *known]
        fp.rule(_apply(inv, nxt), body, name=f"{_RULE}{index}")
    return _Clauses(fp, now, [not_halted, memo])


def _spacer_proved(
    run: _SpacerRun,
    fp: z3.Fixedpoint,
    inv: z3.FuncDeclRef,
    args: list[z3.ArithRef],
    cur: list[z3.ArithRef],
    known: list[z3.BoolRef],
) -> PropertyResult:
    """Spacer proved the property: its invariant (with what was known) as a certificate,
    re-checked by a fresh solver."""
    ts, p, background, ctx = run.ts, run.p, run.background, inv.ctx
    cover = z3.substitute_vars(fp.get_cover_delta(-1, inv), *args)
    if background is not None:
        whole = mk_and([cover, background.formula(ts, cur, ctx)], ctx)
    else:
        whole = mk_and([cover, *known], ctx)
    cert = make_certificate(ts, p, whole)
    ((ok, message),) = recheck(ts, [(p, cert)], run.budget)
    if ok is None:
        return run.unknown(f"the re-check of Spacer's invariant did not finish ({message})")
    if not ok:
        if background is not None:  # should not happen; retry without the help
            return _spacer(ts, p, run.budget, run.shortest, None)
        raise InternalError(f"pdr: Spacer's invariant for {p.name!r} fails re-check: {message}")
    how = "PDR (Spacer), strengthened by an inferred invariant" if background else "PDR (Spacer)"
    return _proved(p, cert, f"proved by {how}; inductive invariant re-checked", run.stats("unsat"))


def _spacer_refuted(run: _SpacerRun, fp: z3.Fixedpoint) -> PropertyResult:
    """Spacer found a counterexample. Its derivation names the rules (actions) along it; Z3's
    rule transformations may merge rules, so the run is only a hint until it replays. BMC
    then looks for a shorter one (so that, like BMC, PDR reports a shortest run)."""
    ts, p = run.ts, run.p
    hint = _spacer_trace(ts, p, fp)
    if hint is not None and not run.shortest:
        return found(p, hint, ENGINE, run.stats("sat"), how="Spacer's counterexample, a run")
    r, trace, why = shortest_run(ts, goal(p), run.budget, None if hint is None else len(hint))
    if r == z3.sat:
        assert trace is not None
        return found(p, trace, ENGINE, run.stats("sat"))
    what = "a violation" if p.kind == INVARIANT else "a witness"
    if hint is None:
        if r == z3.unsat:
            raise InternalError(f"pdr: Spacer found {what} of {p.name!r}, BMC says {why}")
        return run.unknown(f"Spacer found {what} but no run was extracted: {why}")
    if r == z3.unsat:  # no shorter run: Spacer's is a shortest one
        return found(p, hint, ENGINE, run.stats("sat"))
    note = f"Spacer's counterexample (a shorter one was not ruled out: {why}), a run"
    return found(p, hint, ENGINE, run.stats("sat"), how=note)


def _apply(f: z3.FuncDeclRef, args: Sequence[z3.ExprRef]) -> z3.BoolRef:
    """``f(*args)`` straight through the C API (the Python layer casts every argument)."""
    arr = (z3.Ast * len(args))()
    for k, x in enumerate(args):
        arr[k] = x.as_ast()
    return z3.BoolRef(z3.Z3_mk_app(f.ctx.ref(), f.ast, len(args), arr), f.ctx)


def _text(ex: z3.Z3Exception) -> str:
    v = ex.value
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


_RULE = "action#"


def _spacer_trace(ts: TransitionSystem, p: Property, fp: z3.Fixedpoint) -> Trace | None:
    """The run behind Spacer's counterexample, from the rules named along its derivation
    (query first, initial fact last), or None when those do not replay as a run."""
    actions = []
    for name in reversed(fp.get_rule_names_along_trace()):
        if name.startswith(_RULE):
            actions.append(int(name[len(_RULE) :]))
    states = [ts.initial_state()]
    for a in actions:
        if not 0 <= a < len(ts.actions) or a not in ts.enabled(states[-1]):
            return None
        states.append(ts.fire(a, states[-1]))
    if not evaluate(goal(p), states[-1]):
        return None
    return replay(ts, Trace(tuple(states), tuple(actions)), end=goal(p), what="pdr trace")
