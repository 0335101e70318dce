"""The keymap file can neither hang the app nor take its way out away: regular files
only, a size limit, every problem in one notice, and q / ctrl+c always quit."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tui_vae.tui.keymap import MAX_BYTES, binding_ids, check_keymap, key_problem, load_keymap


def load_within(path, seconds: float = 5.0):
    """load_keymap(path) in a thread: it must return within `seconds`, never block."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=load_keymap(path, binding_ids)),
                              daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"reading {path} blocked"
    return result["r"]


def test_a_fifo_a_device_and_a_folder_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "keymap.fifo"
    os.mkfifo(fifo)
    (tmp_path / "folder").mkdir()
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    for path in (fifo, tmp_path / "folder", link):
        keymap, problem = load_within(path)
        assert keymap == {} and "not a regular file" in problem, problem


def test_a_large_file_is_refused_quickly(tmp_path):
    big = tmp_path / "big.toml"
    with big.open("wb") as handle:  # 35 MB, mostly a hole: reading it all would take seconds
        handle.write(b'"view.train" = "T"\n')
        handle.truncate(35 * 1024 * 1024)
    started = time.perf_counter()
    keymap, problem = load_within(big)
    assert time.perf_counter() - started < 1.0
    assert keymap == {} and f"larger than {MAX_BYTES // 1024} KB" in problem


@pytest.mark.parametrize("keys", ["ctrl+", ",,,", "", " ", "a,,b", "ctrl+shift+", "nope+x",
                                  "two words"])
def test_empty_or_malformed_keys_are_named(keys):
    assert key_problem(keys) is not None
    kept, problems = check_keymap({"view.train": keys})
    assert kept == {} and "view.train" in problems[0]


@pytest.mark.parametrize("keys", ["T", "ctrl+t", "f5", "space,n", "shift+up", "question_mark"])
def test_ordinary_keys_pass(keys):
    assert key_problem(keys) is None
    assert check_keymap({"view.train": keys}) == ({"view.train": keys}, [])


def test_quit_keeps_q_unless_quit_itself_is_rebound():
    kept, problems = check_keymap({"view.train": "q,T", "view.models": "q", "app.help": "ctrl+c"})
    assert kept == {"view.train": "T"}
    assert len(problems) == 3 and all("stays Quit" in p for p in problems)
    # Quit moved by the user: q is free for a view, ctrl+c still is not
    kept, problems = check_keymap({"app.quit": "x", "view.train": "q", "app.help": "x"})
    assert kept == {"app.quit": "x", "view.train": "q"} and len(problems) == 1


def test_every_problem_is_in_one_notice(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text('"nope.first" = "k"\n"view.train" = "ctrl+"\n"view.models" = ",,,"\n'
                    '"view.generate" = "q"\n"other" = 5\n"view.latent" = "L"\n')
    keymap, notice = load_keymap(path, binding_ids)
    assert keymap == {"view.latent": "L"}
    assert notice.count(str(path)) == 1
    for part in ("unknown id nope.first", "view.train = 'ctrl+'", "view.models = ',,,'",
                 "q stays Quit, not view.generate", "1 entry ignored", "ctrl+c always quits"):
        assert part in notice, (part, notice)


async def test_the_app_reports_it_once_and_q_still_quits(checkpoints, make_app, tmp_path):
    from tui_vae.tui.screens.reconstruct import ReconstructScreen

    path = tmp_path / "keymap.toml"
    ids = sorted(binding_ids())
    # Every id on q, then a few malformed ones and an unknown one; r moves to R.
    path.write_text("".join(f'"{i}" = "q"\n' for i in ids
                            if i not in ("view.reconstruct", "view.train"))
                    + '"view.reconstruct" = "R"\n"view.train" = "ctrl+"\n"nope" = "x"\n')
    app = make_app(checkpoints, keymap=path)
    seen = []
    notify = app.notify
    app.notify = lambda message, *a, **k: (seen.append(message), notify(message, *a, **k))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("R")
        assert isinstance(app.screen, ReconstructScreen)
        keymap_notices = [m for m in seen if str(path) in m]
        assert len(keymap_notices) == 1
        assert "unknown id nope" in keymap_notices[0] and "stays Quit" in keymap_notices[0]
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0 and not app.is_running


@pytest.mark.parametrize("where", ["view", "input field"])
async def test_ctrl_c_quits_even_when_quit_is_rebound(checkpoints, make_app, tmp_path, where):
    from textual.widgets import Input

    path = tmp_path / "keymap.toml"
    path.write_text('"app.quit" = "x"\n')
    app = make_app(checkpoints, keymap=path)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if where == "input field":
            await pilot.press("t")
            await pilot.pause()
            app.set_focus(app.screen.query(Input).first())
            await pilot.pause()
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert not app.is_running and app.return_code == 0


async def test_a_fifo_keymap_leaves_the_app_usable(checkpoints, make_app, tmp_path):
    fifo = tmp_path / "keymap.fifo"
    os.mkfifo(fifo)
    app = make_app(checkpoints, keymap=fifo)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running


def test_a_key_given_to_two_of_the_apps_bindings_is_named():
    from tui_vae.tui.keymap import shared_keys

    defaults = {"view.train": "t", "view.generate": "g", "view.latent": "l", "app.quit": "q"}
    # Generate takes Train's t: only one of them could ever run.
    problems = shared_keys({"view.generate": "t", "view.latent": "g"}, defaults)
    assert problems == ["a key is bound twice: t (view.generate and view.train)"]
    assert shared_keys({"view.generate": "x", "view.latent": "g"}, defaults) == []  # a swap
    assert shared_keys({}, defaults) == [] and shared_keys({"other.id": "t"}, defaults) == []
    assert "?" not in shared_keys({"view.train": "?"}, {**defaults, "app.help": "question_mark"})[0]


def test_a_global_key_a_view_now_takes_is_named():
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.tui.keymap import shadowed_keys, view_binding_keys

    app = {b.id: b.key for b in TuiVaeApp.BINDINGS if getattr(b, "id", None)}
    views = view_binding_keys()
    # Help on escape: Interpolate's and Train's escape (done editing) would keep it there.
    [problem] = shadowed_keys({"app.help": "escape"}, app, views)
    assert "app.help's escape by" in problem
    assert "interp.blur" in problem and "train.blur" in problem
    # A view's key moved onto a global one.
    [problem] = shadowed_keys({"generate.new": "t"}, app, views)
    assert problem.endswith("view.train's t by generate.new")
    # The defaults' own overlaps (q and ? close the help screen) are on purpose.
    assert shadowed_keys(dict(app), app, views) == []
    assert shadowed_keys({"generate.new": "n"}, app, views) == []


def test_entries_that_are_not_strings_are_named(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text('"view.reconstruct" = 5\n"view.latent" = "L"\n[table]\nx = 1\n')
    keymap, notice = load_keymap(path, binding_ids)
    assert keymap == {"view.latent": "L"}
    assert "2 entries ignored" in notice and "view.reconstruct, table" in notice


async def test_the_app_names_a_key_bound_twice(checkpoints, make_app, tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text('"view.generate" = "t"\n')
    app = make_app(checkpoints, keymap=path)
    async with app.run_test(size=(100, 32)) as pilot:
        for _ in range(20):
            await pilot.pause(0.1)
            if app._notifications:
                break
        notices = [n.message for n in app._notifications]
        assert any("bound twice: t (view.generate and view.train)" in n for n in notices)
