from __future__ import annotations

import csv
import json
import multiprocessing

import gemmi
import pytest

from motioncons.consensus import Thresholds
from motioncons.errors import MotionconsError, UsageError
from motioncons.pipeline import Options, read_inputs, run
from motioncons.records import CSV_COLUMNS
from motioncons.simulation.trajectories import SimulationConfig, write_simulation

ISSUE_COLUMNS = ("movie,decision,reason,corr,corr_x,corr_y,rmse_px,max_error_px,rmse_A,"
                 "max_error_A,range_ref_px,range_sec_px,frames,reference_path,secondary_path")


def _truth(info):
    with open(info["ground_truth"], newline="") as handle:
        return {r["movie"]: r["expected"] for r in csv.DictReader(handle)}


def _csv(out):
    with open(out / "consensus.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_inputs_share_the_movie_names_they_have_in_common(relion31, relion5):
    reference, secondary, _ = read_inputs(relion31, relion5, Options())
    by_key = {t.key: t for t in reference.trajectories}
    shared = [(t, by_key[t.key]) for t in secondary.trajectories if t.key in by_key]
    assert len(shared) == 3
    assert all(t.key is r.key for t, r in shared)


def _facts(dataset) -> list[tuple]:
    return [(t.key, t.movie_name, t.source, t.shifts.tobytes(), t.pixel_size, t.extras)
            for t in dataset.trajectories] + [(p.key, p.reason) for p in dataset.problems]


def test_inputs_read_by_one_pool_read_as_in_one_process(tmp_path, monkeypatch):
    """Both inputs in workers (one pool, the secondary's files read while the reference's
    last are taken) read as in one process, and no worker outlives the read."""
    from motioncons.formats import relion, relion_batch

    info = write_simulation(tmp_path / "project", SimulationConfig(movies=40, seed=5))
    jobs = info["reference"], info["secondary"]
    alone = read_inputs(*jobs, Options(workers=1))
    prepared: list[str] = []
    real = relion.prepare
    monkeypatch.setattr(relion, "prepare", lambda path, workers: (
        prepared.append(str(path)), real(path, workers))[1])
    monkeypatch.setattr(relion_batch, "PARALLEL_THRESHOLD", 1)
    pooled = read_inputs(*jobs, Options(workers=2))
    assert prepared == [str(info["secondary"])]
    for one, other in zip(alone[:2], pooled[:2], strict=True):
        assert _facts(other) == _facts(one)
    assert multiprocessing.active_children() == []


def test_a_run_hands_its_inputs_trajectories_over_to_pairing(relion31, relion5, tmp_path,
                                                               monkeypatch):
    from motioncons import pipeline

    handed = []
    real = pipeline.prepare

    def prepare(reference, secondary, *args, **kwargs):
        comparison = real(reference, secondary, *args, **kwargs)
        handed.append((reference.trajectories, secondary.trajectories))
        return comparison

    monkeypatch.setattr(pipeline, "prepare", prepare)
    run(relion31, relion5, tmp_path, Options(plots="none", report=False))
    assert handed == [([], [])]  # freed as they were paired (the peak of a large run)


def test_relion31_vs_relion5_real_results(relion31, relion5, tmp_path):
    result = run(relion31, relion5, tmp_path)
    rows = {r.movie: r for r in result.rows}
    assert len(rows) == 24
    readable = ["20170629_00021_frameImage", "20170629_00022_frameImage",
                "20170629_00049_frameImage"]
    for key in readable:
        assert rows[key].decision == "accepted", rows[key]
        assert rows[key].reason == "agree" and rows[key].corr >= 0.99
        assert rows[key].rmse_px < 0.05 and rows[key].frames == 24
    others = [r for k, r in rows.items() if k not in readable]
    assert {(r.decision, r.reason) for r in others} == {("discarded", "missing_metadata")}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"paired": 24, "accepted": 3, "discarded": 21,
                                 "only_in_reference": 0, "only_in_secondary": 0,
                                 "invalid": 21, "duplicates": 0}
    assert summary["convention"]["applied"] == "identity"
    assert summary["versions"]["gemmi"] == gemmi.__version__


