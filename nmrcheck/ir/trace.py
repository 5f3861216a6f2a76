"""A run of a transition system: the data every engine produces and every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trace:
    """States ``s0 .. sn`` and the actions between them (``actions[i]`` takes ``states[i]``
    to ``states[i+1]``). A lasso has ``loop_start``: the run loops from its last state back
    to ``states[loop_start]``."""

    states: tuple[tuple[int, ...], ...]
    actions: tuple[int, ...]
    loop_start: int | None = None

    def __post_init__(self) -> None:
        if len(self.states) != len(self.actions) + 1:
            raise ValueError("a trace has one more state than actions")

    def __len__(self) -> int:
        return len(self.actions)
