"""Load a model and its specs from files into a checked TransitionSystem."""

from __future__ import annotations

from pathlib import Path

from nmrcheck.errors import Finding, InputError
from nmrcheck.ir import TransitionSystem
from nmrcheck.lang import ast as A
from nmrcheck.lang.parser import parse_model, parse_spec, read_source
from nmrcheck.nmr.compile import compile_design
from nmrcheck.nmr.design import elaborate
from nmrcheck.nmr.fairness import fairness
from nmrcheck.nmr.specs import compile_spec

# names of built-in properties a spec may not reuse
RESERVED_PROPERTIES = frozenset(
    {
        "no_hang",
        "range",
        "lock",
        "irql",
        "use_after_free",
        "rundown",
        "refcount",
        "epoch",
        "work_after_unload",
    }
)
BUNDLED_SPECS = Path(__file__).resolve().parents[2] / "specs"
PACKAGE_SPECS = Path(__file__).resolve().parents[1] / "specs"


def bundled_specs() -> list[str]:
    """The spec files applied by default (specs/*.spec of the project), relative when near.

    In a checkout they are read from the project's specs/; an installed package carries a
    copy in nmrcheck/specs/.
    """
    out = []
    folder = BUNDLED_SPECS if BUNDLED_SPECS.is_dir() else PACKAGE_SPECS
    for p in sorted(folder.glob("*.spec")):
        try:
            out.append(str(p.relative_to(Path.cwd())))
        except ValueError:
            out.append(str(p))
    return out


def load_text(
    text: str, file: str, specs: list[tuple[str, str]] = (), options: dict[str, str] | None = None
) -> TransitionSystem:
    """Compile model text and (file, text) specs; raises InputError with positioned findings."""
    model = parse_model(text, file)
    design = elaborate(model)
    ts = compile_design(design, options)
    ts.fairness = fairness(ts)
    names = {p.name for p in ts.properties} | RESERVED_PROPERTIES
    own = A.Spec(model.pos, design.model.props, text)  # the properties the model declares
    parsed = [parse_spec(spec_text, spec_file) for spec_file, spec_text in specs]
    for spec in [*parsed, own]:
        for p in compile_spec(ts, spec):
            if p.name in names:
                pos = p.meta["pos"]
                raise InputError(
                    Finding(
                        pos.file,
                        pos.line,
                        pos.col,
                        f"property name {p.name!r} is taken (built in or defined before)",
                    )
                )
            names.add(p.name)
            ts.properties.append(p)
    ts.meta["model_file"] = file
    ts.meta["source"] = text
    return ts


def load(
    model_path: str,
    spec_paths: list[str] = (),
    bundled: bool = True,
    options: dict[str, str] | None = None,
) -> TransitionSystem:
    """Read, parse and compile a model file with the bundled specs and ``spec_paths``."""
    text = read_source(model_path)
    files = (bundled_specs() if bundled else []) + list(spec_paths)
    specs = [(f, read_source(f)) for f in files]
    return load_text(text, model_path, specs, options)
