"""Launcher: install the plugin, then hand over to moto's own server main()."""

import sys

from deckhand_moto_plugin import install

install()

from moto.server import main  # noqa: E402

main(sys.argv[1:])
