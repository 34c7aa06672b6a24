"""`python -m trizap` is the `trizap` command."""

from .cli import main

main()
