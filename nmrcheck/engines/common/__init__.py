"""What every engine shares: the answers (verdicts, coverage, results), the name of hang
freedom, and the reference check of a liveness counterexample. Engines import only the IR
and this package; the report renders what is defined here."""