def test_consensus_csv_columns_and_exact_numbers(relion31, relion5, tmp_path):
    result = run(relion31, relion5, tmp_path)
    header = (tmp_path / "consensus.csv").read_text().splitlines()[0]
    assert header.startswith(ISSUE_COLUMNS)
    assert header.split(",") == list(CSV_COLUMNS)
    table = {r["movie"]: r for r in _csv(tmp_path)}
    for row in result.rows:
        if row.decision == "accepted":
            assert float(table[row.movie]["corr"]) == row.corr  # .17g round-trips exactly
            assert float(table[row.movie]["rmse_A"]) == pytest.approx(row.rmse_px * 0.885)


def test_star_subsets_keep_optics_verbatim_rows_unchanged_and_partition(relion31, relion5,
                                                                        tmp_path):
    run(relion31, relion5, tmp_path)
    source_text = (relion31 / "corrected_micrographs.star").read_text()
    source = gemmi.cif.read_file(str(relion31 / "corrected_micrographs.star"))
    source_rows = {row[0]: [row[i] for i in range(len(row))]
                   for row in source.find_block("micrographs").find(
                       ["_rlnMicrographName", "_rlnMicrographMetadata", "_rlnOpticsGroup",
                        "_rlnAccumMotionTotal", "_rlnAccumMotionEarly", "_rlnAccumMotionLate"])}
    seen = {}
    for label in ("accepted", "discarded"):
        text = (tmp_path / f"{label}_micrographs.star").read_text()
        preamble = source_text[: source_text.index("data_micrographs")]
        assert text.startswith(preamble)  # version line and data_optics verbatim
        doc = gemmi.cif.read_string(text)
        assert doc.find_block("optics") is not None
        table = doc.find_block("micrographs").find(
            ["_rlnMicrographName", "_rlnMicrographMetadata", "_rlnOpticsGroup",
             "_rlnAccumMotionTotal", "_rlnAccumMotionEarly", "_rlnAccumMotionLate",
             "_rlnMotionConsensusScore", "_rlnMotionConsensusReason"])
        for row in table:
            values = [row[i] for i in range(6)]
            assert values == source_rows[row[0]]
            assert row[0] not in seen
            seen[row[0]] = label
            assert (row[7] in ("agree", "low_motion")) == (label == "accepted")
    assert len(seen) == len(source_rows) == 24
    movies = gemmi.cif.read_file(str(tmp_path / "accepted_movies.star"))
    names = list(movies.find_block("movies").find_loop("_rlnMicrographMovieName"))
    assert sorted(names) == [f"Movies/20170629_000{n}_frameImage.tiff" for n in (21, 22, 49)]
    optics = movies.find_block("optics")
    assert optics.find_value("_rlnMicrographPixelSize") is None  # movies have no binned size
    assert list(optics.find_values("_rlnMicrographOriginalPixelSize")) == ["0.885000"]


def test_every_common_movie_ends_in_exactly_one_output_and_no_temp_files(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=150, seed=4,
                                                            failure_fraction=0.3))
    result = run(info["reference"], info["secondary"], tmp_path / "out")
    assert len(result.rows) == 150
    names = []
    for label in ("accepted", "discarded"):
        doc = gemmi.cif.read_file(str(tmp_path / "out" / f"{label}_micrographs.star"))
        names += list(doc.find_block("micrographs").find_loop("_rlnMicrographName"))
    assert len(names) == len(set(names)) == 150
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")
                and p.name not in (".motioncons.json", ".motioncons.lock")]


def test_simulated_failures_are_caught(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(
        movies=200, seed=6, failure_fraction=0.25,
        failures=("other_direction", "flat", "flipped_axis", "noise_blowup")))
    result = run(info["reference"], info["secondary"], tmp_path / "out")
    truth = _truth(info)
    wrong = [r for r in result.rows if truth[r.movie_name] != r.decision]
    assert len(wrong) <= 4, [(r.movie, r.reason, r.corr) for r in wrong]


