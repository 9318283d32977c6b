"""``python -m gitrollback``."""

from gitrollback.cli import main

raise SystemExit(main())
