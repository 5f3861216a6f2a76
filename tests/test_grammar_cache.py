"""The analysed grammar is cached in the user's cache directory, and a bad cache only costs
time: the parse and its error positions stay the same."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT

MODEL = "models/seeds/provider-unload.nmr"
BAD = "npi N\ndriver D {\n  Unload { x = }\n}\n"


def parse_in_fresh_process(cache_home: str, path: str) -> subprocess.CompletedProcess:
    code = (
        "import sys\n"
        "from nmrcheck.errors import InputError\n"
        "from nmrcheck.lang.parser import parse_model, read_source\n"
        "p = sys.argv[1]\n"
        "try:\n"
        "    m = parse_model(read_source(p), p)\n"
        "    print(len(m.drivers), [d.name for d in m.drivers])\n"
        "except InputError as e:\n"
        "    print(e)\n"
    )
    env = {"XDG_CACHE_HOME": cache_home, "PATH": "/usr/bin:/bin", "HOME": cache_home}
    return subprocess.run(
        [sys.executable, "-c", code, path], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_cache_written_and_reused(tmp_path):
    bad = tmp_path / "bad.nmr"
    bad.write_text(BAD)
    first = parse_in_fresh_process(str(tmp_path), MODEL)
    cached = list((tmp_path / "nmrcheck").glob("grammar-*.lark"))
    assert len(cached) == 1
    again = parse_in_fresh_process(str(tmp_path), MODEL)
    assert first.returncode == again.returncode == 0
    assert first.stdout == again.stdout and "ExampleProvider" in first.stdout
    assert first.stderr == again.stderr == ""
    # an error position read with the cached tables is the one read without them
    e1 = parse_in_fresh_process(str(tmp_path), str(bad))
    e2 = parse_in_fresh_process(str(tmp_path / "elsewhere"), str(bad))
    assert e1.stdout == e2.stdout and ":3:" in e1.stdout


def test_torn_cache_is_rebuilt(tmp_path):
    parse_in_fresh_process(str(tmp_path), MODEL)
    (cached,) = (tmp_path / "nmrcheck").glob("grammar-*.lark")
    cached.write_bytes(b"torn")
    r = parse_in_fresh_process(str(tmp_path), MODEL)
    assert r.returncode == 0 and r.stderr == "" and "ExampleProvider" in r.stdout
    assert cached.read_bytes() != b"torn"  # written anew


def test_no_cache_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = parse_in_fresh_process(str(blocker), MODEL)
    assert r.returncode == 0 and r.stderr == "" and "ExampleProvider" in r.stdout
