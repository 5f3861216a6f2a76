"""The subcommands of the command line (``nmrcheck.cli`` dispatches to them): each takes
parsed arguments and streams and returns an exit code.

Exit codes: 0 every property holds, 1 a property is violated, 2 bad input or usage,
3 inconclusive (a limit was reached, a bounded search, or a solver said unknown),
4 internal error (a bug in nmrcheck: please report it), 130 interrupted.
"""

EXIT_OK, EXIT_VIOLATED, EXIT_INPUT, EXIT_INCONCLUSIVE, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
