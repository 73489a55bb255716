"""Checks of the model from outside: the fingerprint and golden digest that guard its numbers,
and the vectorised twin it is tested against. Only tests, benchmarks and these checks' own
commands import this package; the model and the command line never do."""
