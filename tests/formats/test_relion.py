from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from motioncons.errors import InputError
from motioncons.formats import read_input
from motioncons.formats.relion import RelionMicrographTable, read_movie_star
from motioncons.simulation.trajectories import write_relion_job
from motioncons.trajectory import Problem, Trajectory


def _movie(path: Path) -> Trajectory:
    item = read_movie_star(path)
    assert isinstance(item, Trajectory), item
    return item


def test_relion5_per_movie_star(relion5):
    t = _movie(relion5 / "20170629_00021_frameImage.star")
    assert t.key == "20170629_00021_frameImage"
    assert t.movie_name == "Movies/20170629_00021_frameImage.tiff"
    assert t.frames.tolist() == list(range(1, 25))
    assert t.shifts[0].tolist() == [0.0, 0.0]
    assert t.shifts[1].tolist() == pytest.approx([0.960904, -0.81203])
    assert t.pixel_size == pytest.approx(0.885)
    assert t.total_frames == 24


def test_relion31_and_relion5_trajectories_of_the_same_movie_nearly_agree(relion31, relion5):
    a = _movie(relion31 / "20170629_00021_frameImage.star")
    b = _movie(relion5 / "20170629_00021_frameImage.star")
    assert a.key == b.key
    assert np.abs(a.shifts - b.shifts).max() < 0.01  # 0.0089 px per the sample manifest


def test_accumulated_motion_in_corrected_micrographs_is_reproduced_in_pixels(relion31):
    # The micrographs table's rlnAccumMotionTotal is the path length in unbinned pixels.
    t = _movie(relion31 / "20170629_00021_frameImage.star")
    total = np.hypot(*np.diff(t.shifts, axis=0).T).sum()
    assert total == pytest.approx(16.420495, abs=1e-4)


def test_tomography_bin2_per_tilt_star(samples):
    t = _movie(samples / "relion_own/relion5_tomo_bin2_TomoBabel-cets-relion/TS_01_000_0_0.star")
    assert t.key == "TS_01_000_0_0"  # movie frames/TS_01_000_0.0.mrc: '.' -> '_'
    assert t.n_frames == 8
    assert t.pixel_size == pytest.approx(0.675)  # unbinned: shifts are not scaled by binning 2
    assert t.extras["binning"] == "2.000000"


def test_corrected_micrographs_reads_listed_movies_and_reports_missing_ones(relion5):
    dataset = read_input(relion5)
    assert dataset.format == "relion corrected_micrographs.star"
    assert sorted(t.key for t in dataset.trajectories) == [
        "20170629_00021_frameImage", "20170629_00022_frameImage", "20170629_00049_frameImage"]
    assert len(dataset.problems) == 21
    assert {p.reason for p in dataset.problems} == {"missing_metadata"}
    assert all("does not exist" in p.message for p in dataset.problems)
    table = dataset.micrograph_table
    assert table.block_name == "micrographs" and len(table.lines) == 24
    assert table.optics_groups == ["1"] * 24
    assert table.optics["_rlnMicrographOriginalPixelSize"] == ["0.885000"]
    assert "data_optics" in table.preamble and "data_micrographs" not in table.preamble


def test_the_table_keeps_each_row_as_the_subsets_write_it():
    rows = [["M/a.mrc", "1", "'a b'"], ["M/ü.mrc", "2", "'ü c'"], ["M/c.mrc", "1", "x"]]
    table = RelionMicrographTable.from_rows("m.star", "", "micrographs",
                                            ["_rlnMicrographName", "_rlnOpticsGroup", "_rlnX"],
                                            rows, ["a", "ü", "c"])
    # Quoted values stay as written; bare UTF-8, which gemmi cannot read, is quoted.
    assert table.lines == ["M/a.mrc 1 'a b'", '"M/ü.mrc" 2 \'ü c\'', "M/c.mrc 1 x"]
    assert table.optics_groups == ["1", "2", "1"]
    assert table.optics_groups[0] is table.optics_groups[2]  # one string a group
    no_groups = RelionMicrographTable.from_rows("m.star", "", "", ["_rlnMicrographName"],
                                                [["M/a.mrc"]], ["a"])
    assert no_groups.optics_groups == [] and no_groups.optics == {}


