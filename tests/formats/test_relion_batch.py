"""The bulk reader of per-movie STAR files gives exactly what the full parser gives, file by
file: on the real RELION 3.1 and 5 files, and on a seeded corpus of edited and damaged
simulated ones (the simulator writes RELION's own layout)."""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from motioncons.formats import relion_batch
from motioncons.formats.common import checked, validate
from motioncons.formats.relion import read_micrographs_star
from motioncons.formats.relion_movie import read_movie_star
from motioncons.simulation.trajectories import write_relion_job
from motioncons.trajectory import CompactTrajectory, Problem, Trajectory, TrajectorySet
from tests.formats.test_fuzz import _mutations

pytestmark = pytest.mark.usefixtures("row_parser")  # each test with both row readers


def _facts(item: Trajectory | Problem) -> tuple:
    if isinstance(item, Problem):
        return ("problem", item.key, item.movie_name, item.source, item.reason, item.message)
    return ("trajectory", item.key, item.movie_name, item.frames.tolist(),
            item.shifts.tobytes(), item.shifts.shape, item.pixel_size, item.source, item.program,
            item.total_frames, item.extras)


def _in_full(jobs: list[tuple[str, str | None]]) -> list[tuple]:
    """What the full parser reads, validated as the bulk reader validates."""
    return [_facts(checked(read_movie_star(path, fallback))) for path, fallback in jobs]


@pytest.fixture
def full_reads(monkeypatch) -> list[str]:
    """The paths the bulk reader hands to the full parser."""
    paths: list[str] = []

    def counting(path, fallback=None, raw=None):
        paths.append(str(path))
        return read_movie_star(path, fallback, raw)

    monkeypatch.setattr(relion_batch, "read_movie_star", counting)
    return paths


def test_real_relion_files_take_the_bulk_path_and_read_the_same(relion31, relion5, full_reads):
    files = sorted(relion31.glob("2017*.star")) + sorted(relion5.glob("2017*.star"))
    jobs = [(str(path), None) for path in files]
    assert [_facts(t) for t in relion_batch.read_chunk(jobs)] == _in_full(jobs)
    assert full_reads == []  # RELION's own files, local motion blocks and all, need no parser


def _simulated(tmp_path: Path, movies: int = 6) -> list[Path]:
    names = [f"Movies/FoilHole_{i}_Data_{i:05d}_fractions.tiff" for i in range(movies)]
    shifts = [np.cumsum(np.full((9, 2), 0.3 + 0.1 * i), axis=0) - 2.0 for i in range(movies)]
    job = write_relion_job(tmp_path, "MotionCorr/job002", names, shifts, 0.885)
    return sorted((job / "Movies").glob("*.star"))


