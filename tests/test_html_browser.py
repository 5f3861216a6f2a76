"""The HTML report in a real headless browser (Debian's chromium, installed by .ci/run):
what is rendered (verdicts, one SVG lifeline per participant, step rows, the clicked step's
line marked by the inline script), and a screenshot that is not blank. Skipped without chromium.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from support import check_all, run_cli

from nmrcheck.nmr.load import load
from nmrcheck.report.mermaid import sequence

NO_WAIT = "models/seeds/provider-unload-no-wait.nmr"
HANGS = "models/seeds/detach-pending-never-completed.nmr"
BROWSER = next((b for b in ("chromium", "chromium-browser") if shutil.which(b)), None)

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium (.ci/run installs it)")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("html")
    page = d / "report.html"
    r = run_cli("check", NO_WAIT, HANGS, "--continue", "--html", str(page))
    assert r.code == 1 and page.exists()
    return d, page


def png_size_and_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (still filtered) pixel rows of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_rendered_dom(report):
    d, page = report
    # the fragment selects step 3 of the DRG-2 counterexample, as a click on it does
    uid = re.search(
        r'<section class="trace" id="([^"]+)" data-property="DRG-2">', page.read_text()
    ).group(1)
    proc = chromium(d, "--dump-dom", page.as_uri() + f"#{uid}-s3")
    dom = proc.stdout
    assert "nmrcheck report" in dom, proc.stderr[-2000:]
    for model in (NO_WAIT, HANGS):
        ts = load(model)
        res = check_all(ts)
        section = dom.split(f'data-model="{model}"')[1].split('<section class="model"')[0]
        for r in res.results:
            m = re.search(
                rf'data-property="{re.escape(r.property)}" data-verdict="([^"]+)"', section
            )
            assert m and m.group(1) == r.verdict
        for r in (x for x in res.results if x.verdict == "violated"):
            body = section.split('<section class="trace" id="')[1:]
            body = next(b for b in body if f'data-property="{r.property}"' in b.split(">")[0])
            names, _ = sequence(ts, r)
            lifelines = re.findall(r'<line class="lifeline" data-participant="([^"]+)"', body)
            assert lifelines == names
            assert len(re.findall(r'<tr class="step[ "]', body)) == len(r.trace)
    # the inline script ran: step 3 of DRG-2 (the model's line 9) is marked, and only it
    drg2 = dom.split(f'id="{uid}"')[1].split("</section>")[0]
    assert re.search(rf'<tr class="step fault active" id="{uid}-s3"', drg2)
    assert re.findall(r'class="line [a-z ]*active" data-line="(\d+)"', dom) == ["9"]
    assert "DRG-2" in drg2 and "<svg" in drg2


@pytest.mark.slow  # a chromium run, 2 s: full suite only
def test_screenshot_is_not_blank(report):
    d, page = report
    png = d / "shot.png"
    proc = chromium(d, f"--screenshot={png}", "--window-size=1280,2000", page.as_uri())
    assert png.exists(), proc.stderr[-2000:]
    data = png.read_bytes()
    width, height, rows = png_size_and_pixels(data)
    assert (width, height) == (1280, 2000)
    assert len(data) > 40_000  # a blank page compresses to a few kB
    assert len(set(rows)) > 64  # many distinct byte values: text, colours, lines
