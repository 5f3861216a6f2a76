"""nmrcheck: a model checker for Windows Network Module Registrar (NMR) lifecycle designs."""

__version__ = "0.1.0"