def test_jumps_need_a_magnitude_criterion(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(
        movies=120, seed=8, failure_fraction=0.3, failures=("jump",)))
    truth = _truth(info)

    def errors(options):
        result = run(info["reference"], info["secondary"], tmp_path / "out", options)
        return sum(truth[r.movie_name] != r.decision for r in result.rows)

    corr_only = errors(Options(thresholds=Thresholds(max_rmse_A=None)))
    with_rmse = errors(Options(thresholds=Thresholds(max_rmse_A=1.0)))
    assert with_rmse < corr_only
    assert errors(Options()) <= with_rmse  # the default: --max-rmse auto
    assert with_rmse <= 3


def test_flipped_gain_dataset_is_detected_and_corrected(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(
        movies=80, seed=5, failure_fraction=0.0, secondary_convention="flip_y"))
    result = run(info["reference"], info["secondary"], tmp_path / "out")
    convention = result.summary["convention"]
    assert convention["applied"] == "flip_y" and convention["estimated"] == "flip_y"
    assert convention["votes"]["flip_y"] == convention["moving_pairs"]
    assert any("flip_y" in w for w in result.warnings)
    assert all(r.accepted for r in result.rows)
    forced = run(info["reference"], info["secondary"], tmp_path / "out2",
                 Options(convention="identity"))
    assert sum(r.accepted for r in forced.rows) < 20


def test_eer_fractions_are_resampled_not_failed(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=40, seed=9, eer=True,
                                                            failure_fraction=0.0))
    result = run(info["reference"], info["secondary"], tmp_path / "out")
    assert all(r.resampled for r in result.rows)
    assert all(r.accepted for r in result.rows)


def test_xmipp_and_rigid_modes_run_end_to_end(relion31, relion5, tmp_path):
    for fit in ("xmipp", "rigid"):
        result = run(relion31, relion5, tmp_path / fit, Options(fit=fit))
        assert sum(r.accepted for r in result.rows) == 3
        if fit == "xmipp":
            assert result.summary["convention"] is None


def _table(path, movies):
    lines = ["movie,frame,x,y,pixel_size"]
    for name, (frames, pixel) in movies.items():
        lines += [f"{name},{f},{0.5 * f},{-0.3 * f},{pixel}" for f in frames]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_too_few_common_frames_and_unmatched_movies(tmp_path):
    ref = _table(tmp_path / "r.csv", {"a": (range(1, 9), 1.0), "b": (range(1, 4), 1.0),
                                      "c": (range(1, 9), 1.0)})
    sec = _table(tmp_path / "s.csv", {"a": (range(1, 9), 1.0), "b": (range(3, 9), 1.0),
                                      "d": (range(1, 9), 1.0)})
    result = run(ref, sec, tmp_path / "out")
    rows = {r.movie: r for r in result.rows}
    assert rows["b"].reason == "too_few_frames" and rows["b"].decision == "discarded"
    assert "1 common frame" in rows["b"].message
    assert result.summary["only_in_reference"] == ["c"]
    assert result.summary["only_in_secondary"] == ["d"]
    assert (tmp_path / "out" / "consensus.csv").exists()
    assert not (tmp_path / "out" / "accepted_micrographs.star").exists()


def test_pixel_size_disagreement_is_a_warning(tmp_path):
    ref = _table(tmp_path / "r.csv", {"a": (range(1, 9), 1.0)})
    sec = _table(tmp_path / "s.csv", {"a": (range(1, 9), 0.5)})
    result = run(ref, sec, tmp_path / "out")
    assert any("pixel sizes disagree" in w for w in result.summary["warnings"])


def test_no_common_movie_is_an_error(tmp_path):
    ref = _table(tmp_path / "r.csv", {"a": (range(1, 9), 1.0)})
    sec = _table(tmp_path / "s.csv", {"b": (range(1, 9), 1.0)})
    with pytest.raises(MotionconsError, match="no movie is present in both inputs"):
        run(ref, sec, tmp_path / "out")


