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

The user's runs folder is listed with its direct sub-folders (a sweep's
`--out-dir runs/beta`): `SubFolders` finds them again only when the folder's
own time stamp changes (a sub-folder made or removed changes it).

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
# A scan runs in a worker thread beside the UI thread, and Python lets one run
# at a time: a scan that never pauses makes every key wait for its turn (up to
# the interpreter's 5 ms switch interval, many times per frame). So it rests
# briefly after every few milliseconds of work.
WORK_S = 0.002
REST_S = 0.001


@dataclass
class _File:
    stamp: tuple[int, int]  # (mtime_ns, size) when the header was read
    inode: int  # a file saved anew (renamed over the old one) has another inode
    entry: Entry
    racy: bool  # the stamp was too fresh to trust


@dataclass
class _Folder:
    mtime_ns: int
    racy: bool
    racy_files: int  # files whose stamps were too fresh to trust
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
        same_names = (before is not None and before.mtime_ns == mtime_ns and not before.racy
                      and not full)
        if same_names and not before.racy_files:
            return before  # the common case of a poll: one stat, nothing else
        if same_names:
            names = {name: f.inode for name, f in before.files.items()}  # only racy ones change
        else:
            names = self._names(folder)
        old = before.files if before else {}
        files: dict[str, _File] = {}
        work, rested = 0, time.perf_counter()
        for name in sorted(names):
            cached = old.get(name)
            if (cached is not None and cached.inode == names[name] and not cached.racy
                    and not full):
                # Same name, same inode: not replaced (a save renames a new file
                # over the old one, which changes the inode). Rewrites in place
                # are for `full` scans to find.
                files[name] = cached
                continue
            work += 1
            if time.perf_counter() - rested > WORK_S:
                time.sleep(REST_S)
                rested = time.perf_counter()
            found = self._file(folder / name, cached, now)
            if found is not None:
                files[name] = found
        unchanged = (before is not None and files.keys() == before.files.keys()
                     and all(files[n].entry is before.files[n].entry for n in files))
        entries = before.entries if unchanged else [f.entry for f in files.values()]
        racy_files = sum(1 for f in files.values() if f.racy) if work else 0
        return _Folder(mtime_ns, now - mtime_ns < RACY_NS, racy_files, files, entries)

    @staticmethod
    def _names(folder: Path) -> dict[str, int]:
        """The checkpoint files in `folder` and their inodes (hidden ones left out, as a
        glob would). The inodes come with the listing, at no extra system call."""
        try:
            with os.scandir(folder) as found:
                return {e.name: e.inode() for e in found
                        if e.name.endswith(SUFFIX) and not e.name.startswith(".")}
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CheckpointError(f"cannot list {folder}: {exc.strerror or exc}") from None

    def _file(self, path: Path, before: _File | None, now: int) -> _File | None:
        """`path`'s entry: the cached one while its (mtime, size) holds, else read again."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            if not path.is_symlink():
                return None  # removed since the folder was listed
            stat = None  # a link to nothing: listed as unreadable, as the CLI lists it
        except OSError as exc:
            return _File((0, 0), 0, BadCheckpoint(path, f"cannot read {path}: {exc.strerror}"),
                         True)
        if stat is None:  # read again at every scan (its target may come back)
            stamp, inode, racy = (0, 0), 0, True
        else:
            stamp, inode = (stat.st_mtime_ns, stat.st_size), stat.st_ino
            racy = now - stamp[0] < RACY_NS
        if before is not None and before.stamp == stamp and not before.racy:
            return _File(stamp, inode, before.entry, racy)
        self.reads += 1
        try:
            entry: Entry = self._read(path)
        except CheckpointError as exc:
            entry = BadCheckpoint(path, str(exc))
        except Exception as exc:  # one odd file must never hide the others
            entry = BadCheckpoint(path, f"{path}: cannot be read ({type(exc).__name__}: {exc})")
        if before is not None and _same(before.entry, entry):
            entry = before.entry  # read again, unchanged: keep the old object
        return _File(stamp, inode, entry, racy)


# Each listed sub-folder costs a stat at every poll: a runs/ holding thousands of
# them (5,000 took 165 ms a poll here) lists the first ones by name only.
MAX_SUB_FOLDERS = 100


class SubFolders:
    """The direct sub-folders of one folder, the first MAX_SUB_FOLDERS by name: real
    folders only (not links, so nothing outside is listed through one), hidden ones
    left out. Listed again only when the folder's time stamp changed, or was too
    fresh to trust."""

    def __init__(self, root: Path):
        self.root = root
        self._stamp: int | None = None
        self._found: list[Path] = []

    def __call__(self) -> list[Path]:
        try:
            mtime_ns = os.stat(self.root).st_mtime_ns
        except OSError:  # missing or unreadable: the scan says so for the folder itself
            self._stamp, self._found = None, []
            return []
        if mtime_ns == self._stamp:
            return self._found
        try:
            with os.scandir(self.root) as found:
                self._found = sorted(self.root / e.name for e in found
                                     if not e.name.startswith(".")
                                     and e.is_dir(follow_symlinks=False))[:MAX_SUB_FOLDERS]
        except OSError:
            self._found = []
        racy = time.time_ns() - mtime_ns < RACY_NS
        self._stamp = None if racy else mtime_ns
        return self._found


def _same(a: Entry, b: Entry) -> bool:
    return type(a) is type(b) and a == b