def test_a_secondary_input_keeps_no_micrographs_table(relion5):
    kept, dropped = read_input(relion5), read_input(relion5, keep_table=False)
    assert dropped.micrograph_table is None
    assert [(t.key, t.source) for t in dropped.trajectories] == [
        (t.key, t.source) for t in kept.trajectories]
    assert all(np.array_equal(a.shifts, b.shifts)
               for a, b in zip(kept.trajectories, dropped.trajectories, strict=True))
    assert [p.message for p in dropped.problems] == [p.message for p in kept.problems]


def test_tilt_series_job_reads_the_per_tilt_tables(samples):
    dataset = read_input(samples / "relion_own/relion5_tomo_bin2_TomoBabel-cets-relion")
    assert dataset.format == "relion corrected_tilt_series.star"
    assert [t.key for t in dataset.trajectories] == ["TS_01_000_0_0"]
    assert len(dataset.problems) == 40  # tilts listed in TS_01.star whose STAR is not in samples
    assert any("do not exist" in note for note in dataset.notes)


def test_relion4_tomo_micrographs_table_has_no_metadata_files(samples):
    star = (samples / "relion_corrected_micrographs/relion4_tomo_alisterburt-tomo_preprocessing/"
            "relion_motion_correction_output.star")
    dataset = read_input(star)
    assert len(dataset.problems) == 41 and not dataset.trajectories
    assert dataset.problems[0].key == "TS_01_000_0_0"


def _per_movie_text(relion5: Path) -> str:
    return (relion5 / "20170629_00021_frameImage.star").read_text()


def test_unobserved_frames_are_dropped(relion5, tmp_path):
    text = _per_movie_text(relion5)
    rows = text.split("data_global_shift")[1]
    first = rows.split("\n           1     0.000000     0.000000")[0]
    assert first
    patched = text.replace("           1     0.000000     0.000000",
                           "           1 -9999.000000 -9999.000000", 1)
    patched = patched.replace("           2     0.960904     -0.81203",
                              "           2 -9999.000000 -9999.000000", 1)
    (tmp_path / "m.star").write_text(patched)
    t = _movie(tmp_path / "m.star")
    assert t.frames[0] == 3 and t.n_frames == 22
    assert t.extras["unobserved_frames"] == 2


def test_truncated_file_is_a_problem_not_a_crash(relion5, tmp_path):
    text = _per_movie_text(relion5)
    cut = text.index("          12 ")
    (tmp_path / "m.star").write_text(text[:cut])
    item = read_movie_star(tmp_path / "m.star")
    assert isinstance(item, Problem) and item.reason == "unreadable"
    assert "truncated: 11 of 24 frames" in item.message and str(tmp_path) in item.message
    (tmp_path / "n.star").write_text(text[: text.index("data_global_shift")])
    item = read_movie_star(tmp_path / "n.star")
    assert isinstance(item, Problem) and "no data_global_shift" in item.message


def test_nan_shifts_are_a_problem(relion5, tmp_path):
    text = _per_movie_text(relion5).replace("0.960904", "nan", 1)
    (tmp_path / "m.star").write_text(text)
    item = read_movie_star(tmp_path / "m.star")
    assert isinstance(item, Problem) and item.reason == "nan_shifts"
    assert "NaN" in item.message


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe garbage", b"data_global_shift\nloop_\n"])
def test_bad_files_are_problems(tmp_path, content):
    (tmp_path / "m.star").write_bytes(content)
    item = read_movie_star(tmp_path / "m.star")
    assert isinstance(item, Problem) and item.reason == "unreadable"
    assert item.message.startswith(str(tmp_path / "m.star"))


