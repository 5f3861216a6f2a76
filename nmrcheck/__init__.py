"""nmrcheck: a model checker for Windows Network Module Registrar (NMR) lifecycle designs.

The Python API (:mod:`nmrcheck.api`): ``nmrcheck.load(path)``, ``nmrcheck.check(design)``,
``nmrcheck.prove(design, name)`` and the renderers ``to_text``, ``to_json``, ``to_itf``,
``to_mermaid``, ``to_sarif``, ``to_html``; docs/api.md has examples.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("Design", "Report", "Step", "Trace", "Verdict", "check", "load", "prove", "report_of",
        "to_html", "to_itf", "to_json", "to_mermaid", "to_sarif", "to_text")


def __getattr__(name: str) -> Any:  # the API, imported when first used
    if name in _API:
        from nmrcheck import api

        return getattr(api, name)
    raise AttributeError(f"module 'nmrcheck' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
