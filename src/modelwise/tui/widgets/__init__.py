"""Small widgets the panes are built from."""
