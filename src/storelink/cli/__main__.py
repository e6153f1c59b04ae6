"""``python -m storelink.cli``: the same as the ``storelink`` command."""

from storelink.cli.app import main

main()
