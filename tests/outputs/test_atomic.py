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


@pytest.mark.parametrize("durable", [True, False])
def test_write_bytes_makes_its_folder_and_keeps_the_umask(tmp_path, durable):
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


def test_failed_quick_write_keeps_old_content_and_leaves_no_temp(tmp_path, monkeypatch):
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