def test_relion30_layout_without_version_lines_or_optics(relion5, tmp_path):
    """RELION 3.0 writes per-movie STARs without version lines and a single ``data_`` table."""
    movie_text = "\n".join(line for line in _per_movie_text(relion5).splitlines()
                           if not line.startswith("# version"))
    job = tmp_path / "MotionCorr" / "job002"
    (job / "Movies").mkdir(parents=True)
    (job / "Movies" / "20170629_00021_frameImage.star").write_text(movie_text)
    (job / "corrected_micrographs.star").write_text(
        "# RELION; version 3.0.8\n\ndata_\n\nloop_ \n_rlnMicrographName #1 \n"
        "_rlnMicrographMetadata #2 \n_rlnAccumMotionTotal #3 \n_rlnAccumMotionEarly #4 \n"
        "_rlnAccumMotionLate #5 \n"
        "MotionCorr/job002/Movies/20170629_00021_frameImage.mrc "
        "MotionCorr/job002/Movies/20170629_00021_frameImage.star    16.4  2.5  13.9 \n \n")
    dataset = read_input(job)
    assert [t.key for t in dataset.trajectories] == ["20170629_00021_frameImage"]
    table = dataset.micrograph_table
    assert table.block_name == "" and not table.optics
    assert table.preamble.startswith("# RELION; version 3.0.8")


def test_eer_fields_are_kept(relion5, tmp_path):
    text = _per_movie_text(relion5).replace(
        "_rlnMicrographStartFrame                              1",
        "_rlnMicrographStartFrame                              1\n"
        "_rlnEERUpsampling                                     2\n"
        "_rlnEERGrouping                                      32")
    (tmp_path / "m.star").write_text(text)
    t = _movie(tmp_path / "m.star")
    assert t.extras["eer_upsampling"] == "2" and t.extras["eer_grouping"] == "32"


def test_directory_of_per_movie_stars_skips_other_star_files(relion5, tmp_path):
    for name in ("20170629_00021_frameImage.star", "20170629_00022_frameImage.star",
                 "movies.star"):
        shutil.copy(relion5 / name, tmp_path / name)
    (tmp_path / "other.star").write_text("data_foo\n\nloop_\n_rlnBar #1\n1\n")
    dataset = read_input(tmp_path)
    assert dataset.format == "relion per-movie STAR directory"
    assert len(dataset.trajectories) == 2 and not dataset.problems
    assert any("skipped" in note for note in dataset.notes)


def test_metadata_paths_resolve_from_the_project_directory(relion5, tmp_path):
    job = tmp_path / "MotionCorr" / "job002"
    (job / "Movies").mkdir(parents=True)
    shutil.copy(relion5 / "20170629_00021_frameImage.star", job / "Movies")
    shutil.copy(relion5 / "corrected_micrographs.star", job)
    dataset = read_input(job / "corrected_micrographs.star")
    assert [t.key for t in dataset.trajectories] == ["20170629_00021_frameImage"]
    assert dataset.trajectories[0].source == str(job / "Movies/20170629_00021_frameImage.star")


@pytest.mark.parametrize(("content", "needle"), [
    ("", "empty file"),
    ("data_micrographs\nloop_\n_rlnMicrographName #1\n_rlnMicrographMetadata #2\nonly_one\n",
     "malformed or truncated STAR"),
    ("data_micrographs\nloop_\n_rlnMicrographName #1\na.mrc\n", "no _rlnMicrographMetadata"),
])
def test_bad_micrographs_star_stops_the_run_with_one_line(tmp_path, content, needle):
    path = tmp_path / "corrected_micrographs.star"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        read_input(path)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_missing_path_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_input(tmp_path / "nope")
    (tmp_path / "x.bin").write_bytes(b"\x00")
    with pytest.raises(InputError, match="not a recognised"):
        read_input(tmp_path / "x.bin")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a recognised"):
        read_input(tmp_path / "empty")


