"""The app's torch thread policy: one thread for the UI and loaders (its run is a child process)."""

from __future__ import annotations

import threading

import torch

from tui_vae.tui.app import use_one_torch_thread


def _threads_in_a_helper() -> int:
    seen = []

    def work() -> None:
        use_one_torch_thread()
        torch.ones(4) @ torch.ones(4)  # some torch work under the setting
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return seen[0]


def test_helpers_get_one_thread_and_leave_other_threads_alone():
    default = torch.get_num_threads()
    assert _threads_in_a_helper() == 1
    assert torch.get_num_threads() == default  # per thread: this one keeps its own


async def test_the_ui_thread_decodes_with_one_thread(make_app, checkpoints):
    app = make_app(checkpoints)
    async with app.run_test(size=(100, 32)):
        await app.workers.wait_for_complete()
        assert app.model is not None
        assert torch.get_num_threads() == 1  # the test runs on the app's UI thread