def test_magnitude_criteria_need_a_pixel_size(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("movie,frame,x,y\n" + "".join(f"a,{f},{f},0\n" for f in range(1, 9)))
    options = Options(thresholds=Thresholds(max_rmse_A=1.0))
    with pytest.raises(UsageError, match="--pixel-size"):
        run(path, path, tmp_path / "out", options)
    run(path, path, tmp_path / "out", Options(thresholds=Thresholds(max_rmse_A=1.0),
                                              pixel_size=1.0))


@pytest.mark.parametrize("options", [Options(fit="affine"), Options(convention="mirror"),
                                     Options(thresholds=Thresholds(min_corr=2.0)),
                                     Options(thresholds=Thresholds(min_range=-1)),
                                     Options(thresholds=Thresholds(max_error_A=0))])
def test_bad_options(options, tmp_path):
    with pytest.raises(UsageError):
        options.validate()


def _other_formats(root, count=12):
    """A cryoSPARC job and a Scipion set of the same simulated movies (simulator-written), and
    a RELION secondary."""
    from .reference_inputs import write_reference_inputs

    paths, secondary = write_reference_inputs(root, SimulationConfig(
        movies=count, seed=5, failure_fraction=0.3), 1.0)
    return paths["cryosparc"], paths["scipion"], secondary


@pytest.mark.parametrize("regex", [None, r"Data_(\d+)"])
def test_match_regex_keeps_every_reference_formats_subsets(tmp_path, regex):
    import numpy as np

    cs, scipion, secondary = _other_formats(tmp_path)
    options = Options(plots="none", report=False, match_regex=regex)
    result = run(cs, secondary, tmp_path / "out_cs", options)
    accepted = np.load(tmp_path / "out_cs" / "exposures_accepted.cs")
    rejected = np.load(tmp_path / "out_cs" / "exposures_rejected.cs")
    assert len(accepted) == sum(r.accepted for r in result.rows) > 0
    assert len(accepted) + len(rejected) == 12
    result = run(scipion, secondary, tmp_path / "out_sc", options)
    ids = (tmp_path / "out_sc" / "accepted_scipion_ids.txt").read_text().splitlines()[1:]
    assert len(ids) == sum(r.accepted for r in result.rows) > 0


def test_an_invalid_match_regex_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="not a valid regular expression"):
        run(tmp_path, tmp_path, tmp_path / "o", Options(match_regex="(unclosed"))


def test_the_same_input_twice_is_warned_about(relion5, tmp_path):
    result = run(relion5, relion5, tmp_path)
    assert any("same input" in w for w in result.warnings)


def _csdat_job(root, count=10):
    """A cryoSPARC job whose exposures are in the CSDAT container, written by cryosparc-tools
    itself (the layout current cryoSPARC writes)."""
    dataset_module = pytest.importorskip("cryosparc.dataset")
    import numpy as np

    from motioncons.simulation import formats as fmt
    from motioncons.simulation.trajectories import simulate_movies, write_relion_job

    movies = simulate_movies(SimulationConfig(movies=count, seed=6, failure_fraction=0.3))
    names = [m.name for m in movies]
    cs = fmt.cryosparc_job(root / "cs", names, [m.reference for m in movies], 1.0)
    records = np.load(cs)
    dataset = dataset_module.Dataset.allocate(len(records), [
        ("movie_blob/path", "O"), ("rigid_motion/path", "O"),
        ("rigid_motion/frame_start", "<u4"), ("rigid_motion/frame_end", "<u4"),
        ("rigid_motion/psize_A", "<f4")])
    dataset["uid"] = records["uid"]
    for field in ("movie_blob/path", "rigid_motion/path"):
        dataset[field] = [v.decode() for v in records[field]]
    for field in ("rigid_motion/frame_start", "rigid_motion/frame_end", "rigid_motion/psize_A"):
        dataset[field] = records[field]
    dataset.save(str(cs), format=dataset_module.CSDAT_FORMAT)
    secondary = write_relion_job(root / "relion", "MotionCorr/job003", names,
                                 [m.secondary for m in movies], 1.0)
    return cs, secondary, dataset_module


