"""Rewrite the golden outputs of tests/test_golden.py from what the tool prints now: each
model's default text report in full, and a SHA-256 digest of its ``--continue --json`` report
(the JSON holds every trace in full: too large to keep; regenerate it to see a change).

    python3 tests/golden/update.py            # every catalogue model
    python3 tests/golden/update.py --check    # only say which differ (exit 1)

Run it after an intended change of the reports, and read the diff before committing it.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import check_json, run_cli  # noqa: E402


def outputs(model: Path) -> dict[str, str]:
    """The default text report and the ``--continue --json`` report of ``model``."""
    rel = str(model.relative_to(ROOT))
    text = run_cli("check", rel)
    full = check_json(rel)  # once per session: tests/test_catalogue.py reads it too
    return {"txt": f"exit {text.code}\n{text.out}", "json": f"exit {full.code}\n{full.out}"}


def golden_path(model: Path, kind: str) -> Path:
    rel = model.relative_to(ROOT / "models").with_suffix("")
    return HERE / f"{str(rel).replace('/', '__')}.{kind}"


def models() -> list[Path]:
    return sorted((ROOT / "models").rglob("*.nmr"))


DIGESTS = HERE / "json.sha256"


def digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def digests() -> dict[str, str]:
    """Model (relative path) -> the digest of its JSON report, as kept."""
    if not DIGESTS.exists():
        return {}
    return dict(line.split("  ", 1)[::-1] for line in DIGESTS.read_text().splitlines())


def main(argv: list[str]) -> int:
    import os

    os.chdir(ROOT)
    check = "--check" in argv
    differ, kept, new = [], digests(), {}
    for m in models():
        out = outputs(m)
        rel = str(m.relative_to(ROOT))
        new[rel] = digest(out["json"])
        if kept.get(rel) != new[rel]:
            differ.append(f"{rel} (JSON)")
        p = golden_path(m, "txt")
        if not (p.exists() and p.read_text() == out["txt"]):
            differ.append(str(p.relative_to(ROOT)))
            if not check:
                p.write_text(out["txt"])
    if not check:
        DIGESTS.write_text("".join(f"{new[k]}  {k}\n" for k in sorted(new)))
    for d in differ:
        print(("differs: " if check else "rewrote: ") + d)
    return 1 if check and differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
