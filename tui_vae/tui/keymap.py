"""User key remapping: a TOML file of binding id -> keys, read at start-up.

    # ~/.config/tui-vae/keymap.toml
    "view.generate" = "G"
    "generate.new" = "n,space"

Every binding in the app has an id (see `?` for the list); Textual's keymap
replaces the keys of the bindings named here. The file is read with a size
limit and only if it is a regular file (a FIFO would block the app before its
first frame). What cannot be applied (an unknown id, an empty or malformed key,
a key that would take the way out away) is left out and reported in one notice:
q keeps quitting unless the user rebinds Quit itself, and ctrl+c always quits.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

from tui_vae.wording import plural

MAX_BYTES = 64 * 1024  # a keymap is a few lines; anything bigger is not one
QUIT_ID = "app.quit"
ALWAYS_QUIT = ("ctrl+c", "ctrl+q")  # bound to Quit by the app itself, never remapped
_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
_KEY_NAME = re.compile(r"^[a-z0-9_]+$")  # Textual's key names: "space", "f1", "pageup"


def default_keymap_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("tui-vae")) / "keymap.toml"


def read_limited(path: Path, limit: int = MAX_BYTES) -> str:
    """The text of `path` if it is a regular file of at most `limit` bytes; else OSError.

    Checked with stat before opening, and opened non-blocking: a FIFO or a device
    named as the keymap must never make the app wait.
    """
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(f"{path} is not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped since the stat
            raise OSError(f"{path} is not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path} is larger than {limit // 1024} KB")
    return data.decode("utf-8")


def key_problem(keys: str) -> str | None:
    """Why `keys` ("q", "ctrl+x,space") is not a usable key list, or None if it is."""
    for key in keys.split(","):
        key = key.strip()
        if not key:
            return "an empty key"
        *modifiers, name = key.split("+")
        if not name or any(m not in _MODIFIERS for m in modifiers):
            return f"{key!r} is not a key"
        if len(name) > 1 and not _KEY_NAME.match(name):
            return f"{key!r} is not a key"
    return None


def _key_set(keys: str) -> set[str]:
    from textual.keys import _normalize_key_list

    return set(_normalize_key_list(keys).split(","))


def binding_ids() -> set[str]:
    """Every binding id of the app, its views and its widgets (imports the views)."""
    from tui_vae.tui.app import TuiVaeApp

    return set(view_binding_keys()) | {b.id for b in TuiVaeApp.BINDINGS
                                       if getattr(b, "id", None)}


def view_binding_keys() -> dict[str, str]:
    """Each binding id of the views and widgets (not the App's) -> its default keys."""
    import pkgutil
    from importlib import import_module

    from textual.dom import DOMNode

    import tui_vae.tui.screens as screens
    import tui_vae.tui.widgets as widgets
    from tui_vae.tui.app import TuiVaeApp

    classes: list[type] = []
    for package in (screens, widgets):
        for module in pkgutil.iter_modules(package.__path__):
            loaded = import_module(f"{package.__name__}.{module.name}")
            classes += [c for c in vars(loaded).values()
                        if isinstance(c, type) and issubclass(c, DOMNode)]
    keys = {}
    for cls in classes:
        for base in cls.__mro__:
            if base is TuiVaeApp:
                continue
            for binding in vars(base).get("BINDINGS", ()):
                if getattr(binding, "id", None):
                    keys[binding.id] = binding.key
    return keys


def unknown_ids(entries: dict[str, str], known: set[str]) -> list[str]:
    """The problem of ids in `entries` that name no binding (a list of 0 or 1 lines)."""
    unknown = sorted(k for k in entries if k not in known)
    if not unknown:
        return []
    shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
    return [f"unknown {'id' if len(unknown) == 1 else 'ids'} {shown}"]


def shared_keys(keymap: dict[str, str], defaults: dict[str, str]) -> list[str]:
    """The problem of keys that two of the same scope's bindings now share (0 or 1 lines).

    `defaults` maps the scope's binding ids (the App's: the view keys and the
    global ones) to their default keys; the keymap's entries replace them. Only
    one of two bindings on the same key can ever run (the tab bar would show
    both), so such a keymap is reported, not guessed at."""
    holders: dict[str, list[str]] = {}
    for binding_id, keys in {**defaults, **{k: v for k, v in keymap.items()
                                            if k in defaults}}.items():
        for key in sorted(_key_set(keys)):
            holders.setdefault(key, []).append(binding_id)
    shared = [f"{key} ({' and '.join(sorted(ids))})" for key, ids in sorted(holders.items())
              if len(ids) > 1 and any(i in keymap for i in ids)]
    if not shared:
        return []
    return [f"{'a key is' if len(shared) == 1 else 'keys are'} bound twice: "
            + ", ".join(shared)]


def shadowed_keys(keymap: dict[str, str], app_defaults: dict[str, str],
                  view_defaults: dict[str, str]) -> list[str]:
    """The problem of global keys a view's own binding now takes (0 or 1 lines).

    A view's bindings come before the App's, so in that view the global action
    (help, a view switch) is out of reach: reported where the keymap made it so.
    Overlaps the defaults hold on purpose (the help screen's q and ? close it) are not."""
    def effective(defaults, changed):
        return {i: _key_set(changed.get(i, keys)) for i, keys in defaults.items()}

    app, views = effective(app_defaults, keymap), effective(view_defaults, keymap)
    app_before, views_before = effective(app_defaults, {}), effective(view_defaults, {})
    takers: dict[tuple[str, str], list[str]] = {}  # (app id, key) -> view ids
    for app_id, app_keys in sorted(app.items()):
        for view_id, view_keys in sorted(views.items()):
            new = (app_keys & view_keys) - (app_before[app_id] & views_before[view_id])
            for key in sorted(new):
                takers.setdefault((app_id, key), []).append(view_id)
    if not takers:
        return []
    taken = [f"{app_id}'s {key} by {', '.join(ids)}" for (app_id, key), ids in takers.items()]
    return ["a view's own key wins in that view; taken there: " + "; ".join(taken)]


def check_keymap(entries: dict[str, str], default_quit: str = "q",
                 ) -> tuple[dict[str, str], list[str]]:
    """(the entries that can be applied, what was left out and why).

    Malformed keys are dropped. Quit's keys (its default `default_quit`, or the
    keymap's own for `app.quit`) stay Quit's: other bindings lose them, so a
    view can never shadow the way out.
    """
    problems, kept = [], {}
    for binding_id, keys in entries.items():
        problem = key_problem(keys)
        if problem:
            problems.append(f"{binding_id} = {keys!r}: {problem}")
        else:
            kept[binding_id] = keys
    quit_keys = _key_set(kept.get(QUIT_ID, default_quit)) | set(ALWAYS_QUIT)
    for binding_id, keys in list(kept.items()):
        if binding_id == QUIT_ID:
            continue
        keys_list = [k.strip() for k in keys.split(",")]
        taken = [k for k in keys_list if _key_set(k) & quit_keys]
        if taken:
            left = [k for k in keys_list if k not in taken]
            problems.append(f"{', '.join(taken)} stays Quit, not {binding_id}")
            if left:
                kept[binding_id] = ",".join(left)
            else:
                del kept[binding_id]
    return kept, problems


def read_keymap(path: Path) -> tuple[dict[str, str], list[str]]:
    """(binding id -> keys that can be applied, the problems found); ids unchecked.

    A missing file is no problem; an unreadable one leaves the default keys.
    """
    try:
        text = read_limited(path)
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [f"not read ({exc.strerror or exc}); default keys in use"]
    except UnicodeDecodeError:
        return {}, ["not UTF-8 text; default keys in use"]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"not read ({exc}); default keys in use"]
    except RecursionError:  # arrays nested thousands deep: tomllib recurses per level
        return {}, ["not read (nested too deeply); default keys in use"]
    entries = {k: v for k, v in data.items() if isinstance(v, str)}
    problems = []
    if len(data) > len(entries):
        others = [k for k in data if k not in entries]
        named = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        problems.append(f"{plural(len(others), 'entry', 'entries')} ignored "
                        f"(not 'id = \"keys\"'): {named}")
    keymap, left_out = check_keymap(entries)
    return keymap, problems + left_out


def keymap_notice(path: Path, problems: list[str]) -> str | None:
    """All of a keymap's problems as one notice, or None."""
    if not problems:
        return None
    return f"{path}: " + "; ".join(problems) + " (ctrl+c always quits)"


def load_keymap(path: Path, known: Callable[[], set[str]] | None = None,
                ) -> tuple[dict[str, str], str | None]:
    """(binding id -> keys, one notice of what was left out, or None).

    `known()` gives the valid binding ids (asked only when the file has entries:
    it imports every view); entries naming none are left out.
    """
    keymap, problems = read_keymap(path)
    if known is not None and keymap:
        unknown = unknown_ids(keymap, known())
        if unknown:
            ids = known()
            keymap = {k: v for k, v in keymap.items() if k in ids}
        problems = unknown + problems
    return keymap, keymap_notice(path, problems)