EDITS = {
    "quoted name": (b"Movies/FoilHole_1_Data", b"'Movies/Foil Hole <1>_Data"),
    "name with markup": (b"Movies/FoilHole_1_Data", b"Movies/<b>&amp;FoilHole_1_Data"),
    "null name": (b"Movies/FoilHole_1_Data_00001_fractions.tiff", b"?"),
    "no name": (b"_rlnMicrographMovieName", b"_rlnMicrographGainName"),
    "utf-8 name": (b"Movies/FoilHole_1_Data", "Movies/Foilé_1_Data".encode()),
    "escaped-looking name": (b"Movies/FoilHole_1_Data", b"Movies/@u000041@_1_Data"),
    "trailing comment": (b"_rlnVoltage", b"# a comment\n_rlnVoltage"),
    "comment after a value": (b"300.000000\n", b"300.000000 # kV\n"),
    "CRLF": (b"\n", b"\r\n"),
    "MotionCor3 layout": (b"loop_", b"loop"),
    "frames from 0": (b"\n           1 ", b"\n           0 "),
    "frame 2.0": (b"\n           2 ", b"\n         2.0 "),
    "unobserved frame": (b"\n           3     ", b"\n           3 -9999 -9999 \n  "),
    "missing column": (b"_rlnMicrographShiftY #3 \n", b""),
    "more frames than recorded": (b"_rlnImageSizeZ ", b"_rlnImageSizeZ 10 \n_rlnX "),
    "hexadecimal": (b"    0.", b"  0x1p0"),
    "exponent": (b"    0.", b" 0.0e0"),
    "no general block": (b"data_general", b"data_other"),
    "a keyword value": (b"1.000000", b"loop_"),
    "a tag as a value": (b"1.000000", b"_rlnX"),
    "duplicate tag": (b"_rlnVoltage", b"_rlnImageSizeZ 3\n_rlnVoltage"),
    "block name in a comment": (b"# version", b"# data_general version"),
    "block without a newline": (b"\ndata_global_shift", b" data_global_shift"),
    "name twice": (b"_rlnVoltage", b"_rlnMicrographMovieName b.tiff\n_rlnVoltage"),
    "name and a comment": (b"_00001_fractions.tiff", b"_00001_fractions.tiff # c"),
    "name without a value": (b"Movies/FoilHole_1_Data_00001_fractions.tiff", b""),
    "a longer name tag": (b"_rlnMicrographMovieName", b"_rlnMicrographMovieNameX"),
    "another gain": (b"_rlnVoltage", b"_rlnMicrographGainName gain2.mrc\n_rlnVoltage"),
    "70 KB of comment first": (b"# version", b"# " + b"x" * 70000 + b"\n# version"),
    "70 KB of blocks after": (b"data_global_shift", b"data_global_shift"),
    "block name in the name": (b"Movies/FoilHole_1_Data", b"Movies/data_global_shift_1_Data"),
    "name tag in a comment first": (b"# version", b"# _rlnMicrographMovieName x\n# version"),
    "more space before the name": (b"_rlnMicrographMovieName ", b"_rlnMicrographMovieName \t "),
    "loop header without numbers": (b"_rlnMicrographShiftY #3", b"_rlnMicrographShiftY"),
    # Shifts not held as millionths of a pixel (`trajectory.as_micro`): the files are read alike.
    "negative zero": (b"\n           2     0.400000", b"\n           2    -0.000000"),
    "seven decimals": (b"     0.400000     0.400000", b"    0.4000001     0.400000"),
    "beyond 2147 px": (b"     3.200000", b"  3200.000000"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_files_read_as_the_full_parser_reads_them(edit, tmp_path):
    files = _simulated(tmp_path)
    old, new = EDITS[edit]
    data = files[1].read_bytes()
    assert old in data, edit
    data = data.replace(old, new, 1 if edit != "CRLF" else -1)
    if edit == "70 KB of blocks after":
        data += b"\n# version 30001\n\ndata_local_shift\n\nloop_\n_rlnX #1\n" + b"1.0\n" * 20000
    files[1].write_bytes(data)
    jobs = [(str(path), f"fallback {i}") for i, path in enumerate(files)]
    assert [_facts(t) for t in relion_batch.read_chunk(jobs)] == _in_full(jobs)


def test_a_jobs_shifts_are_held_as_millionths_of_a_pixel(relion31, relion5, tmp_path):
    real = sorted(relion31.glob("2017*.star")) + sorted(relion5.glob("2017*.star"))
    for files in (real, _simulated(tmp_path)):
        items = relion_batch.read_chunk([(str(path), None) for path in files])
        assert all(isinstance(t, CompactTrajectory) and t.stored_shifts.dtype == np.int32
                   for t in items)


def test_a_chunk_with_a_shift_that_is_no_millionth_is_held_in_float64(tmp_path):
    files = _simulated(tmp_path)
    data = files[1].read_bytes()
    assert b"     0.800000     0.800000" in data
    files[1].write_bytes(data.replace(b"     0.800000", b"    0.8000004", 1))
    items = relion_batch.read_chunk([(str(path), None) for path in files])
    assert all(t.stored_shifts.dtype == np.float64 for t in items)
    assert items[1].shifts[2].tolist() == [0.8000004, 0.8]


def test_the_files_of_a_session_are_cut_by_the_layout_of_the_first(tmp_path, monkeypatch):
    """A job's files differ before their rows only by the movie name (and a frame count a
    layout): after the first, `_general` is not needed; an edited file still reads as the full
    parser reads it (`EDITS`, which edit a file read after a sound one)."""
    monkeypatch.setattr(relion_batch, "_LAYOUTS", {})
    calls = []
    general = relion_batch._general
    monkeypatch.setattr(relion_batch, "_general", lambda section: calls.append(1)
                        or general(section))
    jobs = [(str(path), None) for path in _simulated(tmp_path, movies=8)]
    assert [_facts(t) for t in relion_batch.read_chunk(jobs)] == _in_full(jobs)
    assert len(calls) == 1 and len(relion_batch._LAYOUTS) == 1


def test_a_long_head_is_not_learned(tmp_path, monkeypatch):
    monkeypatch.setattr(relion_batch, "_LAYOUTS", {})
    files = _simulated(tmp_path, movies=2)
    files[0].write_bytes(b"# " + b"x" * 9000 + b"\n" + files[0].read_bytes())
    jobs = [(str(path), None) for path in files]
    assert [_facts(t) for t in relion_batch.read_chunk(jobs)] == _in_full(jobs)
    assert [len(head) for head in relion_batch._LAYOUTS] == [len(files[1].read_bytes().split(
        b"_rlnMicrographMovieName")[0]) + len(b"_rlnMicrographMovieName")]


def test_damaged_files_read_as_the_full_parser_reads_them(tmp_path):
    files = _simulated(tmp_path)
    pristine = files[2].read_bytes()
    rng = np.random.default_rng(20261201)
    for label, content in _mutations(pristine, rng):
        if files[2].is_dir():
            files[2].rmdir()
        files[2].unlink(missing_ok=True)
        if content is None:
            files[2].mkdir()
        elif content == "loop":
            files[2].symlink_to(files[2].name)
        else:
            files[2].write_bytes(content)  # type: ignore[arg-type]
        jobs = [(str(path), None) for path in files]
        assert [_facts(t) for t in relion_batch.read_chunk(jobs)] == _in_full(jobs), label


def test_a_bad_number_in_one_file_leaves_the_others_sound(tmp_path, full_reads):
    files = _simulated(tmp_path)
    files[0].write_bytes(re.sub(rb"(\n +2 +)\S+", rb"\g<1>1.2.3", files[0].read_bytes(),
                                count=1))
    jobs = [(str(path), None) for path in files]
    items = relion_batch.read_chunk(jobs)
    assert [_facts(t) for t in items] == _in_full(jobs)
    assert isinstance(items[0], Problem) and all(isinstance(t, Trajectory) for t in items[1:])
    assert full_reads == [str(files[0])]  # the others, in fixed columns, are read in bulk


def test_worker_processes_read_the_same(tmp_path, monkeypatch):
    files = _simulated(tmp_path, movies=12)
    shutil.copy(files[0], files[0].with_name("copy.star"))
    files[3].write_bytes(files[3].read_bytes().replace(b"\n           2 ", b"\n         2.5 "))
    files[5].write_bytes(b"")
    jobs = [(str(path), None) for path in sorted(files[0].parent.glob("*.star"))]
    monkeypatch.setattr(relion_batch, "PARALLEL_THRESHOLD", 1)
    in_workers = relion_batch.read_movie_stars(jobs, workers=2, chunk_size=4)
    assert [_facts(t) for t in in_workers] == _in_full(jobs)
    # A chunk's movies of one pixel size share its float (pickle sends one a movie).
    first_chunk = [t for t in in_workers[:4] if isinstance(t, Trajectory)]
    assert len({id(t.pixel_size) for t in first_chunk}) == 1 < len(first_chunk)


@pytest.mark.parametrize("value", [b"1e6", b"-200000.0", b"nan", b"inf"])
def test_implausible_shifts_are_the_problems_validate_makes(value, tmp_path):
    files = _simulated(tmp_path)
    data = files[1].read_bytes()
    files[1].write_bytes(re.sub(rb"(\n +2 +)\S+", rb"\g<1>" + value, data, count=1))
    jobs = [(str(path), None) for path in files]
    bulk = relion_batch.read_chunk(jobs)
    assert [_facts(t) for t in bulk] == _in_full(jobs)
    assert [type(item) for item in bulk].count(Problem) == 1
    assert isinstance(bulk[1], Problem) and bulk[1].reason == "nan_shifts"
    unvalidated = TrajectorySet("job", "relion")
    for path, _ in jobs:
        unvalidated.add(read_movie_star(path))
    validate(unvalidated)
    assert [p.message for p in unvalidated.problems] == [bulk[1].message]


def test_a_job_read_in_bulk_is_validated_as_it_is_read(tmp_path):
    files = _simulated(tmp_path, movies=5)
    files[3].write_bytes(re.sub(rb"(\n +4 +)\S+", rb"\g<1>nan", files[3].read_bytes(), count=1))
    dataset = read_micrographs_star(files[0].parent.parent / "corrected_micrographs.star")
    assert dataset.validated
    assert [p.reason for p in dataset.problems] == ["nan_shifts"]
    assert len(dataset.trajectories) == 4
    assert validate(dataset) is dataset and len(dataset.problems) == 1


def test_files_in_two_column_layouts_keep_their_own_shifts(tmp_path, full_reads):
    """Every other file with narrower frame numbers (read in a group of its own, so that its
    shifts are not in file order in the chunk), and an unobserved frame, in line, in one of
    each: those two are for the full parser."""
    files = _simulated(tmp_path, movies=8)
    for i, path in enumerate(files):
        data = path.read_bytes()
        if i % 2:
            data = re.sub(rb"\n {8}( +\d+ )", rb"\n\1", data)
        if i in (2, 5):
            data = re.sub(rb"(\n +3)(?: +\S+){2}\n", rb"\1 -9999.000000 -9999.000000\n", data,
                          count=1)
        path.write_bytes(data)
    jobs = [(str(path), None) for path in files]
    bulk = relion_batch.read_chunk(jobs)
    assert [_facts(t) for t in bulk] == _in_full(jobs)
    assert [t.extras.get("unobserved_frames") for t in bulk if isinstance(t, Trajectory)] == [
        1 if i in (2, 5) else None for i in range(8)]
    assert sorted(full_reads) == sorted(str(files[i]) for i in (2, 5))


def test_rows_not_in_fixed_columns_are_read_in_bulk_too(tmp_path, full_reads):
    files = _simulated(tmp_path, movies=4)
    files[1].write_bytes(re.sub(rb"(\n +2) +", rb"\1\t", files[1].read_bytes(), count=1))
    files[2].write_bytes(re.sub(rb"(\n +3 +)(\S+)", rb"\g<1>\2e0", files[2].read_bytes(),
                                count=1))
    jobs = [(str(path), None) for path in files]
    assert [_facts(t) for t in relion_batch.read_chunk(jobs)] == _in_full(jobs)
    assert full_reads == []


def test_a_failure_of_the_reading_by_position_leaves_the_files_to_the_other_paths(
        tmp_path, monkeypatch):
    files = _simulated(tmp_path)
    jobs = [(str(path), None) for path in files]

    def failing(blocks):
        raise IndexError("a flaw")

    monkeypatch.setattr(relion_batch, "parse_rows", failing)
    assert [_facts(t) for t in relion_batch.read_chunk(jobs)] == _in_full(jobs)


def test_a_file_cut_by_its_layout_is_cut_alike_compiled_and_in_python(
        relion31, relion5, tmp_path, monkeypatch, row_parser):
    """Seeded edits after a layout's head (the movie name line, the rest of the header, the
    rows, comments and blank lines after them, the next block; STAR keywords, quotes, control
    bytes and non-ASCII), and truncations: wherever the compiled `cut_as` cuts a file, it cuts
    it as `_cut_as` in Python does, and it leaves every file Python leaves (to `_cut`)."""
    if row_parser != "compiled":
        pytest.skip("compares the compiled cut with the one in Python")
    from motioncons.formats import compiled

    module = compiled.MODULE
    monkeypatch.setattr(relion_batch, "_LAYOUTS", {})
    sources = [sorted(relion31.glob("2017*.star"))[0], sorted(relion5.glob("2017*.star"))[0],
               _simulated(tmp_path, movies=1)[0]]
    cases = []
    for path in sources:
        raw = path.read_bytes()
        assert relion_batch._cut(raw) is not None
        tag = raw.find(b"_rlnMicrographMovieName") + len(b"_rlnMicrographMovieName")
        cases.append((relion_batch._LAYOUTS[raw[:tag]], raw))
    rng = np.random.default_rng(14)
    alphabet = b" \t\n\r\x0b\x0c\x00#_$;[]'\"@u.-0123456789dDaAtTlLoOpP\x80\xff"
    pieces = [b"data_", b"DATA_x", b"loop_", b"Global_", b"stop_", b"save_", b"@u", b"#",
              b"\n# note\n", b"\ndata_next\n", b"data_global_shift", b"\n\n", b" \n", b"\r\n",
              b"'", b"_x", b"\ndataset\n", b"x # note\n"]
    agreed = left = 0
    for _ in range(3000):
        layout, raw = cases[int(rng.integers(len(cases)))]
        data = bytearray(raw)
        start = len(layout.head)
        if rng.random() < 0.2:  # a name that starts with a keyword, a quote, ...
            name = start + len(raw[start:]) - len(raw[start:].lstrip(b" \t"))
            data[name: name] = pieces[int(rng.integers(len(pieces)))]
        for _ in range(int(rng.integers(1, 4))):
            # most edits near the name line, its tail and the rows' ends
            region = [start, start + 120, len(data) - 200][int(rng.integers(3))]
            at = int(np.clip(region + rng.integers(-20, 120), start, len(data)))
            if rng.random() < 0.5:
                data[at: at + 1] = bytes([alphabet[int(rng.integers(len(alphabet)))]])
            else:
                data[at: at] = pieces[int(rng.integers(len(pieces)))]
        if rng.random() < 0.1:
            data = data[: int(rng.integers(start, len(data) + 1))]
        edited = bytes(data)
        found = relion_batch._cut_as(layout, edited)
        monkeypatch.setattr(compiled, "MODULE", None)
        in_python = relion_batch._cut_as(layout, edited)
        monkeypatch.setattr(compiled, "MODULE", module)
        if found is None and in_python is not None:
            left += 1  # stricter: a name starting with NUL, rows that need a line break added
            continue
        assert found == in_python
        agreed += found is not None
    assert agreed > 400 and left < 30, (agreed, left)


def _read_cut_in_python(paths: list[str], size: int, limit: int) -> list:
    """What the compiled `read_cut` gives, made of `_head` and the compiled `cut_as` (itself
    compared with the Python cut above)."""
    from motioncons.formats import compiled

    tag_bytes = b"_rlnMicrographMovieName"
    out: list = []
    for path in paths:
        try:
            raw = relion_batch._head(path, size, limit)
        except OSError:
            out.append(None)
            continue
        tag = raw.find(tag_bytes)
        layout = relion_batch._LAYOUTS.get(raw[: tag + len(tag_bytes)]) if tag >= 0 else None
        found = None if layout is None else compiled.MODULE.cut_as(raw, len(layout.head),
                                                                   layout.tail)
        out.append(raw if found is None else (layout, *found))
    return out


def _edited_corpus(relion31: Path, relion5: Path, tmp_path: Path
                   ) -> tuple[list[str], bytes, bytes]:
    """Seeded edits of files of layouts it learns, files longer than what is read first
    (their shifts before or after that), an empty, a missing and an unreadable file, and a
    name that is not UTF-8: their paths, the RELION file they come from and a long block."""
    sources = [sorted(relion31.glob("2017*.star"))[0], sorted(relion5.glob("2017*.star"))[0],
               _simulated(tmp_path, movies=1)[0]]
    for path in sources:
        assert relion_batch._cut(path.read_bytes()) is not None  # its layout learned
    rng = np.random.default_rng(15)
    alphabet = b" \t\n\r\x00#_'\"@u.-0123456789dDaAtT\x80\xff"
    pieces = [b"data_", b"loop_", b"\ndata_next\n", b"data_global_shift", b"\n\n", b"# x\n",
              b"_rlnMicrographMovieName", b"\n_rlnMicrographMovieName x\n"]
    folder = tmp_path / "files"
    folder.mkdir()
    paths = []
    for n in range(400):
        data = bytearray(sources[n % len(sources)].read_bytes())
        for _ in range(int(rng.integers(0, 4))):
            at = int(rng.integers(0, len(data) + 1))
            if rng.random() < 0.5:
                data[at: at + 1] = bytes([alphabet[int(rng.integers(len(alphabet)))]])
            else:
                data[at: at] = pieces[int(rng.integers(len(pieces)))]
        if rng.random() < 0.1:
            data = data[: int(rng.integers(0, len(data) + 1))]
        path = folder / f"edited_{n}.star"
        path.write_bytes(bytes(data))
        paths.append(str(path))
    relion = sources[0].read_bytes()
    local = b"\ndata_local_motion_model\n\nloop_\n_rlnX #1\n" + b"1.000000\n" * 9000
    (folder / "long_after.star").write_bytes(relion + local)  # shifts in the first bytes
    (folder / "long_before.star").write_bytes(local[1:] + b"\n" + relion)  # shifts after them
    (folder / "empty.star").write_bytes(b"")
    (folder / "a directory.star").mkdir()
    odd = os.fsdecode(bytes(folder) + b"/\xff name.star")
    Path(odd).write_bytes(relion)
    paths += [str(folder / name) for name in ("long_after.star", "long_before.star",
                                              "empty.star", "a directory.star", "missing.star")]
    paths.append(odd)
    return paths, relion, local


def test_files_read_and_cut_in_one_compiled_call_are_read_and_cut_as_one_by_one(
        relion31, relion5, tmp_path, monkeypatch, row_parser):
    """`read_cut` against `_head` and `cut_as` file by file: seeded edits of files of learned
    layouts, files longer than what is read first (their shifts before or after that), empty,
    missing and unreadable files, a name that is not UTF-8, and first reads of many sizes."""
    if row_parser != "compiled":
        pytest.skip("compares the compiled reader of files with the one in Python")
    from motioncons.formats import compiled

    monkeypatch.setattr(relion_batch, "_LAYOUTS", {})
    paths, relion, local = _edited_corpus(relion31, relion5, tmp_path)
    limit = relion_batch.MAX_MOVIE_STAR_BYTES
    for size in (relion_batch.HEAD_SIZE, 1, 64, 700, len(relion), len(relion) + 1):
        found = compiled.MODULE.read_cut(paths, relion_batch._LAYOUTS, size, limit)
        assert found == _read_cut_in_python(paths, size, limit), size
    for smaller in (0, 100, len(relion) - 1, len(relion), len(relion) + len(local) - 1):
        found = compiled.MODULE.read_cut(paths, relion_batch._LAYOUTS, 64, smaller)
        assert found == _read_cut_in_python(paths, 64, smaller), smaller
    found = compiled.MODULE.read_cut(paths, relion_batch._LAYOUTS, relion_batch.HEAD_SIZE,
                                     limit)
    assert sum(isinstance(entry, tuple) for entry in found) > 100
    assert isinstance(found[-6], tuple)  # shifts in the first bytes: cut
    assert found[-4] == b"" and found[-3] is None and found[-2] is None
    assert isinstance(found[-1], tuple)
    with pytest.raises(ValueError):
        compiled.MODULE.read_cut(["a\0b"], relion_batch._LAYOUTS, 64, limit)
    with pytest.raises(ValueError):
        relion_batch._head("a\0b")


def test_a_chunk_packed_in_one_compiled_call_is_packed_as_scanned(
        relion31, relion5, tmp_path, monkeypatch, row_parser):
    """`read_packed` against `_scan` and `_packed`: the same slots, extras and shifts for the
    edited corpus, the real files, and files whose shifts are implausible or not observed,
    whose frames are fewer than announced, or whose name is "." or "?"."""
    if row_parser != "compiled":
        pytest.skip("compares the compiled reader of files with the one in Python")
    from motioncons.formats import compiled

    monkeypatch.setattr(relion_batch, "_LAYOUTS", {})
    paths, _, _ = _edited_corpus(relion31, relion5, tmp_path)
    paths += [str(path) for path in [*sorted(relion31.glob("*.star")),
                                     *sorted(relion5.glob("*.star"))]
              if "corrected" not in path.name]
    simulated = _simulated(tmp_path / "simulated", movies=12)
    good = simulated[0].read_bytes()
    rows = re.findall(rb"\n *[0-9]+ +-?[0-9.]+ +-?[0-9.]+ *(?=\n)", good)
    row = rows[1] + b"\n"
    def shifts(x: bytes, y: bytes) -> bytes:  # in the row's columns, still read by position
        fields = re.findall(rb" +-?[0-9]+\.[0-9]+", row)
        return row.replace(fields[0] + fields[1], x.rjust(len(fields[0]))
                           + y.rjust(len(fields[1])))

    changed = [shifts(b"0.5", b"99999999.0"), shifts(b"-9999.000000", b"-9999.000000"),
               shifts(b"1.5", b"-9999.000000")]  # implausible, not observed, observed
    for n, replacement in enumerate(changed, start=1):
        assert replacement != row
        simulated[n].write_bytes(good.replace(row, replacement, 1))
    simulated[5].write_bytes(good.replace(rows[-1] + b"\n", b"\n", 1))  # a frame fewer
    name = re.search(rb"_rlnMicrographMovieName +(\S+)", good)
    assert name is not None
    for n, other in ((6, b"."), (7, b"?"), (8, b"Movies/a.b.c_DW.mrc.bz2"), (9, b"1" * 21 + b"_x")):
        simulated[n].write_bytes(good.replace(name.group(1), other, 1))
    def packed_so(jobs: list) -> list[bool]:
        relion_batch._read_chunk_packed(jobs)  # their layouts learned
        found = compiled.MODULE.read_packed(
            [path for path, _ in jobs], relion_batch._LAYOUTS, relion_batch.HEAD_SIZE,
            relion_batch.MAX_MOVIE_STAR_BYTES, *relion_batch._KEY_TOKENS,
            relion_batch.MAX_SHIFT_PX, relion_batch.NOT_OBSERVED)[0]
        return [type(entry) is tuple and len(entry) == 8 for entry in found]

    assert packed_so([(str(path), None) for path in simulated])[:10] == [
        True, False, False, True, True, False, False, False, True, True]
    jobs = [(path, None) for path in [*map(str, simulated), *paths]]
    assert sum(packed_so(jobs)) > 100
    packed = relion_batch._read_chunk_packed(jobs)
    slots, tables, shifts = relion_batch._packed(*relion_batch._scan(jobs))
    scanned = (slots, tables, relion_batch._held(shifts))
    assert packed[2].dtype == scanned[2].dtype
    assert [_facts(item) for item in relion_batch._unpack(jobs, packed)] == \
        [_facts(item) for item in relion_batch._unpack(jobs, scanned)]


def test_compiled_movie_keys_are_those_of_the_regular_expression():
    """The compiled `movie_key` (ASCII names, as `read_packed` gives it) against
    `trajectory.movie_key` on names made of the trailer's tokens, in any case, with paths,
    cryoSPARC prefixes and near misses."""
    import random

    from motioncons.formats import compiled
    from motioncons.trajectory import KEY_EXTENSIONS, KEY_SUFFIXES, movie_key

    if compiled.MODULE is None:
        pytest.skip("the compiled reader was not built")
    tokens = [*(f".{e}" for e in KEY_EXTENSIONS), *(f".{e.upper()}" for e in KEY_EXTENSIONS),
              *(f".{e.title()}" for e in KEY_EXTENSIONS), *KEY_SUFFIXES, ".", "_", "-", "x",
              "DW", "S", "Patch", "tif", "/", "\\", "..", "._DW", "_fractions.", "0" * 21 + "_"]
    rng = random.Random(17)
    names = ["", ".", "..", ".tif", "_DW", "a.tif", "0" * 21 + "_", "0" * 21 + "_a.tif",
             "0" * 20 + "_a", "1" * 22 + "_b", "/x/", "x\\", "a/b\\c.mrc",
             "a" * 600 + "_DW.mrc", "x." * 400, ".tif" * 300, "b" * 5000]  # past 512: allocated
    for _ in range(30_000):
        stem = "".join(rng.choice("ab_-.0/") for _ in range(rng.randint(0, 6)))
        names.append(stem + "".join(rng.choice(tokens) for _ in range(rng.randint(0, 6))))
    for name in names:
        assert compiled.MODULE.movie_key(name.encode(), *relion_batch._KEY_TOKENS) == \
            movie_key(name), name
    with pytest.raises(ValueError):
        compiled.MODULE.movie_key("é".encode(), *relion_batch._KEY_TOKENS)
    with pytest.raises(ValueError):
        compiled.MODULE.movie_key(b"a\n", *relion_batch._KEY_TOKENS)


def test_the_reference_table_made_while_workers_read_is_the_one_made_alone(tmp_path,
                                                                           monkeypatch):
    """`read_micrographs_star` makes the table it keeps in `iter_movie_stars`' `meanwhile`:
    once, with workers as in one process, to the same table."""
    files = _simulated(tmp_path, movies=12)
    star = files[0].parent.parent / "corrected_micrographs.star"
    alone = read_micrographs_star(star, workers=1)
    calls = []
    real = relion_batch.iter_movie_stars

    def counted(*args, **kwargs):
        meanwhile = kwargs["meanwhile"]
        kwargs["meanwhile"] = lambda: calls.append(meanwhile())
        return real(*args, **kwargs)

    monkeypatch.setattr("motioncons.formats.relion.iter_movie_stars", counted)
    monkeypatch.setattr(relion_batch, "PARALLEL_THRESHOLD", 1)
    in_workers = read_micrographs_star(star, workers=2)
    assert calls == [None]
    assert in_workers.micrograph_table is not None
    assert in_workers.micrograph_table == alone.micrograph_table
    assert list(in_workers.micrograph_table.lines) == list(alone.micrograph_table.lines)
    assert [_facts(t) for t in in_workers.trajectories] == [_facts(t) for t in
                                                             alone.trajectories]
    assert read_micrographs_star(star, workers=2, keep_table=False).micrograph_table is None


def test_meanwhile_runs_once_before_the_first_item_with_or_without_workers(tmp_path,
                                                                           monkeypatch):
    jobs = [(str(path), None) for path in _simulated(tmp_path, movies=6)]
    for threshold, workers in ((10_000, 1), (1, 2)):
        monkeypatch.setattr(relion_batch, "PARALLEL_THRESHOLD", threshold)
        events: list[str] = []
        meanwhile = functools.partial(events.append, "meanwhile")
        for _ in relion_batch.iter_movie_stars(jobs, workers, chunk_size=2,
                                               meanwhile=meanwhile):
            events.append("item")
        assert events == ["meanwhile", *["item"] * 6], (threshold, workers)


def test_read_cut_refuses_layouts_without_a_tail_of_bytes(relion31, row_parser):
    if row_parser != "compiled":
        pytest.skip("the compiled reader's own checks")
    from types import SimpleNamespace

    from motioncons.formats import compiled

    path = sorted(relion31.glob("2017*.star"))[0]
    raw = path.read_bytes()
    tag = raw.find(b"_rlnMicrographMovieName") + len(b"_rlnMicrographMovieName")
    limit = relion_batch.MAX_MOVIE_STAR_BYTES
    with pytest.raises(AttributeError):
        compiled.MODULE.read_cut([str(path)], {raw[:tag]: object()}, 64, limit)
    with pytest.raises(TypeError, match="tail must be bytes"):
        compiled.MODULE.read_cut([str(path)], {raw[:tag]: SimpleNamespace(tail="x")}, 64,
                                 limit)
    with pytest.raises(ValueError, match="size must be positive"):
        compiled.MODULE.read_cut([str(path)], {}, 0, limit)
    with pytest.raises(TypeError, match="paths must be str"):
        compiled.MODULE.read_cut([path], {}, 64, limit)
    assert compiled.MODULE.read_cut([str(path)], {raw[:tag]: SimpleNamespace(tail=b"?")}, 64,
                                    limit) == [raw]  # a tail that does not follow: its bytes


@pytest.fixture
def pools_started(monkeypatch) -> list[int]:
    """The worker pools the bulk reader starts (their sizes), reading in workers from 1 file."""
    started: list[int] = []
    real = relion_batch.worker_pool

    def counted(workers):
        started.append(workers)
        return real(workers)

    monkeypatch.setattr(relion_batch, "worker_pool", counted)
    monkeypatch.setattr(relion_batch, "PARALLEL_THRESHOLD", 1)
    return started


def test_reads_in_a_shared_block_use_one_pool_and_read_the_same(tmp_path, pools_started):
    jobs = [(str(path), None) for path in _simulated(tmp_path, movies=7)]
    alone = [_facts(t) for t in relion_batch.read_movie_stars(jobs, 2, chunk_size=2)]
    assert pools_started == [2]
    with relion_batch.shared_readers():
        first = [_facts(t) for t in relion_batch.read_movie_stars(jobs, 2, chunk_size=2)]
        second = [_facts(t) for t in relion_batch.read_movie_stars(jobs[::-1], 2,
                                                                   chunk_size=3)]
    assert pools_started == [2, 2]  # one for the whole block
    assert first == alone and second == alone[::-1]
    assert multiprocessing.active_children() == []  # the block's pool ends with it


def test_a_prefetched_read_is_taken_by_its_read(tmp_path, pools_started):
    jobs = [(str(path), None) for path in _simulated(tmp_path, movies=7)]
    alone = [_facts(t) for t in relion_batch.read_movie_stars(jobs, 2, chunk_size=2)]
    assert not relion_batch.prefetch(jobs, 2, chunk_size=2)  # no shared block
    with relion_batch.shared_readers() as session:
        assert relion_batch.prefetch(jobs, 2, chunk_size=2)
        assert len(session.queued) == 1 and session.queued[0].jobs is jobs
        read = [_facts(t) for t in relion_batch.iter_movie_stars(jobs, 2, chunk_size=2)]
        assert session.queued == []
        assert not relion_batch.prefetch(jobs, 1)  # one process: nothing to start
        assert not relion_batch.prefetch(jobs[:0], 2)
        assert relion_batch.prefetch(jobs, 2, chunk_size=2)
        other = [_facts(t) for t in relion_batch.iter_movie_stars(jobs, 2, chunk_size=3)]
        assert len(session.queued) == 1  # read in other chunks: not the prefetched ones
    assert read == alone and other == alone


def test_the_next_read_starts_when_the_current_one_has_submitted_its_last_chunk(
        tmp_path, pools_started):
    files = _simulated(tmp_path, movies=20)
    current = [(str(path), None) for path in files[:14]]
    upcoming = [(str(path), None) for path in files[14:]]
    events: list[str] = []
    with relion_batch.shared_readers() as session:
        session.upcoming = lambda: events.append(
            f"upcoming {relion_batch.prefetch(upcoming, 2, chunk_size=2)}")
        for _ in relion_batch.iter_movie_stars(current, 2, chunk_size=2):
            events.append("item")
        # 7 chunks, 6 submitted ahead: the last is submitted when the first is taken, then
        # one of the next read's a chunk taken.
        assert events == ["item", "item", "upcoming True", *["item"] * 12]
        assert session.upcoming is None and len(session.queued) == 1
        assert len(session.queued[0].ahead) == 3 and session.queued[0].all_submitted
        read = [_facts(t) for t in relion_batch.read_movie_stars(upcoming, 2, chunk_size=2)]
    assert read == [_facts(t) for t in relion_batch.read_chunk(upcoming)]


def test_a_read_stopped_early_in_a_shared_block_leaves_no_work_and_no_process(tmp_path,
                                                                            pools_started):
    jobs = [(str(path), None) for path in _simulated(tmp_path, movies=16)]
    with relion_batch.shared_readers() as session:
        relion_batch.prefetch(jobs[8:], 2, chunk_size=1)
        items = relion_batch.iter_movie_stars(jobs, 2, chunk_size=1)
        next(items)
        items.close()
        futures = list(session.queued[0].ahead)
    assert all(future.done() for future in futures)  # cancelled or finished, none running
    assert multiprocessing.active_children() == []
