"""`python -m mastra_nb ...`: the `mastra_nb` command."""

from .cli import main

raise SystemExit(main())
