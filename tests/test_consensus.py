from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from motioncons.consensus import (
    AUTO_RMSE_FLOOR_PX,
    AUTO_RMSE_MIN_MOVIES,
    CONVENTIONS,
    Batch,
    Thresholds,
    calibrate_max_rmse,
    compare,
    estimate_and_measure,
    estimate_convention,
    xmipp_metrics,
)
from motioncons.trajectory import as_micro


def _cases(reference_material):
    data = json.loads((reference_material / "xmipp_reference_cases.json").read_text())
    out = {}
    for case in data["cases"]:
        ref = np.column_stack([case["reference"]["x"], case["reference"]["y"]])
        sec = np.column_stack([case["secondary"]["x"], case["secondary"]["y"]])
        out[case["case"]] = (ref, sec, case["expected"])
    return out, data["parameters"]


def _batch(pairs, pixel_size=1.0):
    return Batch.from_samples([p[0] for p in pairs], [p[1] for p in pairs],
                              [pixel_size] * len(pairs))


def _drift(frames=30, seed=0, scale=10.0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    path = np.column_stack([scale * (1 - np.exp(-t / 4)) + 0.1 * t,
                            -0.6 * scale * (1 - np.exp(-t / 3))])
    return path + rng.normal(0, 0.05, path.shape)


def test_xmipp_mode_reproduces_every_reference_case(reference_material):
    cases, params = _cases(reference_material)
    assert len(cases) == 9
    for name, (ref, sec, expected) in cases.items():
        corr, corr_x, corr_y, rmse, max_error, _, _ = xmipp_metrics(ref, sec,
                                                                    params["min_range_px"])
        for got, key in ((corr, "corr"), (corr_x, "corr_x"), (corr_y, "corr_y"),
                         (rmse, "rmse"), (max_error, "max_error")):
            assert got == pytest.approx(expected[key], abs=1e-9), (name, key)


def test_xmipp_mode_batch_decisions_match_the_original(reference_material):
    cases, params = _cases(reference_material)
    names = sorted(cases)
    results = compare(_batch([cases[n][:2] for n in names]),
                      Thresholds(params["min_corr"], params["min_range_px"]), fit="xmipp")
    for i, name in enumerate(names):
        expected = cases[name][2]
        assert ("accepted" if results.accepted[i] else "discarded") == expected["decision"], name
        assert results.corr[i] == pytest.approx(expected["corr"], abs=1e-9)
        assert results.max_error_px[i] == pytest.approx(expected["max_error"], abs=1e-9)


def test_offset_mode_discards_case_g_and_accepts_a_and_e(reference_material):
    cases, _ = _cases(reference_material)
    results = compare(_batch([cases["a"][:2], cases["e"][:2], cases["g"][:2]]), Thresholds())
    assert results.accepted.tolist() == [True, True, False]
    assert results.reason.tolist() == ["agree", "agree", "low_correlation"]
    # Case g: y is flat in both, so only x is informative and decides the score.
    assert results.corr[2] == pytest.approx(results.corr_x[2])


def test_offset_mode_rejects_rotations_and_mirrors_that_xmipp_hides(reference_material):
    cases, _ = _cases(reference_material)
    results = compare(_batch([cases["b"][:2], cases["f"][:2], cases["i"][:2]]), Thresholds())
    assert not results.accepted.any()


def test_offset_mode_is_invariant_to_a_constant_offset():
    ref = _drift()
    results = compare(_batch([(ref, ref + np.array([5.0, -3.0]))]), Thresholds())
    assert results.corr[0] == pytest.approx(1.0)
    assert results.rmse_px[0] == pytest.approx(0.0, abs=1e-12)
    assert results.max_error_px[0] == pytest.approx(0.0, abs=1e-12)


def test_rmse_and_max_error_are_per_frame_euclidean():
    ref = _drift()
    error = np.zeros_like(ref)
    error[::2] = [0.3, 0.4]  # 0.5 px on half the frames, 0 on the others
    error -= error.mean(axis=0)  # the offset fit removes the mean difference
    results = compare(_batch([(ref, ref + error)]), Thresholds())
    distances = np.hypot(*error.T)
    assert results.rmse_px[0] == pytest.approx(np.sqrt(np.mean(distances ** 2)))
    assert results.max_error_px[0] == pytest.approx(distances.max())


def test_low_motion_is_accepted_without_comparison():
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 0.3, (30, 2))
    sec = rng.normal(0, 0.3, (30, 2))
    results = compare(_batch([(ref, sec)]), Thresholds(min_range=3))
    assert results.accepted[0]
    assert results.reason[0] == "low_motion"
    assert math.isnan(results.corr[0])


