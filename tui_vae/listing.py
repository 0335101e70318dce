"""A cached listing of checkpoint folders: headers re-read only for files that changed.

A folder of thousands of checkpoints took seconds to list because every rescan
read every header. Here a folder is listed again only when its modification
time changed (a file was added, removed or renamed over, as every checkpoint
save does), and a file's header is read again only when its (mtime, size)
changed. So the periodic poll that keeps the Models view live costs one stat
per folder while nothing happens.

A time stamp younger than `RACY_NS` when it was looked at is not trusted (the
"racy git" problem): a coarse file-system clock can give a second change the
same time stamp, so such a folder or file is looked at again on the next scan.

Plain Python, no Textual, no torch; safe to call from a worker thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tui_vae.checkpoints import SUFFIX, BadCheckpoint, CheckpointInfo, read_info
from tui_vae.errors import CheckpointError

Entry = CheckpointInfo | BadCheckpoint

# Time stamps this close to the moment they were read may hide a later change
# made within the same clock tick (FAT keeps 2 s, most others far less).
RACY_NS = 2_000_000_000


@dataclass
class _File:
    stamp: tuple[int, int]  # (mtime_ns, size) when the header was read
    entry: Entry
    racy: bool  # the stamp was too fresh to trust


@dataclass
class _Folder:
    mtime_ns: int
    racy: bool
    files: dict[str, _File] = field(default_factory=dict)  # file name -> what was read
    entries: list[Entry] = field(default_factory=list)  # by name


class CachedListing:
    """Every *.safetensors file of some folders, headers cached by (mtime, size).

    `reads` counts the headers read since creation (tests and benchmarks use it).
    """

    def __init__(self, read: Callable[[Path], CheckpointInfo] = read_info):
        self._read = read
        self._folders: dict[Path, _Folder] = {}
        self._lock = threading.Lock()  # one scan at a time (poll worker, user rescans)
        self._last_folders: list[Path] = []
        self.reads = 0
        self.problems: list[str] = []  # the last scan's unreadable folders

    def scan(self, folders: Iterable[Path], full: bool = False) -> tuple[list[Entry], bool]:
        """(entries of every folder in turn, each folder's by name; whether anything changed).

        `full` also stats every file of folders whose listing did not change, which
        catches a file rewritten in place (its folder's time stamp stays put).
        A folder that is missing lists nothing; one that cannot be read keeps
        what it listed before, and `problems` says why (one line per folder).
        """
        with self._lock:
            folders = list(folders)
            changed = folders != self._last_folders
            self._last_folders = folders
            entries: list[Entry] = []
            self.problems = []
            for folder in folders:
                before = self._folders.get(folder)
                try:
                    after = self._scan_folder(folder, before, full)
                except CheckpointError as exc:  # the other folders are still listed
                    self.problems.append(str(exc))
                    after = before
                if after is None:
                    self._folders.pop(folder, None)
                    changed = changed or before is not None
                    continue
                self._folders[folder] = after
                changed = changed or before is None or after.entries is not before.entries
                entries.extend(after.entries)
            for gone in set(self._folders) - set(folders):
                del self._folders[gone]
            return entries, changed

    def forget(self) -> None:
        """Drop everything cached: the next scan reads every header again."""
        with self._lock:
            self._folders.clear()
            self._last_folders = []

    def _scan_folder(self, folder: Path, before: _Folder | None, full: bool) -> _Folder | None:
        try:
            mtime_ns = os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"cannot list {folder}: {exc.strerror or exc}") from None
        now = time.time_ns()
        if (before is not None and before.mtime_ns == mtime_ns and not before.racy
                and not full and not any(f.racy for f in before.files.values())):
            return before
        racy = now - mtime_ns < RACY_NS
        if before is not None and before.mtime_ns == mtime_ns and not before.racy and not full:
            names = list(before.files)  # the same names: only the racy files are looked at
        else:
            names = self._names(folder)
        files: dict[str, _File] = {}
        for name in sorted(names):
            found = self._file(folder / name, before.files.get(name) if before else None, now)
            if found is not None:
                files[name] = found
        unchanged = (before is not None and files.keys() == before.files.keys()
                     and all(files[n].entry is before.files[n].entry for n in files))
        entries = before.entries if unchanged else [f.entry for f in files.values()]
        return _Folder(mtime_ns, racy, files, entries)

    @staticmethod
    def _names(folder: Path) -> list[str]:
        """The checkpoint file names in `folder` (hidden ones left out, as a glob would)."""
        try:
            with os.scandir(folder) as found:
                return [e.name for e in found
                        if e.name.endswith(SUFFIX) and not e.name.startswith(".")]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointError(f"cannot list {folder}: {exc.strerror or exc}") from None

    def _file(self, path: Path, before: _File | None, now: int) -> _File | None:
        """`path`'s entry: the cached one while its (mtime, size) holds, else read again."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None  # removed since the folder was listed
        except OSError as exc:
            return _File((0, 0), BadCheckpoint(path, f"cannot read {path}: {exc.strerror}"), True)
        stamp = (stat.st_mtime_ns, stat.st_size)
        if before is not None and before.stamp == stamp and not before.racy:
            return before
        self.reads += 1
        try:
            entry: Entry = self._read(path)
        except CheckpointError as exc:
            entry = BadCheckpoint(path, str(exc))
        except Exception as exc:  # one odd file must never hide the others
            entry = BadCheckpoint(path, f"{path}: cannot be read ({type(exc).__name__}: {exc})")
        if before is not None and before.stamp == stamp and _same(before.entry, entry):
            entry = before.entry  # a racy file re-read unchanged: keep the old object
        return _File(stamp, entry, now - stamp[0] < RACY_NS)


def _same(a: Entry, b: Entry) -> bool:
    return type(a) is type(b) and a == b
