"""The `pibokeh` subcommands, one module each. Each has `register(subparsers)`; none imports another."""
