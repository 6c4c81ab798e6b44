"""Folders of per-movie result files: a broken file is its movie's problem (a discarded row
with reason unreadable), never a movie that silently vanishes; result files one level down are
found; a RELION Import list is named for what it is."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from motioncons.errors import InputError
from motioncons.evaluation import Options, evaluate
from motioncons.formats import read_input
from motioncons.simulation import formats as fmt
from motioncons.simulation.trajectories import write_relion_job

PIXEL = 1.0
NAMES = [f"Movies/mov_{i:03d}.tiff" for i in range(4)]
SHIFTS = [np.cumsum(np.full((15, 2), 0.8 + 0.2 * i), axis=0) for i in range(4)]
STEMS = [Path(n).name.rsplit(".", 1)[0] for n in NAMES]
WRITERS = {
    "motioncor": (".out", lambda p, n, s: fmt.motioncor_stdout(p, n, s, PIXEL)),
    "warp": (".xml", lambda p, n, s: fmt.warp_xml(p, n, s, PIXEL)),
    "cistem": ("_shifts.txt", lambda p, n, s: fmt.cistem_shifts(p, n, s, PIXEL)),
    "relion_stars": (".star", None),
}
BROKEN = {"empty": b"", "garbage": b"\x00\x01garbage\xff" * 40,
          "utf-16": "1.0 2.0\n3.0 4.0\n".encode("utf-16"), "header-less": b"1.0 2.0\n3.0 4.0\n"}


def _folder(kind: str, root: Path) -> Path:
    if kind == "relion_stars":
        job = write_relion_job(root / "p", "MotionCorr/job002", NAMES, SHIFTS, PIXEL)
        folder = root / "stars"
        shutil.copytree(job / "Movies", folder)
        return folder
    suffix, write = WRITERS[kind]
    folder = root / kind
    folder.mkdir()
    for stem, name, shifts in zip(STEMS, NAMES, SHIFTS, strict=True):
        write(folder / f"{stem}{suffix}", name, shifts)
    return folder


@pytest.fixture(scope="module")
def secondary(tmp_path_factory):
    root = tmp_path_factory.mktemp("secondary")
    return read_input(write_relion_job(root, "MotionCorr/job003", NAMES, SHIFTS, PIXEL))


@pytest.mark.parametrize("kind", list(WRITERS))
@pytest.mark.parametrize("damage", list(BROKEN))
def test_a_broken_file_in_a_folder_is_a_discarded_row(kind, damage, tmp_path, secondary):
    folder = _folder(kind, tmp_path)
    suffix = WRITERS[kind][0]
    (folder / f"{STEMS[2]}{suffix}").write_bytes(BROKEN[damage])
    dataset = read_input(folder, pixel_size=PIXEL)
    rows = evaluate(dataset, secondary, Options(report=False, plots="none")).rows
    by_movie = {row.movie: row for row in rows}
    assert sorted(by_movie) == STEMS
    assert by_movie[STEMS[2]].decision == "discarded"
    assert by_movie[STEMS[2]].reason == "unreadable"
    assert STEMS[2] in by_movie[STEMS[2]].message
    assert all(by_movie[s].reason == "agree" for s in STEMS if s != STEMS[2])


def test_result_files_one_level_down_are_found(tmp_path):
    job = tmp_path / "job012"
    job.mkdir()
    _folder("motioncor", tmp_path).rename(job / "Movies")  # as a wrapper keeps MotionCor output
    dataset = read_input(job, pixel_size=PIXEL)
    assert sorted(t.key for t in dataset.trajectories) == STEMS
    assert any("Movies" in note for note in dataset.notes)


def test_two_programs_in_sub_folders_are_refused(tmp_path):
    job = tmp_path / "mixed"
    job.mkdir()
    _folder("motioncor", tmp_path).rename(job / "a")
    _folder("warp", tmp_path).rename(job / "b")
    with pytest.raises(InputError, match="several programs"):
        read_input(job)


def test_a_relion_import_list_is_named(relion5):
    with pytest.raises(InputError, match="Import movie list"):
        read_input(relion5 / "movies.star")


def test_duplicated_movies_in_a_folder_are_named(tmp_path, secondary):
    folder = _folder("motioncor", tmp_path)
    shutil.copy(folder / f"{STEMS[0]}.out", folder / "copy_of_first.out")  # same movie inside
    dataset = read_input(folder, pixel_size=PIXEL)
    from motioncons.matching import pair_sets

    matching = pair_sets(dataset, secondary)
    assert len(matching.duplicates) == 1
    assert "copy_of_first.out" in matching.duplicates[0]


def test_lookalike_files_are_named_for_what_they_are(samples):
    """Real files: a Warp 2 tilt-series XML and Xmipp metadata without frameShifts."""
    with pytest.raises(InputError, match="a Warp tilt-series XML"):
        read_input(samples / "warp")
    with pytest.raises(InputError, match="an Xmipp metadata file without a frameShifts block"):
        read_input(samples / "xmipp")
