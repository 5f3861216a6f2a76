"""The exception hierarchy: one root, a few leaves."""

from __future__ import annotations

from dataclasses import dataclass


class NmrcheckError(Exception):
    """Root of every exception nmrcheck raises on purpose."""


@dataclass(frozen=True)
class Finding:
    """A user mistake at a source position, rendered as ``file:line:col: error: message``."""

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        if self.line <= 0:
            return f"{self.file}: {self.severity}: {self.message}"
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"


class InputError(NmrcheckError):
    """Bad input (model, spec, command line): one or more findings; exit code 2."""

    def __init__(self, findings: list[Finding] | Finding | str):
        if isinstance(findings, str):
            findings = [Finding("nmrcheck", 0, 0, findings)]
        elif isinstance(findings, Finding):
            findings = [findings]
        self.findings = list(findings)
        super().__init__("\n".join(str(f) for f in self.findings))


class InternalError(NmrcheckError):
    """A bug in nmrcheck itself (a trace that does not replay, engines that disagree); exit 4."""
