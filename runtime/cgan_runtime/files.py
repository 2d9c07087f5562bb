"""File writes that never leave half a file and never replace what they should not.

A regular destination is written atomically: a reader sees the old file or
the whole new one. The new file gets the mode a plain `open()` would give it
(0666 less the umask) or, when it replaces a file, that file's mode. A
symbolic link is followed: its target is written atomically and the link
kept. Anything else that exists and is not a regular file (/dev/null, a
FIFO, a terminal) is written directly, as the shell's `>` would: renaming a
file over a device node would destroy it.

Temp files are `.NAME.RANDOM.tmp` beside the destination, created with
O_EXCL, so a stale one left by a killed run is never reused or trusted; it
is removed on any exception, SIGTERM included once the command has turned
SIGTERM into an exception (`cgan_runtime.commands.errors.run_command` does).

Failures are OSError subclasses whose message names the path: the library
raises them, the commands turn them into one line and an exit code.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Callable

_NEW_FILE_MODE = 0o666  # the umask is applied by the kernel at creation, as for open()
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC
# Names resolved against a folder's descriptor (POSIX; os.replace takes one where os.rename does),
# elsewhere joined to its path.
_DIR_FDS = {os.open, os.unlink, os.rename, os.link, os.stat} <= os.supports_dir_fd
# link(2)'s refusals on a file system without hard links (FAT, some network file systems).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call `write` on a file object for `path`; returns the path written.

    Regular (or new) files: a temp file beside the target, renamed over it
    once complete; on any failure it is removed and the target untouched.
    """
    path = Path(path)
    target = _target(path)
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        _write_in_place(target, write)
    else:
        _write_and_rename(target, write, existing)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_output(path: str | os.PathLike[str], data: bytes) -> Path:
    """`atomic_write_bytes` whose OSError message always starts with "cannot write PATH"."""
    try:
        return atomic_write_bytes(path, data)
    except OSError as exc:
        if str(exc).startswith("cannot write"):
            raise
        raise _naming(exc, path) from None


def _naming(exc: OSError, path: str | os.PathLike[str]) -> OSError:
    """`exc` again, its message "cannot write PATH: reason" (its own may name a temp file, or a name relative
    to an open folder)."""
    return type(exc)(f"cannot write {path}: {exc.strerror or exc}")


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise an OSError naming the reason, before any work, when `path` cannot be written at all."""
    path = Path(path)
    target = _target(path)
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    if target.exists() and not target.is_file():
        if not os.access(target, os.W_OK):
            raise PermissionError(f"cannot write {path}: permission denied")
        return  # a device or FIFO is written in place; its folder does not matter
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: no directory {target.parent}")
    if not os.access(target.parent, os.W_OK):
        raise PermissionError(f"cannot write {path}: {target.parent} is not writable")


def _target(path: Path) -> Path:
    """What a write to `path` lands on: a symbolic link's target, else `path` itself.

    A link to something that is no file in a folder (/dev/stdout -> /proc/self/fd/1 -> 'pipe:[...]')
    stays the link: opening it reaches the pipe, where a temp file beside its 'target' cannot be made.
    """
    if not path.is_symlink():
        return path
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) and not stat.S_ISDIR(os.stat(path).st_mode):
            return path
    except OSError:  # a dangling link: its target is created
        pass
    return Path(os.path.realpath(path))


def _write_in_place(target: Path, write: Callable[[BinaryIO], None]) -> None:
    """Devices, FIFOs and the like: open and write, no temp file, no rename, no fsync (they have none)."""
    with open(target, "wb") as f:
        write(f)


def _write_and_rename(target: Path, write: Callable[[BinaryIO], None], existing: os.stat_result | None) -> None:
    fd, tmp = _create_temp(target)
    try:
        if existing is not None:
            _keep_mode_and_owner(fd, existing)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _keep_mode_and_owner(fd: int, existing: os.stat_result) -> None:
    """Give the new file the replaced file's mode and, where allowed (root), its owner and group."""
    os.fchmod(fd, stat.S_IMODE(existing.st_mode))
    if (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, existing.st_uid, existing.st_gid)
        except OSError:  # not root: the file becomes ours, as with any editor's save
            pass


