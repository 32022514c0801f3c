"""The index directory: index generations, the pointer to the live one, the writer's lock.

    <dir>/CURRENT           name of the live generation (replaced atomically by rename)
    <dir>/gen-<n>-<pid>/    a Tantivy index; a rebuild writes a new one beside the live one
    <dir>/writer.lock       flock()ed by the one process that writes; holds its pid
    <dir>/rebuild.request   `catalog search rebuild` asks the running writer for a rebuild

Readers open the generation CURRENT names and notice a switch by its mtime, so a rebuild never
disturbs searches: they answer from the old generation until the new one is complete. The
writer lock is an OS file lock, released by the kernel when its holder dies, so another
process can take over without any clean-up. Tantivy keeps its own lock inside each
generation as well (one IndexWriter per index).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from pathlib import Path

from catalog.settings import Settings

CURRENT = "CURRENT"
LOCK = "writer.lock"
REQUEST = "rebuild.request"
GENERATION_PREFIX = "gen-"


def default_root(settings: Settings) -> Path:
    """CATALOG_SEARCH_INDEX_DIR, else beside the SQLite file (`catalog.db` ->
    `catalog.db.search`), else `./catalog-search/<database name>` under the working dir."""
    if settings.search_index_dir is not None:
        return settings.search_index_dir
    if settings.is_sqlite:
        path = settings.database_url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            return Path(path + ".search")
    name = settings.database_url.rsplit("/", 1)[-1].split("?", 1)[0] or "catalog"
    return Path("catalog-search") / name


class IndexDirectory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock_fd: int | None = None

    # --- generations -------------------------------------------------------------------

    def current(self) -> Path | None:
        """The live generation, or None before the first build."""
        try:
            name = (self.root / CURRENT).read_text().strip()
        except OSError:
            return None
        path = self.root / name
        return path if name.startswith(GENERATION_PREFIX) and path.is_dir() else None

    def new_generation(self) -> Path:
        path = self.root / f"{GENERATION_PREFIX}{time.time_ns()}-{os.getpid()}"
        path.mkdir(parents=True)
        return path

    def publish(self, generation: Path) -> None:
        """Make `generation` the live one, atomically (write aside, fsync, rename)."""
        pointer = self.root / f"{CURRENT}.tmp"
        with open(pointer, "w") as handle:
            handle.write(generation.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, self.root / CURRENT)
        _fsync_dir(self.root)

    def discard_others(self, keep: Path) -> None:
        """Delete every generation but `keep` (readers still on one keep their open files)."""
        for path in self.root.glob(f"{GENERATION_PREFIX}*"):
            if path != keep:
                shutil.rmtree(path, ignore_errors=True)

    def signature(self, generation: Path | None) -> tuple[int, ...]:
        """Changes when a generation is published or `generation` (the one a reader has open)
        commits: two stat() calls, no read."""
        return (*_identity(self.root / CURRENT), *_identity_of_meta(generation))

    # --- the writer's lock -----------------------------------------------------------------

    def try_lock(self) -> bool:
        """Become the writer if no live process is; False when another one holds the lock."""
        if self._lock_fd is not None:
            return True
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return True

    def unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def locked_here(self) -> bool:
        return self._lock_fd is not None

    def writer_pid(self) -> int | None:
        """The pid of the process holding the writer lock, or None when nobody does."""
        path = self.root / LOCK
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:  # held exclusively: read who holds it
                text = os.read(fd, 32).decode(errors="replace").strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    # --- rebuild requests from the command line ----------------------------------------------

    def request_rebuild(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / REQUEST).write_text(f"{time.time()}\n")

    def take_rebuild_request(self) -> bool:
        try:
            (self.root / REQUEST).unlink()
        except FileNotFoundError:
            return False
        return True


def _identity(path: Path) -> tuple[int, int, int]:
    """(inode, mtime, size): a file replaced by rename gets a new inode."""
    try:
        found = path.stat()
    except OSError:
        return (0, 0, 0)
    return (found.st_ino, found.st_mtime_ns, found.st_size)


def _identity_of_meta(generation: Path | None) -> tuple[int, int, int]:
    return (0, 0, 0) if generation is None else _identity(generation / "meta.json")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
