"""`cgan_runtime.files`: atomic writes that follow the umask, keep modes, links and devices intact."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cgan_runtime.files import OpenFolder, atomic_write, atomic_write_bytes, check_writable, commit_temps, write_output


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda value: os.umask(value)
    os.umask(previous)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask, mask, expected):
    umask(mask)
    atomic_write_bytes(tmp_path / "new.bin", b"data")
    assert mode_of(tmp_path / "new.bin") == expected


def test_overwriting_keeps_the_existing_files_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "kept.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and mode_of(path) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def half_then_fail(f):
        f.write(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_is_written_in_place_never_renamed_over(tmp_path):
    # /dev/null itself: we must not replace it, and cannot (not root) rename into /dev anyway,
    # so check the call succeeds and the node is still a character device.
    before = os.stat("/dev/null")
    atomic_write_bytes("/dev/null", b"discarded")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_a_fifo_is_written_directly_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    atomic_write_bytes(fifo, b"through the pipe")
    reader.join(timeout=10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


def test_a_symlink_keeps_being_a_link_and_its_target_is_written(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "image.png"
    target.write_bytes(b"old")
    os.chmod(target, 0o604)
    link = tmp_path / "link.png"
    link.symlink_to(target)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new" and mode_of(target) == 0o604
    assert sorted(os.listdir(tmp_path / "real")) == ["image.png"]


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "later.png")
    atomic_write_bytes(link, b"made")
    assert link.is_symlink() and (tmp_path / "later.png").read_bytes() == b"made"


def test_stale_temp_files_from_a_killed_run_are_left_alone_and_never_reused(tmp_path):
    stale = tmp_path / ".out.png.deadbeef.tmp"
    stale.write_bytes(b"half a file from a killed run")
    atomic_write_bytes(tmp_path / "out.png", b"whole")
    assert (tmp_path / "out.png").read_bytes() == b"whole"
    assert stale.read_bytes() == b"half a file from a killed run"


def test_a_directory_destination_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        atomic_write_bytes(tmp_path, b"x")


@pytest.mark.parametrize(
    "name, error, message",
    [
        (".", IsADirectoryError, "it is a directory"),
        ("missing/out.png", FileNotFoundError, "no directory"),
        ("a_file/out.png", FileNotFoundError, "no directory"),
    ],
)
def test_check_writable_raises_ordinary_os_errors(tmp_path, name, error, message):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(error, match=message):
        check_writable(tmp_path / name)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_check_writable_refuses_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match="is not writable"):
        check_writable(folder / "out.png")


def test_check_writable_accepts_devices_and_fifos(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    check_writable(tmp_path / "pipe")
    check_writable("/dev/null")


def test_write_output_names_the_path_in_its_os_error(tmp_path, monkeypatch):
    def full(path, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("cgan_runtime.files.atomic_write", full)
    with pytest.raises(OSError, match=r"^cannot write .*out.bin: No space left on device$"):
        write_output(tmp_path / "out.bin", b"x")



@pytest.mark.parametrize("descriptor", [True, False])
def test_an_open_folders_files_appear_whole_at_their_commit_with_the_umasks_mode(tmp_path, umask, descriptor):
    umask(0o027)
    (tmp_path / "old.png").write_bytes(b"old")
    with OpenFolder(tmp_path, descriptor) as folder:
        written = [(folder, folder.write_temp(name, name.encode()), name) for name in ("a.png", "old.png")]
        assert sorted(os.listdir(tmp_path)) == sorted(["old.png", *(tmp for _, tmp, _ in written)])
        commit_temps(written)
    assert sorted(os.listdir(tmp_path)) == ["a.png", "old.png"]
    assert (tmp_path / "a.png").read_bytes() == b"a.png" and (tmp_path / "old.png").read_bytes() == b"old.png"
    assert mode_of(tmp_path / "a.png") == 0o640



@pytest.mark.parametrize("descriptor", [True, False])
def test_an_open_folders_commit_never_replaces_a_fifo_and_leaves_no_temp_file(tmp_path, descriptor):
    os.mkfifo(tmp_path / "b.png")
    with OpenFolder(tmp_path, descriptor) as folder:
        written = [(folder, folder.write_temp(name, b"data"), name) for name in ("a.png", "b.png")]
        with pytest.raises(FileExistsError, match=r"^cannot write .*b.png: it exists and is not a regular file$"):
            commit_temps(written)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "b.png").st_mode)
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.png"]

def test_an_open_folders_failed_write_leaves_no_temp_file_and_names_the_path(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("cgan_runtime.files.write_all", full)
    with OpenFolder(tmp_path) as folder, pytest.raises(OSError, match=r"^cannot write .*a.png: No space left on"):
        folder.write_temp("a.png", b"data")
    assert os.listdir(tmp_path) == []


SLOW_WRITER = """
import sys, time
from cgan_runtime.commands.errors import sigterm_raises
from cgan_runtime.files import atomic_write
def slow(f):
    f.write(b"partial")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
with sigterm_raises():
    try:
        atomic_write(sys.argv[1], slow)
    except BaseException as exc:
        print(type(exc).__name__, flush=True)
        raise SystemExit(143)
"""


def test_sigterm_during_a_write_removes_the_temp_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "writing"
    assert len(os.listdir(tmp_path)) == 2  # the temp file exists while writing
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=30)
    assert out.strip() == "Terminated" and child.returncode == 143
    assert os.listdir(tmp_path) == ["out.png"] and path.read_bytes() == b"old"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_overwriting_as_root_keeps_the_files_owner(tmp_path):
    path = tmp_path / "theirs.bin"
    path.write_bytes(b"old")
    os.chown(path, 12345, 23456)
    atomic_write_bytes(path, b"new")
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (12345, 23456)


def test_a_name_at_the_file_systems_limit_still_gets_a_temp_file(tmp_path):
    path = tmp_path / ("x" * 251 + ".png")  # 255 characters: the usual limit
    atomic_write_bytes(path, b"long")
    assert path.read_bytes() == b"long" and os.listdir(tmp_path) == [path.name]
