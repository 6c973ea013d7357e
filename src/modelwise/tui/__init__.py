"""The Textual console (docs/design.md, "Console"): registry, route form, budget and history panes over one
service."""