@pytest.mark.parametrize("layout", ["project", "moved job"])
def test_paths_resolved_all_at_once_are_those_resolved_one_by_one(tmp_path, layout,
                                                                  monkeypatch):
    from motioncons.formats.relion import _MetadataResolver

    job = tmp_path / "MotionCorr" / "job002"
    (job / "Movies").mkdir(parents=True)
    present = [f"MotionCorr/job002/Movies/m{i}.star" for i in range(3, 8)]
    for path in present:
        (tmp_path / path).write_text("")
    if layout == "moved job":  # the project's folders above the job are gone: strip them
        monkeypatch.chdir(job)
        shutil.move(str(job), str(tmp_path / "elsewhere"))
        job = tmp_path / "elsewhere"
    recorded = ["MotionCorr/job002/Movies/missing_1.star", "/abs/m2.star",
                "MotionCorr/job002/Movies/missing_2.star", *present,
                "/abs/m9.star", "MotionCorr/job002/Movies/m10.star"]
    star = job / "corrected_micrographs.star"
    one_by_one = _MetadataResolver(star)
    expected = [one_by_one.resolve(item) for item in recorded]
    all_at_once = _MetadataResolver(star)
    assert all_at_once.resolve_all(recorded) == expected
    assert all_at_once.rule == one_by_one.rule is not None
    assert expected[3].endswith("Movies/m3.star") and Path(expected[3]).is_file()


_READ_HOSTILE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # /dev/zero read whole: a MemoryError
from motioncons.formats import relion_batch
from motioncons.formats.relion import read_micrographs_star
relion_batch.PARALLEL_THRESHOLD = int(sys.argv[2])
found = read_micrographs_star(__import__("pathlib").Path(sys.argv[1]), workers=2)
for problem in found.problems:
    print(problem.source, "|", problem.reason, "|", problem.message)
print(len(found.trajectories), "read")
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "python"])
@pytest.mark.parametrize("threshold", [1, 10_000], ids=["workers", "one process"])
def test_a_metadata_path_to_a_device_or_a_pipe_is_that_movies_problem(tmp_path, pure,
                                                                       threshold):
    """A STAR file may name /dev/zero (which never ends), a named pipe (which waits for a
    writer) or a huge file as a movie's metadata: that movie is unreadable, and the others are
    read. In a
    child process with a time and memory limit, so that a regression fails instead of
    hanging."""
    names = [f"Movies/FoilHole_{i}_Data_{i:05d}_fractions.tiff" for i in range(4)]
    shifts = [np.cumsum(np.full((9, 2), 0.3 + 0.1 * i), axis=0) for i in range(4)]
    job = write_relion_job(tmp_path, "MotionCorr/job002", names, shifts, 0.885)
    pipe = tmp_path / "pipe.star"
    os.mkfifo(pipe)
    star = job / "corrected_micrographs.star"
    text = star.read_text()
    text = text.replace("MotionCorr/job002/Movies/FoilHole_1_Data_00001_fractions.star",
                        "/dev/zero")
    text = text.replace("MotionCorr/job002/Movies/FoilHole_2_Data_00002_fractions.star",
                        str(pipe))
    huge = tmp_path / "huge.star"  # sparse: 300 MiB of zeros that take no disk
    with open(huge, "wb") as handle:
        handle.truncate(300 << 20)
    text = text.replace("MotionCorr/job002/Movies/FoilHole_3_Data_00003_fractions.star",
                        str(huge))
    star.write_text(text)
    environment = {**os.environ, "MOTIONCONS_PURE_PYTHON": "1" if pure else ""}
    result = subprocess.run([sys.executable, "-c", _READ_HOSTILE, str(star), str(threshold)],
                            capture_output=True, text=True, timeout=120, env=environment,
                            check=True)
    lines = result.stdout.splitlines()
    assert lines[-1] == "1 read"
    problems = {source: (reason, message) for source, reason, message in
                (line.split(" | ") for line in lines[:-1])}
    assert sorted(problems) == sorted(["/dev/zero", str(pipe), str(huge)])
    assert {reason for reason, _ in problems.values()} == {"unreadable"}
    assert "not a regular file" in problems["/dev/zero"][1]
    assert "not a regular file" in problems[str(pipe)][1]
    assert "larger than 256 MiB" in problems[str(huge)][1]


