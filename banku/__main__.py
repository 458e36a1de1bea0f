"""`python -m banku` is the same as the `banku` command."""

from .cli import main

raise SystemExit(main())
