"""A folder of thousands of checkpoints: read off the UI thread, keys answered meanwhile,
and rescans that read only what changed."""

from __future__ import annotations

import asyncio
import os
import threading

from tui_vae import listing
from tui_vae.tui.widgets.checkpoint_table import CheckpointTable

FILES = 2000


async def wait_for(pilot, condition, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.02)


async def test_thousands_of_checkpoints_never_block_the_keys(checkpoints, make_app,
                                                             monkeypatch):
    data = (checkpoints / "vae.safetensors").read_bytes()
    for i in range(FILES):
        (checkpoints / f"run-{i:05d}.safetensors").write_bytes(data)
    for path in [*checkpoints.iterdir(), checkpoints]:
        os.utime(path, ns=(1, 1))  # old stamps: trusted (fresh ones are looked at again)
    ui_thread = threading.main_thread()
    read_on, read = [], listing.CachedListing.__init__.__defaults__[0]

    def counting_read(path):
        read_on.append(threading.current_thread())
        return read(path)

    monkeypatch.setattr(listing.CachedListing.__init__, "__defaults__", (counting_read,))
    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("m")  # while the first scan is still reading headers
        await wait_for(pilot, lambda: len(app.entries) == FILES + 3, timeout=60)
        table = app.screen.query_one(CheckpointTable)
        assert table.row_count == FILES + 3
        # Every header was read in a worker, none on the UI thread.
        assert len(read_on) >= FILES + 3 and ui_thread not in read_on
        # A cold rescan of the whole folder (cache dropped): keys move the cursor meanwhile.
        app.workspace._listing.forget()
        reads = app.workspace._listing.reads
        during = []  # for each key: was the scan still going when the cursor moved?
        move = table.move_cursor
        monkeypatch.setattr(table, "move_cursor",
                            lambda row: during.append(app._scan_lock.locked()) or move(row))
        app.rescan()
        await wait_for(pilot, app._scan_lock.locked, timeout=5)
        await pilot.press(*["down"] * 10)
        assert table.cursor_row == 10  # no key lost when the rows were replaced
        await app.workers.wait_for_complete()
        assert app.workspace._listing.reads - reads == FILES + 3
        assert any(during), "the keys waited for the scan"
        # A save: the next poll reads that one header only.
        reads = app.workspace._listing.reads
        (checkpoints / "run-new.safetensors").write_bytes(data)
        os.utime(checkpoints / "run-new.safetensors", ns=(1, 1))  # old: trusted at once
        await wait_for(pilot, lambda: len(app.entries) == FILES + 4, timeout=5)
        assert app.workspace._listing.reads - reads == 1
