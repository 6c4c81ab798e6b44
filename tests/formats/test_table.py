from __future__ import annotations

import numpy as np
import pytest

from motioncons.errors import InputError
from motioncons.formats import read_input


def test_csv_table_any_row_order(tmp_path):
    path = tmp_path / "shifts.csv"
    path.write_text("movie,frame,x,y,pixel_size\n"
                    "a.tiff,2,1.0,2.0,0.8\nb.tiff,1,0,0,0.8\na.tiff,1,0,0,0.8\na.tiff,3,2,4,0.8\n")
    dataset = read_input(path)
    a = next(t for t in dataset.trajectories if t.key == "a")
    assert a.frames.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(a.shifts, [[0, 0], [1, 2], [2, 4]])
    assert a.pixel_size == pytest.approx(0.8)


def test_tsv_table_and_pixel_size_fallback(tmp_path):
    path = tmp_path / "shifts.tsv"
    path.write_text("movie\tframe\tx\ty\nm1\t1\t0\t0\nm1\t2\t1\t1\nm1\t3\t2\t2\n")
    dataset = read_input(path, pixel_size=1.1)
    assert dataset.trajectories[0].pixel_size == pytest.approx(1.1)


def test_table_problems_per_movie(tmp_path):
    path = tmp_path / "shifts.csv"
    path.write_text("movie,frame,x,y\nok,1,0,0\nok,2,1,1\nok,3,2,2\n"
                    "bad,1,0,zero\nnan,1,nan,0\ndup,1,0,0\ndup,1,1,1\n")
    dataset = read_input(path)
    reasons = {p.key: p.reason for p in dataset.problems}
    assert reasons == {"bad": "unreadable", "nan": "nan_shifts", "dup": "unreadable"}
    assert "line 5" in next(p.message for p in dataset.problems if p.key == "bad")
    assert [t.key for t in dataset.trajectories] == ["ok"]


@pytest.mark.parametrize(("content", "needle"), [
    ("movie,frame,x\na,1,0\n", r"lacks column\(s\) y"),
    ("movie,frame,x,y\n", "no rows"),
])
def test_bad_tables(tmp_path, content, needle):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=needle):
        read_input(path)
