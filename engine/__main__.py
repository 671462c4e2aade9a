"""``python -m engine``: the same as the ``oibus`` command."""

from engine.cli import main

main()
