"""The Textual console (SPEC 11): registry, route form, budget and history panes over one service."""
