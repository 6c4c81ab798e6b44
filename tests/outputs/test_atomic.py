from __future__ import annotations

import os

import pytest

from motioncons.errors import OutputError
from motioncons.outputs import atomic


def test_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic.write_text(path, "one")
    atomic.write_text(path, "two")
    assert path.read_text() == "two"
    assert os.listdir(path.parent) == ["f.txt"]


def test_failed_write_keeps_old_content(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    atomic.write_text(path, "old")

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken)
    with pytest.raises(OutputError, match=r"f\.txt: cannot write: disk full"):
        atomic.write_text(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


@pytest.mark.parametrize("unnamed", [True, False])
@pytest.mark.parametrize("durable", [True, False])
def test_write_bytes_makes_its_folder_and_keeps_the_umask(tmp_path, durable, unnamed,
                                                          monkeypatch):
    if not unnamed:
        monkeypatch.setattr(atomic, "_UNNAMED", 0)
    path = tmp_path / "plots" / "a.png"
    old = os.umask(0o027)
    try:
        atomic.write_bytes(path, b"x" * 70_000, durable=durable)
        atomic.write_bytes(path, b"new", durable=durable)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"new"
    assert os.listdir(path.parent) == ["a.png"]
    # The durable path applies the umask the process started with.
    assert path.stat().st_mode & 0o777 == (atomic._MODE if durable else 0o640)


@pytest.mark.parametrize("unnamed", [True, False])
def test_failed_quick_write_keeps_old_content_and_leaves_no_temp(tmp_path, monkeypatch,
                                                                 unnamed):
    if not unnamed:
        monkeypatch.setattr(atomic, "_UNNAMED", 0)
    path = tmp_path / "a.png"
    atomic.write_bytes(path, b"old", durable=False)

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "write", broken)
    with pytest.raises(OutputError, match=r"a\.png: cannot write: disk full"):
        atomic.write_bytes(path, b"new", durable=False)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.png"]
    with pytest.raises(OutputError, match=r"a\.png"):
        atomic.write_bytes(path / "under_a_file.png", b"x", durable=False)


needs_unnamed = pytest.mark.skipif(not atomic._UNNAMED, reason="no O_TMPFILE on this system")


@needs_unnamed
def test_a_quick_write_links_an_unnamed_file_and_renames_nothing_new(tmp_path, monkeypatch):
    path = tmp_path / "plots" / "a <b> 'c'.png"
    atomic.write_bytes(path, b"first", durable=False)  # the folder made, through a named file

    def no_rename(*args, **kwargs):
        raise AssertionError("renamed")

    monkeypatch.setattr(atomic.os, "replace", no_rename)
    atomic.write_bytes(path.with_name("b.png"), b"x" * 100_000, durable=False)
    assert path.with_name("b.png").read_bytes() == b"x" * 100_000
    assert sorted(os.listdir(path.parent)) == ["a <b> 'c'.png", "b.png"]
    assert str(path.parent) not in atomic._WITHOUT_UNNAMED


@needs_unnamed
def test_a_quick_write_over_a_file_replaces_it_whole(tmp_path):
    path = tmp_path / "a.png"
    atomic.write_bytes(path, b"old", durable=False)
    inode = path.stat().st_ino
    atomic.write_bytes(path, b"new", durable=False)
    assert path.read_bytes() == b"new" and path.stat().st_ino != inode
    assert os.listdir(tmp_path) == ["a.png"]


@needs_unnamed
def test_a_failed_link_over_a_file_keeps_it_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    atomic.write_bytes(path, b"old", durable=False)
    real = atomic.os.replace

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken)
    with pytest.raises(OutputError, match=r"a\.png: cannot write: disk full"):
        atomic.write_bytes(path, b"new", durable=False)
    monkeypatch.setattr(atomic.os, "replace", real)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.png"]


@needs_unnamed
def test_without_proc_a_quick_write_goes_through_a_named_file(tmp_path, monkeypatch):
    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc/self/fd/3")

    monkeypatch.setattr(atomic.os, "link", no_proc)
    monkeypatch.setattr(atomic, "_WITHOUT_UNNAMED", set())
    atomic.write_bytes(tmp_path / "a.png", b"data", durable=False)
    assert (tmp_path / "a.png").read_bytes() == b"data"
    assert os.listdir(tmp_path) == ["a.png"]
    assert str(tmp_path) in atomic._WITHOUT_UNNAMED  # not tried there again
