"""How a permutation of the instances of replicated drivers reads in names: every variable,
thread, fairness group, property instance and enum label that mentions ``X[i]`` belongs to
instance ``i`` of driver ``X``, and renaming the mentions renames what they name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

Mapping_ = tuple[tuple[int, ...], ...]  # per used group: instance i (0-based) -> new position


@dataclass
class Group:
    """One replicated driver: its name, instance count and the pattern of its mentions."""

    driver: str
    n: int
    pattern: re.Pattern[str]


class Namer:
    """Renames instance mentions in names and labels."""

    def __init__(self, groups: Sequence[Group]) -> None:
        self.groups = list(groups)

    def mentions(self, text: str) -> list[tuple[int, int]]:
        """(group, 0-based instance) of every mention in ``text``."""
        out = []
        for g, grp in enumerate(self.groups):
            for m in grp.pattern.finditer(text):
                i = int(m.group(1)) - 1
                if 0 <= i < grp.n:
                    out.append((g, i))
        return out

    def rename(self, text: str, mapping: Mapping_) -> str:
        for g, grp in enumerate(self.groups):
            perm = mapping[g]

            def sub(m: re.Match[str], grp: Group = grp, perm: tuple[int, ...] = perm) -> str:
                i = int(m.group(1)) - 1
                if 0 <= i < grp.n:
                    return f"{grp.driver}[{perm[i] + 1}]"
                return m.group(0)

            text = grp.pattern.sub(sub, text)
        return text

    def abstract(self, text: str, g: int, i: int) -> str:
        """``text`` with instance ``i`` of group ``g`` as SELF, its siblings as OTHER, and the
        instances of the other groups as their group."""
        for h, grp in enumerate(self.groups):

            def sub(m: re.Match[str], h: int = h, grp: Group = grp) -> str:
                k = int(m.group(1)) - 1
                if not 0 <= k < grp.n:
                    return m.group(0)
                if h != g:
                    return f"\x00{grp.driver}[*]"
                return "\x00SELF" if k == i else "\x00OTHER"

            text = grp.pattern.sub(sub, text)
        return text
