"""The symbolic engines (the only package that imports z3): bounded model checking,
k-induction and PDR (Z3's Spacer), with re-checkable proof certificates."""

from .bmc import bmc
from .certificate import (
    Certificate,
    check_certificate,
    fingerprint,
    read_certificate,
    write_certificate,
)
from .induction import k_induction
from .pdr import pdr

__all__ = [
    "Certificate",
    "bmc",
    "check_certificate",
    "fingerprint",
    "k_induction",
    "pdr",
    "read_certificate",
    "write_certificate",
]
