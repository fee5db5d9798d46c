"""``python -m mien`` runs the command line."""

from .cli import main

main()
