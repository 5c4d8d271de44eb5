"""``python -m usage_local`` is the ``usage-local`` command."""

from usage_local.cli import main

raise SystemExit(main())