def test_every_reader_is_named_and_a_relion_job_is_detected_as_relion(tmp_path):
    from motioncons import formats

    assert all(isinstance(reader.NAME, str) and reader.NAME for reader in formats.READERS)
    job = write_relion_job(tmp_path, "MotionCorr/job002", ["Movies/a.tiff"],
                           [np.zeros((5, 2))], 1.0)
    assert formats.detect(job) == "relion"


def test_an_unexpected_failure_of_the_relion_reader_is_one_line_naming_the_input(
        tmp_path, monkeypatch):
    from motioncons.formats import relion

    job = write_relion_job(tmp_path, "MotionCorr/job002", ["Movies/a.tiff"],
                           [np.zeros((5, 2))], 1.0)

    def failing(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(relion, "read_micrographs_star", failing)
    with pytest.raises(InputError, match="cannot be read as relion output "
                                         r"\(MemoryError: out of memory\)") as caught:
        read_input(job)
    assert str(job) in str(caught.value)


def _two_jobs(tmp_path: Path, movies: int = 9) -> tuple[Path, Path]:
    names = [f"Movies/FoilHole_{i}_Data_{i:05d}_fractions.tiff" for i in range(movies)]
    shifts = [np.cumsum(np.full((8, 2), 0.2 + 0.1 * i), axis=0) for i in range(movies)]
    return (write_relion_job(tmp_path, "MotionCorr/job002", names, shifts, 0.885),
            write_relion_job(tmp_path, "MotionCorr/job003", names, shifts[::-1], 0.885))


def _read_facts(dataset) -> list[tuple]:
    return [(t.key, t.movie_name, t.source, t.shifts.tobytes(), t.pixel_size, t.extras)
            for t in dataset.trajectories] + [(p.key, p.reason) for p in dataset.problems]


@pytest.fixture
def parsed_tables(monkeypatch) -> list[str]:
    """The micrographs tables parsed, reading in 2 workers from 1 file on."""
    from motioncons.formats import relion, relion_batch

    monkeypatch.setattr(relion_batch, "PARALLEL_THRESHOLD", 1)
    parsed: list[str] = []
    real = relion._parse_star

    def counted(path):
        parsed.append(Path(path).parent.name)
        return real(path)

    monkeypatch.setattr(relion, "_parse_star", counted)
    return parsed


def test_a_secondary_prepared_while_the_reference_is_read_reads_as_alone(tmp_path,
                                                                         parsed_tables):
    from motioncons.formats import relion, relion_batch

    reference, secondary = _two_jobs(tmp_path)
    alone = read_input(secondary, workers=2, keep_table=False)
    relion.prepare(secondary, 2)  # outside a shared block: nothing
    assert parsed_tables == ["job003"]
    with relion_batch.shared_readers() as session:
        session.upcoming = lambda: relion.prepare(secondary, 2)
        first = read_input(reference, workers=2)
        assert list(session.plans) == [(str(secondary / "corrected_micrographs.star"), False)]
        assert len(session.queued) == 1
        second = read_input(secondary, workers=2, keep_table=False)
        assert not session.plans and not session.queued
    assert parsed_tables == ["job003", "job002", "job003"]  # each table once
    assert _read_facts(second) == _read_facts(alone)
    assert second.micrograph_table is None and first.micrograph_table is not None
    assert [t.key for t in first.trajectories] == [t.key for t in alone.trajectories]


def _outcome(read) -> object:
    try:
        return _read_facts(read())
    except InputError as exc:
        return str(exc)


@pytest.mark.parametrize("table", ["empty", "garbage", "missing"])
def test_a_broken_secondary_table_is_read_as_without_a_prefetch(tmp_path, parsed_tables,
                                                                table):
    """Reported by its own read with the same message (a missing table: the job's folder is
    then read as a folder of per-movie files)."""
    from motioncons.formats import relion, relion_batch

    reference, secondary = _two_jobs(tmp_path)
    star = secondary / "corrected_micrographs.star"
    if table == "missing":
        star.unlink()
    else:
        text = star.read_text()
        star.write_text(text[:text.index("MotionCorr/job003/Movies")] if table == "empty"
                        else "data_\nloop_\n_a\n'unterminated\n")
    alone = _outcome(lambda: read_input(secondary, workers=2, keep_table=False))
    assert isinstance(alone, str) == (table != "missing")
    with relion_batch.shared_readers() as session:
        session.upcoming = lambda: relion.prepare(secondary, 2)
        read_input(reference, workers=2)
        assert not session.plans and not session.queued
        assert _outcome(lambda: read_input(secondary, workers=2, keep_table=False)) == alone


HOSTILE_VALUES = ["plain", "'quoted value'", '"double quoted"', ".", "?", "'.'", "x.y", "?x",
                  "'it''s'", "Ångström", "'Ångström é'", "a;b", "1.5e3", "'_odd'"]


def test_a_column_is_its_values_as_gemmi_gives_them(tmp_path):
    """`_column` leaves most values as they are: the same strings as `gemmi.cif.as_string` of
    each, for quotes, nulls, text fields and escaped non-ASCII text."""
    import gemmi

    from motioncons.formats import relion
    from motioncons.formats.star import parse_cif

    lines = [f"{v} {i}" for i, v in enumerate(HOSTILE_VALUES)]
    text = "data_t\nloop_\n_rlnA\n_rlnB\n" + "\n".join(lines) + "\n;text\nfield\n;\n99\n"
    doc, escaped = parse_cif(text)
    assert escaped
    block = doc[0]
    for tag in ("_rlnA", "_rlnB"):
        expected = [gemmi.cif.as_string(relion.unescape(v)) for v in block.find_loop(tag)]
        assert relion._column(block, tag, escaped) == expected
    assert relion._column(block, "_rlnA", escaped)[:5] == [
        "plain", "quoted value", "double quoted", "", ""]


@pytest.mark.parametrize("text", [
    "# version 30001\n\ndata_optics\n\nloop_\n_x\n1\n\n# version 30001\n\ndata_micrographs\n",
    "data_micrographs\nloop_\n",
    "# data_micrographs in a comment\n  data_micrographs  \r\nloop_\n",
    "x data_micrographs_more\r\ndata_micrographsX\rdata_micrographs\x0bdata_micrographs\n",
    "a\x1cdata_micrographs\x1d\ndata_micrographs",
    "no block here\n", "data_micrographs", "\n\n \tdata_micrographs\t \n",
])
def test_the_preamble_is_the_text_before_the_blocks_first_line(text):
    from motioncons.formats import relion

    def split_all(text, marker="data_micrographs"):
        position = 0
        for line in text.splitlines(keepends=True):
            if line.strip() == marker:
                return text[:position]
            position += len(line)
        return None

    expected = split_all(text)
    if expected is None:
        with pytest.raises(InputError, match="block data_micrographs not found"):
            relion._preamble(text, "micrographs", Path("m.star"))
    else:
        assert relion._preamble(text, "micrographs", Path("m.star")) == expected


def test_a_table_made_from_a_loops_values_is_the_table_made_from_its_rows():
    rows = [["M/a.mrc", "'a b.star'", "1"], ["M/ü é.mrc", "M/ü.star", "2"],
            ["M/c.mrc", '"q"', "1"], ["M/d.mrc", "d.star", "10"]]
    tags = ["_rlnMicrographName", "_rlnMicrographMetadata", "_rlnOpticsGroup"]
    keys = ["a", "ü", "c", "d"]
    for chosen_tags, chosen_rows in ((tags, rows), (tags[:2], [row[:2] for row in rows])):
        from_rows = RelionMicrographTable.from_rows("m.star", "# version 30001\n", "micrographs",
                                                    chosen_tags, chosen_rows, keys, {"x": ["1"]})
        from_values = RelionMicrographTable.from_values(
            "m.star", "# version 30001\n", "micrographs", chosen_tags,
            [value for row in chosen_rows for value in row], keys, {"x": ["1"]})
        assert from_values == from_rows
        assert from_values.optics_groups == (["1", "2", "1", "10"] if len(chosen_tags) == 3
                                             else [])
