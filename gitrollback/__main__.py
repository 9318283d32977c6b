"""``python -m gitrollback``."""

from gitrollback.entry import main

raise SystemExit(main())
