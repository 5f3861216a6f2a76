"""``python -m nmrcheck``."""

from nmrcheck.cli import run

run()