def test_flat_secondary_scores_zero_where_the_reference_moves():
    ref = _drift()
    results = compare(_batch([(ref, np.zeros_like(ref))]), Thresholds())
    assert results.corr_x[0] == 0.0 and results.corr_y[0] == 0.0
    assert results.corr[0] == 0.0
    assert results.reason[0] == "low_correlation"


def test_min_corr_minus_one_discards_nothing_on_correlation():
    ref = _drift()
    results = compare(_batch([(ref, -ref), (ref, np.zeros_like(ref))]),
                      Thresholds(min_corr=-1.0))
    assert results.accepted.all()


def test_magnitude_criteria_in_angstrom():
    ref = _drift()
    half = ref * 0.5  # correlates perfectly, but is half the size
    results = compare(_batch([(ref, half), (ref, ref)], pixel_size=2.0),
                      Thresholds(max_rmse_A=1.0))
    assert results.reason.tolist() == ["high_rmse", "agree"]
    results = compare(_batch([(ref, half)], pixel_size=2.0), Thresholds(max_error_A=1.0))
    assert results.reason.tolist() == ["high_max_error"]


def test_rigid_fit_reports_the_rotation_angle():
    ref = _drift()
    angle = np.radians(25.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    sec = (ref - ref.mean(axis=0)) @ rotation.T + [2.0, 1.0]
    results = compare(_batch([(ref, sec)]), Thresholds(), fit="rigid")
    assert results.rotation_deg[0] == pytest.approx(-25.0, abs=1e-6)
    assert results.rmse_px[0] == pytest.approx(0.0, abs=1e-9)
    assert results.corr[0] == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_convention_estimate_finds_each_symmetry(name):
    matrix = CONVENTIONS[name]
    refs = [_drift(seed=s, scale=6 + s) for s in range(12)]
    # The secondary was written in another convention: applying `name` maps it back.
    secs = [r @ np.linalg.inv(matrix).T + np.random.default_rng(s).normal(0, 0.1, r.shape)
            for s, r in enumerate(refs)]
    estimate = estimate_convention(_batch(list(zip(refs, secs, strict=True))), 3.0)
    assert estimate.name == name
    assert estimate.votes[name] == 12
    assert estimate.scale == pytest.approx(1.0, abs=0.05)
    assert bool(estimate.warnings) == (name != "identity")


def test_each_vote_is_the_convention_of_smallest_residual():
    """The vote's shortcut (the largest <ref, M sec>) picks what the residuals themselves
    pick, on pairs in every convention, scaled, noisy, and moving along one axis only."""
    from motioncons.consensus import _dense_chunks, _moving_centred, _votes

    rng = np.random.default_rng(3)
    pairs = []
    for i in range(400):
        ref = _drift(frames=int(rng.integers(5, 60)), seed=i, scale=float(rng.uniform(2, 30)))
        if i % 7 == 0:
            ref[:, 1] = 0.0
        matrix = list(CONVENTIONS.values())[i % len(CONVENTIONS)]
        sec = ref @ matrix.T * rng.uniform(0.3, 2.0) + rng.normal(0, rng.uniform(0, 8), ref.shape)
        pairs.append((ref, sec))
    batch = _batch(pairs)
    votes, residual_votes = [], []
    for _, ref, sec in _dense_chunks(batch):
        ref_c, sec_c = _moving_centred(ref, sec, 3.0)
        votes += _votes(ref_c, sec_c).tolist()
        residuals = [((ref_c - np.einsum("ij,njf->nif", m, sec_c)) ** 2).sum(axis=(1, 2))
                     for m in CONVENTIONS.values()]
        residual_votes += np.argmin(np.stack(residuals, axis=1), axis=1).tolist()
    assert len(votes) > 300
    assert votes == residual_votes


def test_convention_needs_a_majority_to_leave_identity():
    refs = [_drift(seed=s) for s in range(10)]
    secs = [r.copy() for r in refs]
    for i in range(4):
        secs[i] = secs[i] * [-1.0, 1.0]
    estimate = estimate_convention(_batch(list(zip(refs, secs, strict=True))), 3.0)
    assert estimate.name == "identity"


def test_convention_scale_check_warns_on_binning_mismatch():
    refs = [_drift(seed=s) for s in range(5)]
    estimate = estimate_convention(_batch([(r, r / 2) for r in refs]), 3.0)
    assert estimate.scale == pytest.approx(2.0, rel=0.01)
    assert any("binning" in w for w in estimate.warnings)


def test_forced_convention_is_applied_and_reported():
    refs = [_drift(seed=s) for s in range(5)]
    batch = _batch([(r, r * [-1.0, 1.0]) for r in refs])
    estimate = estimate_convention(batch, 3.0, forced="identity")
    assert estimate.name == "identity" and estimate.estimated == "flip_x" and estimate.forced
    assert not compare(batch, Thresholds(), convention="identity").accepted.any()
    assert compare(batch, Thresholds(), convention="flip_x").accepted.all()


def test_vectorised_batch_equals_one_pair_at_a_time():
    rng = np.random.default_rng(5)
    pairs = []
    for i in range(40):
        ref = _drift(frames=int(rng.integers(10, 50)), seed=i, scale=rng.uniform(1, 20))
        pairs.append((ref, ref + rng.normal(0, rng.uniform(0.05, 3), ref.shape)))
    for fit in ("offset", "rigid"):
        together = compare(_batch(pairs), Thresholds(), fit=fit)
        for i, pair in enumerate(pairs):
            alone = compare(_batch([pair]), Thresholds(), fit=fit)
            for field in ("corr", "corr_x", "corr_y", "rmse_px", "max_error_px", "rotation_deg"):
                np.testing.assert_allclose(getattr(together, field)[i], getattr(alone, field)[0],
                                           rtol=1e-12, atol=1e-12, err_msg=f"{fit} {field} {i}")
            assert together.reason[i] == alone.reason[0]


def test_no_nan_decides_silently():
    ref = _drift()
    flat = np.zeros_like(ref)
    for fit in ("offset", "rigid", "xmipp"):
        results = compare(_batch([(ref, flat), (flat, flat), (flat, ref)]),
                          Thresholds(min_range=0.0), fit=fit)
        for accepted, reason in zip(results.accepted, results.reason, strict=True):
            assert reason in ("agree", "low_motion") if accepted else reason not in ("agree",)
        if fit == "xmipp":
            assert "nan_correlation" in results.reason.tolist()


# --------------------------------------------------------------------------- --max-rmse auto


def _decisions(info, thresholds):
    import csv

    from motioncons.pipeline import Options, run

    with open(info["ground_truth"], newline="") as handle:
        truth = {r["movie"]: r for r in csv.DictReader(handle)}
    result = run(info["reference"], info["secondary"], Path(info["reference"]).parents[2] / "o",
                 Options(plots="none", report=False, thresholds=thresholds), force=True)
    return result, truth


@pytest.mark.parametrize(("fraction", "most_wrong"), [(0.0, 0), (0.1, 2), (0.4, 4)])
def test_auto_rmse_catches_what_correlation_misses(tmp_path, fraction, most_wrong):
    """Simulated sessions with 0 %, 10 % and 40 % failing secondaries (simulator data)."""
    from motioncons.simulation.trajectories import SimulationConfig, write_simulation

    info = write_simulation(tmp_path / "p", SimulationConfig(movies=300, seed=2,
                                                            failure_fraction=fraction))
    auto, truth = _decisions(info, Thresholds())
    corr_only, _ = _decisions(info, Thresholds(max_rmse_A=None))
    wrong = [r for r in auto.rows if truth[r.movie_name]["expected"] != r.decision]
    wrong_corr = [r for r in corr_only.rows if truth[r.movie_name]["expected"] != r.decision]
    assert len(wrong) <= most_wrong and len(wrong) <= len(wrong_corr)
    lost = [r for r in wrong if truth[r.movie_name]["failure"] == "none"]
    assert not lost  # no good movie is lost
    calibration = auto.summary["max_rmse_calibration"]
    assert calibration["movies"] >= AUTO_RMSE_MIN_MOVIES
    assert calibration["threshold_px"] >= AUTO_RMSE_FLOOR_PX


def test_auto_rmse_keeps_a_tight_dataset_whole():
    """Everything agrees to 0.05 px: the floor keeps every fine movie."""
    rng = np.random.default_rng(0)
    rmse = np.abs(rng.normal(0.05, 0.005, 500))
    rmse[:10] = 0.2  # fine, but 30 MADs away from a tight median
    calibration = calibrate_max_rmse(rmse, np.ones(500, dtype=bool))
    assert calibration.threshold_px == AUTO_RMSE_FLOOR_PX
    assert (rmse <= calibration.threshold_px).all()


def test_auto_rmse_needs_enough_moving_movies():
    rmse = np.array([0.1, 0.2, 5.0] + [0.1] * 30)
    moving = np.zeros(rmse.size, dtype=bool)
    moving[:AUTO_RMSE_MIN_MOVIES - 1] = True
    calibration = calibrate_max_rmse(rmse, moving)
    assert calibration.threshold_px == AUTO_RMSE_FLOOR_PX and calibration.median_px is None
    assert "fewer than" in calibration.rule
    moving[:] = True
    calibrated = calibrate_max_rmse(rmse, moving)
    assert calibrated.median_px == pytest.approx(0.1)


def test_auto_rmse_is_robust_to_many_outliers():
    rng = np.random.default_rng(1)
    good = np.abs(rng.normal(0.3, 0.08, 600))
    bad = rng.uniform(2.0, 6.0, 400)  # 40 % failing
    calibration = calibrate_max_rmse(np.concatenate([good, bad]), np.ones(1000, dtype=bool))
    assert good.max() < calibration.threshold_px < bad.min()


def test_xmipp_fit_keeps_the_original_rule_unless_a_magnitude_is_given(tmp_path):
    from motioncons.pipeline import Options, run
    from motioncons.simulation.trajectories import SimulationConfig, write_simulation

    info = write_simulation(tmp_path / "p", SimulationConfig(movies=60, seed=3))
    result = run(info["reference"], info["secondary"], tmp_path / "o",
                 Options(fit="xmipp", plots="none", report=False))
    assert result.summary["max_rmse_calibration"] is None
    assert result.summary["parameters"]["max_rmse_A"] is None
    assert "high_rmse" not in {r.reason for r in result.rows}


@pytest.mark.parametrize("fit", ["offset", "rigid"])
def test_chunked_computation_gives_the_same_bits(fit, monkeypatch):
    """Pairs are computed DENSE_CHUNK at a time (bounded memory): any chunk size, mixed frame
    counts, gives exactly the metrics, decisions and convention of one pass."""
    from motioncons import consensus

    rng = np.random.default_rng(11)
    pairs = []
    for i in range(40):
        ref = _drift(frames=int(rng.integers(8, 40)), seed=i, scale=float(rng.uniform(0, 20)))
        flip = np.diag([-1.0, 1.0]) if i % 5 else np.eye(2)
        pairs.append((ref, ref @ flip + rng.normal(0, 0.3 + i / 20, ref.shape)))
    batch = _batch(pairs, pixel_size=0.9)
    thresholds = Thresholds()

    def outcome():
        estimate = estimate_convention(batch, thresholds.min_range)
        results = compare(batch, thresholds, fit, estimate.name, keep_fitted=True)
        arrays = [results.corr, results.rmse_px, results.max_error_px, results.rotation_deg,
                  results.axis_ranges, results.accepted]
        return (estimate, [a.tobytes() for a in arrays], results.reason.tolist(),
                [f.tobytes() for f in results.fitted])

    whole = outcome()
    monkeypatch.setattr(consensus, "DENSE_CHUNK", 3)
    assert outcome() == whole
    assert whole[0].name == "flip_x" and whole[0].scale is not None


@pytest.mark.parametrize("fit", ["offset", "rigid"])
@pytest.mark.parametrize(("flipped", "forced"), [(0, "auto"), (4, "auto"), (4, "identity"),
                                                 (0, "flip_y")])
def test_metrics_measured_while_voting_are_those_of_compare(fit, flipped, forced):
    """`estimate_and_measure` gives the estimate of `estimate_convention`, and metrics only
    when the convention is the one guessed (the forced one, or the identity): then exactly
    `compare`'s under it, fitted trajectories included."""
    rng = np.random.default_rng(12)
    pairs = []
    for i in range(30):
        ref = _drift(frames=int(rng.integers(8, 40)), seed=i, scale=float(rng.uniform(0, 20)))
        flip = np.diag([-1.0, 1.0]) if flipped and i % 5 else np.eye(2)
        pairs.append((ref, ref @ flip + rng.normal(0, 0.3 + i / 20, ref.shape)))
    batch = _batch(pairs, pixel_size=0.9)
    thresholds = Thresholds()
    estimate, measured = estimate_and_measure(batch, thresholds.min_range, forced, fit, True)
    assert estimate == estimate_convention(batch, thresholds.min_range, forced)
    guessed = forced if forced != "auto" else "identity"
    assert (measured is not None) == (estimate.name == guessed) == (not flipped or
                                                                     forced != "auto")

    def facts(results):
        arrays = [results.corr, results.corr_x, results.rmse_px, results.max_error_px,
                  results.rotation_deg, results.axis_ranges, results.accepted]
        return ([a.tobytes() for a in arrays], results.reason.tolist(),
                [f.tobytes() for f in results.fitted])

    fresh = compare(batch, thresholds, fit, estimate.name, keep_fitted=True)
    reused = compare(batch, thresholds, fit, estimate.name, keep_fitted=True, measured=measured)
    assert facts(reused) == facts(fresh)


def test_each_reason_is_one_string_object_however_many_pairs_give_it():
    rng = np.random.default_rng(8)
    pairs = []
    for i in range(300):
        ref = np.cumsum(rng.normal(0, 2, (20, 2)), axis=0)
        sec = ref + rng.normal(0, 0.3 if i % 3 else 8, ref.shape)
        pairs.append((ref, sec))
    reasons = compare(_batch(pairs), Thresholds(max_rmse_A=1.0)).reason
    assert {"agree", "low_correlation"} <= set(reasons)
    assert len({id(reason) for reason in reasons}) == len(set(reasons))


@pytest.mark.parametrize("fit", ["offset", "rigid", "xmipp"])
def test_samples_held_as_millionths_of_a_pixel_give_the_same_results(fit):
    pairs = [(np.round(_drift(frames, seed), 6), np.round(_drift(frames, seed + 7, 8.0), 6))
             for frames, seed in ((30, 0), (30, 1), (12, 2), (50, 3))]
    pairs.append((np.zeros((20, 2)), np.round(_drift(20, 9, 0.5), 6)))  # below --min-range
    held = []
    for ref, sec in pairs:
        ref_micro, sec_micro = as_micro(ref), as_micro(sec)
        assert ref_micro is not None and sec_micro is not None
        held.append((ref_micro, sec_micro))
    thresholds = Thresholds(min_corr=0.9, max_rmse_A=2.0)
    expected = compare(_batch(pairs), thresholds, fit, keep_fitted=True)
    found = compare(_batch(held), thresholds, fit, keep_fitted=True)
    for name in ("corr", "corr_x", "corr_y", "rmse_px", "max_error_px", "range_ref_px",
                 "range_sec_px", "accepted", "reason"):
        assert getattr(found, name).tobytes() == getattr(expected, name).tobytes(), name
    assert [f.tobytes() for f in found.fitted] == [f.tobytes() for f in expected.fitted]
