"""Fuzzing every reader with a seeded corpus of damaged inputs.

Each format's result files are written by the simulator (no public real file exists for most
of them; the RELION and MotionCor2 samples are real and damaged too). One file of a folder is
damaged at a time: truncated at random offsets, bytes flipped, numbers replaced by NaN, inf,
1e308, -9999 or 20-digit integers, lines deleted or duplicated, emptied, replaced by binary
garbage or UTF-16, inflated, or replaced by a folder or a symlink loop. Whatever happens, a
reader returns a set (the damaged movie becomes a problem) or raises the documented one-line
`InputError`, and a run with a sound other input puts every common movie in exactly one row.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from motioncons.errors import InputError, MotionconsError
from motioncons.evaluation import Options, evaluate
from motioncons.formats import read_input
from motioncons.simulation import formats as fmt
from motioncons.simulation.trajectories import write_relion_job

PIXEL = 1.0
NAMES = [f"Movies/FoilHole_{i}_Data_{i:05d}_fractions.tiff" for i in range(4)]
SHIFTS = [np.cumsum(np.full((12, 2), 0.6 + 0.2 * i), axis=0) for i in range(4)]
_NUMBER = re.compile(rb"-?\d+\.\d+|\b\d+\b")


def _write(kind: str, root: Path) -> tuple[Path, Path]:
    """(the input to read, the file to damage) for one format."""
    root.mkdir(parents=True)
    stems = [Path(n).name.rsplit(".", 1)[0] for n in NAMES]
    if kind == "relion":
        job = write_relion_job(root, "MotionCorr/job002", NAMES, SHIFTS, PIXEL)
        return job, job / f"Movies/{stems[1]}.star"
    if kind == "relion_table":
        job = write_relion_job(root, "MotionCorr/job002", NAMES, SHIFTS, PIXEL)
        return job / "corrected_micrographs.star", job / "corrected_micrographs.star"
    if kind == "cryosparc_cs":
        cs = fmt.cryosparc_job(root, NAMES, SHIFTS, PIXEL)
        return cs, cs
    if kind == "cryosparc_npy":
        cs = fmt.cryosparc_job(root, NAMES, SHIFTS, PIXEL)
        return cs, sorted((root / "J5" / "motioncorrected").glob("*.npy"))[1]
    if kind == "scipion":
        path = root / "movies.sqlite"
        fmt.scipion_set(path, NAMES, SHIFTS, PIXEL)
        return path, path
    writers = {
        "motioncor": (".out", lambda p, n, s: fmt.motioncor_stdout(p, n, s, PIXEL)),
        "motioncor_log": ("-Patch-Full.log", lambda p, n, s: fmt.motioncor_log(p, s)),
        "warp": (".xml", lambda p, n, s: fmt.warp_xml(p, n, s, PIXEL)),
        "xmipp": ("_shifts.xmd", fmt.xmipp_xmd),
        "imod": (".xf", lambda p, n, s: fmt.imod_xf(p, s)),
        "cistem": ("_shifts.txt", lambda p, n, s: fmt.cistem_shifts(p, n, s, PIXEL)),
    }
    suffix, write = writers[kind]
    for stem, name, shifts in zip(stems, NAMES, SHIFTS, strict=True):
        write(root / f"{stem}{suffix}", name, shifts)
    return root, root / f"{stems[1]}{suffix}"


KINDS = ("relion", "relion_table", "cryosparc_cs", "cryosparc_npy", "scipion", "motioncor",
         "motioncor_log", "warp", "xmipp", "imod", "cistem")


def _mutations(data: bytes, rng: np.random.Generator) -> list[tuple[str, object]]:
    """(label, new content) pairs; content None means: make it a folder; "loop": a symlink
    loop; bytes: the file's new content."""
    out: list[tuple[str, object]] = []
    for k in range(4):
        out.append((f"truncated {k}", data[: int(rng.integers(0, max(len(data), 1)))]))
    for k in range(4):
        damaged = bytearray(data)
        for _ in range(1 if k < 3 else 12):
            if damaged:
                damaged[int(rng.integers(len(damaged)))] = int(rng.integers(256))
        out.append((f"flipped {k}", bytes(damaged)))
    numbers = list(_NUMBER.finditer(data))
    for value in (b"nan", b"inf", b"-inf", b"1e308", b"-9999", b"1e30", b"99999999999999999999",
                  b"-1e308", b"text"):
        for k in range(2):
            if numbers:
                match = numbers[int(rng.integers(len(numbers)))]
                out.append((f"{value.decode()} {k}",
                            data[: match.start()] + value + data[match.end():]))
    lines = data.splitlines(keepends=True)
    if len(lines) > 2:
        i = int(rng.integers(len(lines)))
        out.append(("line deleted", b"".join(lines[:i] + lines[i + 1:])))
        out.append(("line duplicated", b"".join(lines[: i + 1] + lines[i:])))
    out.append(("empty", b""))
    out.append(("binary", bytes(rng.integers(0, 256, 3000, dtype=np.uint8))))
    with contextlib.suppress(UnicodeDecodeError):
        out.append(("utf-16", data.decode("utf-8").encode("utf-16")))
    out.append(("huge", data * max(1, (3 << 20) // max(len(data), 1))))
    out.append(("folder", None))
    out.append(("symlink loop", "loop"))
    return out


def _damage(target: Path, content: object) -> None:
    target.unlink()
    if content is None:
        target.mkdir()
    elif content == "loop":
        os.symlink(target.name, target)
    else:
        target.write_bytes(content)  # type: ignore[arg-type]


def _read(path: Path):
    try:
        return read_input(path, pixel_size=PIXEL)
    except InputError as exc:
        text = str(exc)
        assert text and "\n" not in text, text
        assert str(path.parent) in text, text  # it names the file (or its folder)
        return None


@pytest.fixture(scope="module")
def sound_relion(tmp_path_factory):
    root = tmp_path_factory.mktemp("sound")
    return write_relion_job(root, "MotionCorr/job002", NAMES, SHIFTS, PIXEL)


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_inputs_never_leak_exceptions_and_lose_no_movie(kind, tmp_path, sound_relion):
    rng = np.random.default_rng(sum(map(ord, kind)))
    pristine = tmp_path / "pristine"
    _, target = _write(kind, pristine)
    data = target.read_bytes()
    sound = read_input(sound_relion, pixel_size=PIXEL)
    for number, (label, content) in enumerate(_mutations(data, rng)):
        case = tmp_path / f"case{number}"
        shutil.copytree(pristine, case, symlinks=True)
        source, damaged = _write_paths(kind, pristine, case, target)
        _damage(damaged, content)
        dataset = _read(source)
        if dataset is None:
            continue
        for reference, secondary in ((dataset, sound), (sound, dataset)):
            try:
                rows = evaluate(reference, secondary, Options(report=False, plots="none")).rows
            except MotionconsError:
                continue  # e.g. no movie in common: a one-line error, not a crash
            keys = [row.movie for row in rows]
            assert len(keys) == len(set(keys)), (kind, label)
            assert set(keys) == reference.keys() & secondary.keys(), (kind, label)
            assert all(row.decision in ("accepted", "discarded") for row in rows)
        shutil.rmtree(case)


def _write_paths(kind: str, pristine: Path, case: Path, target: Path) -> tuple[Path, Path]:
    source, _ = {"relion": (case / "MotionCorr/job002", None),
                 "relion_table": (case / "MotionCorr/job002/corrected_micrographs.star", None),
                 "cryosparc_cs": (case / "J5/exposures.cs", None),
                 "cryosparc_npy": (case / "J5/exposures.cs", None),
                 "scipion": (case / "movies.sqlite", None)}.get(kind, (case, None))
    return source, case / target.relative_to(pristine)


def test_cryosparc_objects_and_wrong_dtypes_are_problems_not_pickles(tmp_path):
    cs = fmt.cryosparc_job(tmp_path, NAMES, SHIFTS, PIXEL)
    trajectories = sorted((tmp_path / "J5" / "motioncorrected").glob("*.npy"))
    np.save(trajectories[0], np.array([{"x": 1}], dtype=object), allow_pickle=True)
    np.save(trajectories[1], np.zeros(3, dtype=[("a", "f4"), ("b", "f4")]))
    np.save(trajectories[2], np.array([b"ab", b"cd"]))
    np.save(trajectories[3], np.float64(3.0))  # 0-d
    dataset = read_input(cs)
    assert {p.reason for p in dataset.problems} == {"unreadable"} and len(dataset.problems) == 4
    records = np.load(cs)
    wrong = np.zeros(len(records), dtype=[("uid", "<u8"), ("rigid_motion/path", "<f8"),
                                          ("rigid_motion/frame_start", "U4"),
                                          ("rigid_motion/psize_A", "U4")])
    np.save(tmp_path / "wrong.npy", wrong)
    os.replace(tmp_path / "wrong.npy", cs)
    assert all(p.reason in ("unreadable", "missing_metadata") for p in read_input(cs).problems)
    np.save(tmp_path / "objects.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    os.replace(tmp_path / "objects.npy", cs)
    with pytest.raises(InputError, match=r"unreadable \.cs file"):
        read_input(cs)


def test_a_crafted_scipion_set_is_not_run_as_sql(tmp_path):
    """Column names come from the file's Classes table: a recursive CTE there would hang."""
    path = tmp_path / "movies.sqlite"
    fmt.scipion_set(path, NAMES, SHIFTS, PIXEL)
    db = sqlite3.connect(path)
    db.execute("UPDATE Classes SET column_name = '(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
               "SELECT x + 1 FROM c) SELECT max(x) FROM c)' WHERE label_property = '_filename'")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="column name"):
        read_input(path)


def test_a_scipion_set_with_text_and_blob_values(tmp_path):
    path = tmp_path / "movies.sqlite"
    fmt.scipion_set(path, NAMES, SHIFTS, PIXEL)
    db = sqlite3.connect(path)
    db.execute("UPDATE Objects SET c04 = 'first' WHERE id = 1")
    db.execute("UPDATE Objects SET c01 = ? WHERE id = 2", (b"\xff\x00blob",))
    db.commit()
    db.close()
    dataset = read_input(path)
    assert len(dataset.trajectories) == 3 and len(dataset.problems) == 1
    assert "_alignment._first" in dataset.problems[0].message


def test_warp_bounds_what_it_allocates(tmp_path):
    fmt.warp_xml(tmp_path / "a.xml", "a.tiff", SHIFTS[0], PIXEL)
    text = (tmp_path / "a.xml").read_bytes().decode("utf-8-sig")
    (tmp_path / "a.xml").write_text(re.sub(r'Value="[^"]*,[^"]*,12"', 'Value="1,1,1e9"', text))
    assert read_input(tmp_path / "a.xml").problems[0].reason == "unreadable"
    many = np.cumsum(np.ones((10_000, 2)), axis=0)
    fmt.warp_xml(tmp_path / "b.xml", "b.tiff", many, PIXEL)
    assert read_input(tmp_path / "b.xml").trajectories[0].n_frames == 10_000


def test_all_frames_unaligned_and_duplicated_frames(tmp_path, capsys):
    job = write_relion_job(tmp_path, "MotionCorr/job002", NAMES[:2], SHIFTS[:2], PIXEL)
    unaligned, duplicated = sorted((job / "Movies").glob("*.star"))
    unaligned.write_text(re.sub(r"^( +\d+) +\S+ +\S+$", r"\1 -9999.000000 -9999.000000",
                                unaligned.read_text(), flags=re.MULTILINE))
    duplicated.write_text(re.sub(r"^( +)3( +\S+ +\S+)$", r"\g<1>2\2", duplicated.read_text(),
                                 flags=re.MULTILINE))
    dataset = read_input(job)
    assert sorted(p.reason for p in dataset.problems) == ["too_few_frames", "unreadable"]
    from motioncons.cli import main

    assert main(["inspect", str(job)]) == 0
    assert "2 with problems" in capsys.readouterr().out


def test_json_nested_deep_is_a_problem(tmp_path):
    (tmp_path / "m_motion.json").write_text("[" * 200_000 + "]" * 200_000)
    dataset = read_input(tmp_path / "m_motion.json", pixel_size=PIXEL)
    assert dataset.problems[0].reason == "unreadable"
