"""One training run per checkpoint: a lock file beside it, held with flock.

`RunLock(path)` holds `.<name>.lock` next to the checkpoint for as long as a
run writes it. The lock is the kernel's (flock), not the file's existence, so
a run killed with `kill -9` or a crashed machine leaves nothing stuck: the
kernel drops the lock with the process, and the next run takes it over. The
file holds the owner's pid and host, for the refusal message only.

Acquiring the lock also removes temporary files that an interrupted save of
this checkpoint left behind (only the lock holder may write them). On systems
without flock (Windows) the lock is skipped.
"""

from __future__ import annotations

import glob
import os
import socket
from pathlib import Path

from tui_vae.errors import TrainingError
from tui_vae.safe_files import open_for_writing
from tui_vae.wording import printable

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def lock_path(checkpoint: str | os.PathLike) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f".{checkpoint.name}.lock")


class RunLock:
    """A context manager: raises TrainingError if another live run holds the checkpoint."""

    def __init__(self, checkpoint: str | os.PathLike):
        self.checkpoint = Path(checkpoint)
        self.path = lock_path(checkpoint)
        self._fd: int | None = None
        self.owner = ""  # who holds it, once acquire() found it held

    def acquire(self) -> None:
        if fcntl is None or self._fd is not None:  # held already: it stays held
            return
        while True:
            try:  # never through a link planted at the lock's name (it would be truncated)
                fd = open_for_writing(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise TrainingError(f"cannot lock {self.checkpoint}: "
                                    f"{exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                # Its text is another process's (or anyone's): escaped, so that the
                # refusal stays one line.
                owner = printable(os.read(fd, 200).decode("utf-8", "replace").strip()
                                  or "another run")
                os.close(fd)
                self.owner = owner
                raise TrainingError(
                    f"{self.checkpoint} is being written by {owner}; wait for it to finish, "
                    f"stop it, or choose another --out") from None
            # The holder before us may have removed the file between our open and
            # our lock: then we hold a lock on a file nobody else can see. Retry.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        self._fd = fd
        self._remove_stale_temporaries()

    def _remove_stale_temporaries(self) -> None:
        # atomic_write_bytes names them .<name>.<random>.tmp. The name is escaped:
        # "run[1]" or "*" as a pattern would match other runs' temporaries. Only
        # files and links are removed, each on its own: a folder or a file that
        # cannot be removed is left as it is and blocks nothing.
        from tui_vae.checkpoints import is_temporary_of

        pattern = f".{glob.escape(self.checkpoint.name)}.*.tmp"
        for stale in self.checkpoint.parent.glob(pattern):
            if not is_temporary_of(self.checkpoint, stale.name):  # another run's, say
                continue
            try:
                if stale.is_symlink() or not stale.is_dir():
                    stale.unlink(missing_ok=True)
            except OSError:
                pass

    def release(self) -> None:
        if self._fd is None:
            return
        # Remove the file while still holding the lock, then let go: a run that
        # opened the old file meanwhile notices (inode check) and retries.
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
