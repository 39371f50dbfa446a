"""`python -m slipstream`: the same as the `slipstream` command."""

from slipstream.cli.main import main

main()
