"""One module per `odl` subcommand (see toolkit/cli.py)."""
