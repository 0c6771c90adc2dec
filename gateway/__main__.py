"""``python -m gateway``: the same as the ``edxgw`` command."""

from gateway.cli import main

raise SystemExit(main())
