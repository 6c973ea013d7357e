"""The console's four panes, one module each."""
