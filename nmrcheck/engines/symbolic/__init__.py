"""The symbolic engines (the only package that imports z3): bounded model checking,
k-induction and unbounded proofs (invariant inference and Z3's Spacer), with re-checkable proof
certificates.

* ``bmc(ts, properties, depth, timeout)``: shortest violations/witnesses up to a bound
  (:mod:`.bmc`, over the finite-domain encoding of :mod:`.finite` and the cone of influence of
  :mod:`.slicing` when they are exact).
* ``k_induction(ts, properties, max_k, timeout)``.
* ``pdr(ts, properties, timeout, shortest, strategy="auto"|"spacer"|"houdini", hints=None)``:
  proofs with certificates (:mod:`.pdr`, :mod:`.houdini`, :mod:`.candidates`).
* ``Certificate``, ``write_certificate``, ``read_certificate``, ``check_certificate``.
"""

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
