"""The explicit engine behind the checker interface (:mod:`nmrcheck.engines.common.checker`)."""

from __future__ import annotations

from typing import ClassVar

from nmrcheck.engines.common.checker import Options, restricted
from nmrcheck.engines.common.results import CheckResult
from nmrcheck.engines.explicit import emit
from nmrcheck.engines.explicit import por as por_check
from nmrcheck.ir import TransitionSystem


class Explicit:
    """One exploration decides every property, hang freedom and liveness included
    (:mod:`.checker`), with partial-order reduction where ``options.por`` asks and it is
    sound (:mod:`.por`), and symmetry reduction where ``options.symmetry`` allows."""

    name: ClassVar[str] = "explicit"

    def check(self, ts: TransitionSystem, options: Options) -> CheckResult:
        emit.dump_to(options.dump_generated)
        try:
            result, _ = por_check.check(
                restricted(ts, options), options.limits, options.progress, options.hangs,
                por=options.por, symmetry=options.symmetry, cores=options.cores,
                stop_at_violation=not options.keep_going,
            )
        finally:
            emit.dump_to(None)
        result.engine = self.name
        return result
