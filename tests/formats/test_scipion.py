from __future__ import annotations

import shutil
import sqlite3

import pytest

from motioncons.errors import InputError
from motioncons.formats import read_input
from motioncons.pipeline import Options, run


@pytest.fixture
def scipion_run(samples):
    return samples / "scipion_xmipp_consensus_run"


def test_reads_a_real_aligned_set(scipion_run):
    dataset = read_input(scipion_run / "reference_alignment" / "movies.sqlite")
    assert dataset.format == "scipion SetOfMovies"
    assert [t.key for t in dataset.trajectories] == [f"movie_{i:06d}" for i in range(1, 10)]
    first = dataset.trajectories[0]
    assert first.n_frames == 30 and first.frames[0] == 1 and first.pixel_size == 1.0
    assert first.shifts[1].tolist() == [1.6814, -1.1146]
    table = dataset.micrograph_table
    assert table.ids[table.row_keys.index("movie_000003")] == 3


def _original_outputs(scipion_run):
    """What the original protocol wrote: micrograph id -> (decision, corr, rmse, max error)."""
    out = {}
    for name, decision in (("micrographs.sqlite", "accepted"),
                           ("micrographsDiscarded.sqlite", "discarded")):
        db = sqlite3.connect(scipion_run / "consensus_output" / name)
        columns = dict(db.execute("SELECT label_property, column_name FROM Classes"))
        query = (f"SELECT id, {columns['_alignment_corr']}, {columns['_alignment_rmse_error']}, "
                 f"{columns['_alignment_max_error']} FROM Objects")
        for object_id, corr, rmse, max_error in db.execute(query):
            out[object_id] = (decision, corr, rmse, max_error)
        db.close()
    return out


def test_xmipp_fit_reproduces_the_original_protocol_run(scipion_run, tmp_path):
    result = run(scipion_run / "reference_alignment" / "movies.sqlite",
                 scipion_run / "secondary_alignment" / "movies.sqlite", tmp_path,
                 Options(fit="xmipp", plots="none", report=False))
    original = _original_outputs(scipion_run)
    assert len(original) == len(result.rows) == 9
    for row in result.rows:
        decision, corr, rmse, max_error = original[int(row.movie.split("_")[1])]
        assert row.decision == decision, row.movie
        assert row.corr == pytest.approx(corr, abs=1e-9)
        assert row.rmse_px == pytest.approx(rmse, abs=1e-9)
        assert row.max_error_px == pytest.approx(max_error, abs=1e-9)
    listed = (tmp_path / "discarded_scipion_ids.txt").read_text().splitlines()[1:]
    assert [line.split("\t")[0] for line in listed] == ["3"]
    accepted = (tmp_path / "accepted_scipion_ids.txt").read_text().splitlines()[1:]
    assert len(accepted) == 8


def test_default_fit_discards_what_the_original_let_through(scipion_run, tmp_path):
    result = run(scipion_run / "reference_alignment" / "movies.sqlite",
                 scipion_run / "secondary_alignment" / "movies.sqlite", tmp_path,
                 Options(plots="none", report=False))
    decisions = {row.movie: row.decision for row in result.rows}
    assert decisions["movie_000007"] == "discarded"  # case g: x unrelated, y flat in both


def test_bad_scipion_inputs(samples, tmp_path):
    with pytest.raises(InputError, match="no movie alignment"):
        read_input(samples / "scipion" / "movies.sqlite")
    with pytest.raises(InputError, match="not a Scipion set"):
        read_input(samples / "scipion" / "project.sqlite")
    empty = tmp_path / "movies.sqlite"
    shutil.copy(samples / "scipion_xmipp_consensus_run" / "reference_alignment" /
                "movies.sqlite", empty)
    empty.chmod(0o644)
    db = sqlite3.connect(empty)
    db.execute("DELETE FROM Objects")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="empty"):
        read_input(empty)


def test_a_set_written_empty_is_named_empty(tmp_path):
    """pyworkflow writes a set with no item as an empty file."""
    from motioncons.formats import scipion

    empty = tmp_path / "movies.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"movies\.sqlite: the Scipion set is empty"):
        scipion.read(empty)
    with pytest.raises(InputError, match="the Scipion set is empty"):
        scipion.stream_closed(empty)
    with pytest.raises(InputError, match=r"movies\.sqlite: the Scipion set is empty"):
        read_input(empty)
