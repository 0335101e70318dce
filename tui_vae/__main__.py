"""`python -m tui_vae`: the same as the `tui-vae` command."""

from tui_vae.entry import main

main()
