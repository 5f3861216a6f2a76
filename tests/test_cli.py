"""The command line: exit codes, JSON, limits, errors with positions and no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support import ROOT, run_cli


def test_missing_file_is_exit_2_with_one_line():
    r = run_cli("check", "models/nope.nmr")
    assert r.code == 2
    assert r.err.strip() == "models/nope.nmr: error: no such file"


def test_directory_is_exit_2():
    r = run_cli("check", "models")
    assert r.code == 2 and "is a directory" in r.err


def test_usage_error_is_exit_2():
    r = run_cli("check")
    assert r.code == 2
    r = run_cli("check", "models/seeds/provider-unload.nmr", "--max-states", "zero")
    assert r.code == 2


def test_syntax_error_has_position(tmp_path):
    bad = tmp_path / "bad.nmr"
    bad.write_text("npi X\ndriver D {\n  provider P of X\n  Unload { s = }\n}\n")
    r = run_cli("check", str(bad))
    assert r.code == 2
    assert r.err.startswith(f"{bad}:4:16: error: unexpected '}}'")
    assert "Traceback" not in r.err


def test_semantic_error_has_position(tmp_path):
    bad = tmp_path / "bad.nmr"
    bad.write_text("npi X\ndriver D {\n  provider P of X\n  Unload { NmrDeregisterClient(P) }\n}\n")
    r = run_cli("check", str(bad))
    assert r.code == 2
    assert f"{bad}:4:32: error: 'P' is a provider registration" in r.err


def test_max_states_gives_unknown_and_exit_3():
    r = run_cli("check", "models/seeds/subcomponent.nmr", "--max-states", "50", "--json")
    assert r.code == 3
    doc = r.json["models"][0]
    assert doc["stats"]["complete"] is False
    for p in doc["properties"]:
        assert p["verdict"] in ("unknown", "violated")
        if p["verdict"] == "unknown":
            assert "state limit 50" in p["reason"]
    text = run_cli("check", "models/seeds/subcomponent.nmr", "--max-states", "50")
    assert "search: explicit, partial" in text.out and "holds" not in text.out


def test_violation_found_before_the_limit_is_still_reported():
    r = run_cli("check", "models/seeds/provider-unload-no-wait.nmr", "--max-states", "40", "--json")
    assert r.code == 1
    got = {p["property"]: p["verdict"] for p in r.json["models"][0]["properties"]}
    assert got["DRG-2"] == "violated"


def test_json_schema_fields():
    r = run_cli("check", "models/seeds/provider-unload-no-wait.nmr", "--json")
    doc = r.json
    assert doc["version"] == 1 and doc["exit_code"] == 1
    m = doc["models"][0]
    for p in m["properties"]:
        assert {"property", "verdict", "engine", "states"} <= set(p)
        assert p["engine"] == "explicit"
    v = next(p for p in m["properties"] if p["verdict"] == "violated")
    step = v["trace"][0]
    assert {"actor", "routine", "action", "status", "line", "file"} <= set(step)


def test_several_models_worst_exit_code():
    r = run_cli(
        "check",
        "models/seeds/provider-unload.nmr",
        "models/seeds/provider-unload-no-wait.nmr",
        "--json",
    )
    assert r.code == 1
    assert [m["exit_code"] for m in r.json["models"]] == [0, 1]


def test_unknown_property_is_input_error():
    r = run_cli("check", "models/seeds/provider-unload.nmr", "--property", "unload_wait")
    assert r.code == 2 and "did you mean" in r.err


def test_extra_spec_file(tmp_path):
    spec = tmp_path / "x.spec"
    spec.write_text(
        "reachable some_live: exists b in bindings: b.phase == LIVE\n"
        "invariant never_live: forall b in bindings: b.phase != LIVE\n"
    )
    r = run_cli("check", "models/seeds/provider-unload.nmr", "--spec", str(spec), "--json")
    got = {p["property"]: p["verdict"] for p in r.json["models"][0]["properties"]}
    assert got["some_live"] == "witnessed"
    assert got["never_live"] == "violated"
    assert r.code == 1


def test_graph_dot_highlights_counterexample(tmp_path):
    out = tmp_path / "g.dot"
    r = run_cli(
        "graph",
        "models/seeds/detach-pending.nmr",
        "--dot",
        "-o",
        str(out),
        "--property",
        "unload_waits_for_bindings",
    )
    assert r.code == 0
    text = out.read_text()
    assert text.startswith("digraph nmrcheck {")
    assert text.count("->") > 10
    r = run_cli("graph", "models/seeds/provider-unload-no-wait.nmr", "--dot", "--property", "DRG-2")
    assert "color=red" in r.out


def test_graph_summary():
    r = run_cli("graph", "models/seeds/detach-pending.nmr")
    assert r.code == 0 and "strongly connected components" in r.out


def test_console_script_runs_without_traceback(tmp_path):
    bad = tmp_path / "bin.nmr"
    bad.write_bytes(b"npi \x00\xff")
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-m", "nmrcheck", "check", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 2
    assert "binary file" in proc.stderr and "Traceback" not in proc.stderr


def test_output_is_deterministic_across_hash_seeds():
    outs = []
    for seed in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "nmrcheck",
                "check",
                "models/seeds/subcomponent-unload-no-wait.nmr",
                "--json",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert proc.returncode == 1
        outs.append(proc.stdout)
    assert outs[0] == outs[1]
    text = [run_cli("check", "models/seeds/subcomponent-unload-no-wait.nmr").out for _ in range(2)]
    assert text[0] == text[1]


def test_graph_svg_when_graphviz_is_installed(tmp_path):
    import shutil

    svg = tmp_path / "g.svg"
    r = run_cli("graph", "models/seeds/provider-unload-no-wait.nmr", "--svg", str(svg),
                "--property", "DRG-2")
    if shutil.which("dot") is None:
        assert r.code == 2 and "Graphviz" in r.err
        return
    assert r.code == 0, r.err
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") or "<svg" in text[:400]
    assert "<svg" in text and text.count("<g id=\"node") == 310
    assert 'stroke="red"' in text


def test_console_script_writes_the_whole_report_before_it_exits(tmp_path):
    # the process ends without Python's teardown: what it printed must all be there
    seed = "models/seeds/subcomponent-unload-no-wait.nmr"
    out = tmp_path / "report.json"
    with out.open("w") as fh:
        proc = subprocess.run([sys.executable, "-m", "nmrcheck", "check", seed, "--json"],
                              stdout=fh, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert json.loads(out.read_text()) == json.loads(run_cli("check", seed, "--json").out)
    assert "exit 1" in proc.stderr


def test_console_script_reader_gone_is_a_quiet_exit_141():
    proc = subprocess.Popen(
        [sys.executable, "-m", "nmrcheck", "check", "models/seeds/subcomponent-unload-no-wait.nmr"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()  # before the report is written: its writes meet a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "Exception ignored" not in err


def test_a_check_imports_neither_the_other_commands_nor_the_unasked_formats():
    # start-up is part of every run: the parser fills only the named subcommand, and the
    # output formats and Ray's side load when asked for
    code = ("import io, sys\n"
            "from nmrcheck.cli import main\n"
            "main(['check', 'models/seeds/detach-pending.nmr'], io.StringIO(), io.StringIO())\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('nmrcheck.'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    loaded = set(proc.stdout.split())
    assert "nmrcheck.commands.check" in loaded and "nmrcheck.engines.explicit.search" in loaded
    for other in ("nmrcheck.distributed.swarm_cmd", "nmrcheck.distributed.sweep",
                  "nmrcheck.distributed.checks", "nmrcheck.commands.replay",
                  "nmrcheck.commands.certify", "nmrcheck.simulate", "nmrcheck.lsp.cli",
                  "nmrcheck.report.html", "nmrcheck.report.sarif", "nmrcheck.report.itf"):
        assert other not in loaded, other
