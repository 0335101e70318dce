"""One module per view of the explorer, plus the help and confirmation dialogs."""
