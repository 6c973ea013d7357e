"""`python -m modelwise`: the same entry point as the `modelwise` script."""

from modelwise.cli import main

raise SystemExit(main())
