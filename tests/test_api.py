"""The Python API: the examples of docs/api.md and of the module's docstring run as written,
and the API gives what the command line gives."""

from __future__ import annotations

import doctest
import json

import pytest
from support import ROOT, run_cli

import nmrcheck
from nmrcheck.errors import InputError


def test_the_examples_of_docs_api_md_run():
    failed, tried = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False,
                                     optionflags=doctest.ELLIPSIS)
    assert tried > 20 and failed == 0


def test_the_examples_of_the_module_docstring_run():
    import nmrcheck.api

    failed, tried = doctest.testmod(nmrcheck.api)
    assert tried > 3 and failed == 0


@pytest.mark.parametrize("model", ["models/seeds/provider-unload-no-wait.nmr",
                                   "models/seeds/detach-pending-never-completed.nmr",
                                   "models/seeds/multi-npi.nmr"])
def test_the_api_answers_as_the_command_does(model):
    cli = run_cli("check", "--continue", "--json", model)
    report = nmrcheck.check(nmrcheck.load(model), keep_going=True)
    assert report.exit_code == cli.code
    assert json.loads(nmrcheck.to_json(report)) == cli.json["models"][0]


def test_bad_input_is_an_input_error_with_a_position():
    with pytest.raises(InputError) as info:
        nmrcheck.load("t.nmr", text="npi N\ndriver D {\n  provider P of M\n}\n")
    (f,) = info.value.findings
    assert (f.file, f.line) == ("t.nmr", 3)
    with pytest.raises(InputError):
        nmrcheck.check(nmrcheck.load("models/seeds/provider-unload.nmr"), properties=["nope"])
