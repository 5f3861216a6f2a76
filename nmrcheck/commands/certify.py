"""``nmrcheck certify FILE MODEL``: re-check a saved proof certificate against a model."""

from __future__ import annotations

import argparse
from typing import TextIO

from nmrcheck import inputs
from nmrcheck.commands import EXIT_OK, EXIT_VIOLATED
from nmrcheck.commands.check import load_model
from nmrcheck.errors import InputError


def cmd_certify(args: argparse.Namespace, out: TextIO) -> int:
    """Re-check a saved certificate against a model, with a fresh solver."""
    from nmrcheck.engines.symbolic import check_certificate, read_certificate

    inputs.check_readable(args.certificate, "certificate")
    cert = read_certificate(args.certificate)
    ts = load_model(args, args.model)
    if cert.property not in {p.name for p in ts.properties}:
        raise InputError(
            f"{args.certificate}: certifies property {cert.property!r}, which "
            f"{args.model} does not have"
        )
    ok, message = check_certificate(ts, cert)
    verdict = "valid" if ok else "INVALID"
    out.write(
        f"{args.certificate}: {verdict} certificate of {cert.property} for {args.model}"
        f"\n  {message}\n"
    )
    return EXIT_OK if ok else EXIT_VIOLATED
