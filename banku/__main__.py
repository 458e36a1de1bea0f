"""`python -m banku` is the same as the `banku` command."""

from banku.cli import main

raise SystemExit(main())
