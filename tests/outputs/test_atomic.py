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
