"""``python -m crystaloop``: the same as the ``crystaloop`` command."""

from crystaloop.cli import main

main()