def _create_temp(target: Path) -> tuple[int, Path]:
    """A new `.NAME.RANDOM.tmp` beside `target`; O_EXCL means a leftover is never opened."""
    fd, tmp = _new_temp(target.name, lambda name: os.open(target.with_name(name), _TEMP_FLAGS, _NEW_FILE_MODE))
    return fd, target.with_name(tmp)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; some file systems refuse, which costs only durability."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to `fd`, os.write in a loop: a short write (a pipe, a signal) continues where it stopped."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class OpenFolder:
    """A folder held open for many small atomic writes into it: a labelled set's class folder.

    Names are resolved against the open folder (a directory file descriptor where the platform
    has them) rather than a path: no path is parsed or walked per file, and a folder swapped for
    a link mid-run is not followed. `write_temp` is the first half of a write, `commit_temps` the
    second; the temp files are named as `atomic_write`'s, `.NAME.RANDOM.tmp`, created with O_EXCL
    and the umask's mode.
    """

    def __init__(self, path: str | os.PathLike[str], descriptor: bool = True) -> None:
        """`descriptor=False` joins names to the path rather than hold a descriptor (many folders at once)."""
        self.path = Path(path)
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
        self._fd = os.open(self.path, flags) if descriptor and _DIR_FDS else None

    def __enter__(self) -> OpenFolder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write_temp(self, name: str, data: bytes) -> str:
        """`data` in a new temp file for `name`, not yet synced or renamed: the temp file's name.

        On failure the temp file is removed and the OSError names `name`'s path.
        """
        try:
            fd, tmp = _new_temp(name, lambda temp: os.open(self._at(temp), _TEMP_FLAGS, _NEW_FILE_MODE, **self._dir))
        except OSError as exc:
            raise _naming(exc, self.path / name) from None
        try:
            write_all(fd, data)
        except BaseException as exc:
            self.remove(tmp)
            if isinstance(exc, OSError):
                raise _naming(exc, self.path / name) from None
            raise
        finally:
            os.close(fd)
        return tmp

    def remove(self, name: str) -> None:
        try:
            os.unlink(self._at(name), **self._dir)
        except FileNotFoundError:
            pass

    def _put_in_place(self, tmp: str, name: str) -> None:
        """Give temp file `tmp` the name `name`, replacing nothing but a regular file.

        A hard link never replaces anything, so a device or FIFO put at `name` meanwhile stays;
        a regular file there (another run of the same set) is replaced whole, as `atomic_write`
        would. A file system without hard links gets the same check before a rename.
        """
        fds = {"src_dir_fd": self._fd, "dst_dir_fd": self._fd} if self._fd is not None else {}
        try:
            try:
                os.link(self._at(tmp), self._at(name), **fds)
            except FileExistsError:
                pass
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
            else:
                os.unlink(self._at(tmp), **self._dir)
                return
            try:
                mode: int | None = os.lstat(self._at(name), **self._dir).st_mode
            except FileNotFoundError:
                mode = None
            if mode is not None and not stat.S_ISREG(mode):
                raise FileExistsError(errno.EEXIST, "it exists and is not a regular file")
            os.replace(self._at(tmp), self._at(name), **fds)
        except OSError as exc:
            raise _naming(exc, self.path / name) from None

    def _sync(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:  # as `_fsync_dir`: some file systems refuse, which costs only durability
                pass
        else:
            _fsync_dir(self.path)

    def _at(self, name: str) -> str:
        return name if self._fd is not None else os.path.join(self.path, name)

    @property
    def _dir(self) -> dict[str, int]:
        return {"dir_fd": self._fd} if self._fd is not None else {}


def _new_temp(name: str, create: Callable[[str], int]) -> tuple[int, str]:
    """(fd, temp name) from `create` (an O_EXCL open) of a fresh `_temp_name(name)`, drawing again on a clash."""
    while True:
        tmp = _temp_name(name)
        try:
            return create(tmp), tmp
        except FileExistsError:
            continue


def _temp_name(name: str) -> str:
    """`.NAME.RANDOM.tmp`, NAME cut to 200 characters so the temp name fits where the target's (up to 255) does."""
    return f".{name[:200]}.{os.urandom(4).hex()}.tmp"


def commit_temps(written: Sequence[tuple[OpenFolder, str, str]]) -> None:
    """Rename each (folder, temp, name) from `OpenFolder.write_temp` into place, durably, one sync for them all.

    One file-system sync makes every temp file's data durable before any
    rename (one fsync per file costs milliseconds each: more than encoding a
    small image), then the renames, then one fsync per folder. So each target
    is, even after a power cut, absent or whole. A target that is a regular file
    is replaced, never followed; one that is anything else is left as it is,
    and the OSError names it.
    On failure every temp file not yet renamed is removed.
    """
    if not written:
        return
    try:
        _sync_file_system(written[0][0].path)
        for folder, tmp, name in written:
            folder._put_in_place(tmp, name)
    except BaseException:
        for folder, tmp, _ in written:  # those renamed are gone under their temp name
            folder.remove(tmp)
        raise
    for folder in {folder for folder, _, _ in written}:
        folder._sync()


def _sync_file_system(folder: Path) -> None:
    """syncfs(2) on the file system holding `folder` where the C library has it (Linux), else sync(2)."""
    syncfs = _syncfs()
    if syncfs is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """The C library's syncfs, looked up once (ctypes releases the GIL while it runs); None where there is none."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).syncfs
    except (ImportError, OSError, AttributeError, TypeError):
        return None