def test_a_csdat_reference_gets_csdat_subsets_and_every_output(tmp_path):
    cs, secondary, dataset_module = _csdat_job(tmp_path)
    assert cs.read_bytes()[:6] == b"\x95CSDAT"
    result = run(cs, secondary, tmp_path / "out", Options(plots="all"))
    out = tmp_path / "out"
    assert (out / "summary.json").exists() and (out / "report.html").exists()
    accepted = dataset_module.Dataset.load(str(out / "exposures_accepted.cs"))
    rejected = dataset_module.Dataset.load(str(out / "exposures_rejected.cs"))
    assert (out / "exposures_accepted.cs").read_bytes()[:6] == b"\x95CSDAT"
    assert len(accepted) == sum(r.accepted for r in result.rows)
    assert len(accepted) + len(rejected) == 10
    assert set(accepted["uid"]) | set(rejected["uid"]) == set(
        dataset_module.Dataset.load(str(cs))["uid"])


def test_a_corrupt_csdat_file_is_one_line_not_a_crash(tmp_path):
    import subprocess
    import sys

    cs, secondary, _ = _csdat_job(tmp_path, count=4)
    data = bytearray(cs.read_bytes())
    for offset in range(40, len(data), max(1, len(data) // 7)):
        data[offset] ^= 0xFF
    cs.write_bytes(bytes(data))
    result = subprocess.run([sys.executable, "-m", "motioncons", "run", str(cs), str(secondary),
                             "-o", str(tmp_path / "out")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 1, result.stderr
    assert "corrupt CSDAT" in result.stderr and result.stderr.count("\n") == 1


def test_a_cryosparc_folder_of_several_cs_files_is_subset_as_one(tmp_path):
    import numpy as np

    from motioncons.simulation import formats as fmt
    from motioncons.simulation.trajectories import simulate_movies, write_relion_job

    movies = simulate_movies(SimulationConfig(movies=12, seed=8, failure_fraction=0.3))
    names = [m.name for m in movies]
    shifts = [m.reference for m in movies]
    first = fmt.cryosparc_job(tmp_path / "cs", names[:6], shifts[:6], 1.0, job="J5")
    second = fmt.cryosparc_job(tmp_path / "cs", names[6:], shifts[6:], 1.0, job="J6")
    folder = tmp_path / "cs" / "exposures"
    folder.mkdir()
    for number, cs in enumerate((first, second)):
        (folder / f"part{number}.cs").write_bytes(cs.read_bytes())
    secondary = write_relion_job(tmp_path / "r", "MotionCorr/job003", names,
                                 [m.secondary for m in movies], 1.0)
    result = run(folder, secondary, tmp_path / "out", Options(plots="none", report=False))
    accepted = np.load(tmp_path / "out" / "exposures_accepted.cs")
    rejected = np.load(tmp_path / "out" / "exposures_rejected.cs")
    assert len(accepted) + len(rejected) == 12
    assert len(accepted) == sum(r.accepted for r in result.rows)


def test_what_a_paused_collection_made_is_old_once_it_is_on_again():
    """Re-enabled, the collector does not start with a pass over everything made meanwhile
    (it would at the first allocation), and a cycle made meanwhile is still collected."""
    import gc

    from motioncons import pipeline

    class Node:
        pass

    assert gc.isenabled()
    with pipeline.paused_gc():
        made = [Node() for _ in range(1000)]
        cycle = Node()
        cycle.me = cycle  # type: ignore[attr-defined]
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert not any(item is made[0] for item in gc.get_objects(generation=0))
    assert any(item is made[0] for item in gc.get_objects(generation=2))
    del cycle
    assert gc.collect() >= 1
