"""User key remapping: a TOML file of binding id -> keys, read at start-up.

    # ~/.config/tui-vae/keymap.toml
    "view.generate" = "G"
    "generate.new" = "n,space"

Every binding in the app has an id (see `?` for the list); Textual's keymap
replaces the keys of the bindings named here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from tui_vae.wording import plural


def default_keymap_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("tui-vae")) / "keymap.toml"


def load_keymap(path: Path) -> tuple[dict[str, str], str | None]:
    """(binding id -> keys, a problem to report or None). A missing file is no problem."""
    if not path.exists():
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: not read ({exc}); default keys in use"
    keymap = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
    ignored = len(data) - len(keymap)
    if ignored:
        return keymap, (f"{path}: {plural(ignored, 'entry', 'entries')} ignored "
                        f"(not 'id = \"keys\"')")
    return keymap, None
