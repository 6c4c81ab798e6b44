"""STAR subsets quote every value by the STAR/CIF rules: what gemmi reads back is what was
meant, for names with spaces, quotes, leading ``_ # data_ loop_`` and non-ASCII text."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from motioncons.formats.relion import RelionMicrographTable
from motioncons.outputs import relion_star
from motioncons.outputs.relion_star import movies_star, star_value
from motioncons.pipeline import run
from motioncons.records import Row
from motioncons.simulation.trajectories import write_relion_job

pytestmark = pytest.mark.usefixtures("number_formatter")  # compiled, then in Python

NAMES = ["plain_01.tif", "with space.tif", "it's.tif", 'say "hi" now.tif', "_underscore.tif",
         "#hash.tif", "data_block.tif", "loop_", "save_x", "Ångström é.tif", "$dollar", "[x",
         ".", "?", ";semi", "tab\there", "line end\n", "bare_end\n"]


@pytest.mark.parametrize("name", NAMES)
def test_values_read_back_identical(name):
    doc = gemmi.cif.read_string(f"data_t\nloop_\n_a\n{star_value(name)}\n")
    assert gemmi.cif.as_string(doc[0].find_values("_a")[0]) == name


def test_movie_subsets_read_back_identical():
    decided = {f"k{i}": Row(movie=f"k{i}", decision="accepted", reason="agree", movie_name=n)
               for i, n in enumerate(NAMES)}
    text = movies_star(None, decided, True, {k: r.movie_name for k, r in decided.items()})
    doc = gemmi.cif.read_string(text)
    names = [gemmi.cif.as_string(v)
             for v in doc.find_block("movies").find_loop("_rlnMicrographMovieName")]
    assert names == NAMES


def test_unquoted_utf8_names_as_relion_writes_them(tmp_path):
    names = ["Movies/Ångström_é_001.tif", "Movies/séance 2.tif", "Movies/naïve_3.tif"]
    shifts = [np.cumsum(np.full((12, 2), 0.9 + i), axis=0) for i in range(3)]
    reference = write_relion_job(tmp_path, "MotionCorr/job002", names, shifts, 1.0)
    secondary = write_relion_job(tmp_path, "MotionCorr/job003", names, shifts, 1.0)
    assert "Ångström_é_001" in (reference / "corrected_micrographs.star").read_text()
    result = run(reference, secondary, tmp_path / "out")
    assert [r.reason for r in result.rows] == ["agree"] * 3
    for name in ("accepted_micrographs.star", "accepted_movies.star"):
        doc = gemmi.cif.read_file(str(tmp_path / "out" / name))
        assert doc  # gemmi reads them back
    movies = gemmi.cif.read_file(str(tmp_path / "out" / "accepted_movies.star"))
    listed = [gemmi.cif.as_string(v)
              for v in movies.find_block("movies").find_loop("_rlnMicrographMovieName")]
    assert sorted(listed) == sorted(names)


@pytest.mark.parametrize("rows", [0, 1, 5])
def test_a_loop_written_in_pieces_is_the_loop_joined_at_once(rows):
    lines = [f"m{i} 'a b' {i}.5" for i in range(rows)]
    whole = "\n".join(["data_micrographs", "", "loop_", "_rlnA #1", "_rlnB #2", "_rlnC #3",
                       *lines]) + "\n\n"
    for chunk in (1, 2, 8192):
        pieces = relion_star._loop_pieces("micrographs", ["_rlnA", "_rlnB", "_rlnC"],
                                          iter(lines), chunk)
        assert "".join(pieces) == whole


def test_consensus_columns_do_not_depend_on_the_chunk():
    rng = np.random.default_rng(5)
    decided = {}
    for i in range(23):
        corr = float(rng.uniform(-1, 1)) if i % 5 else float("nan")
        decided[f"k{i}"] = Row(movie=f"k{i}", decision="accepted" if i % 3 else "discarded",
                               reason="agree", corr=corr, corr_x=corr, corr_y=0.5,
                               rmse_A=float(rng.uniform(0, 3)), frames=i,
                               plot_path=f"plots/k{i}.png" if i % 2 else None)
    keys = [*decided, "not decided"]
    table = RelionMicrographTable.from_rows("m.star", "# version 30001\n\n", "micrographs",
                                            ["_rlnMicrographName"], [[f"M/{k}.mrc"] for k in keys],
                                            keys)
    for accepted in (True, False):
        body = "".join(
            f"\nM/{key}.mrc " + " ".join(relion_star._format(getattr(row, field))
                                         for _, field in relion_star.CONSENSUS_LABELS)
            for key, row in decided.items() if row.accepted == accepted)
        whole = "".join(relion_star._micrographs_pieces(table, decided, accepted))
        assert body in whole and whole.endswith(body + "\n\n")
        for chunk in (1, 4):
            assert "".join(relion_star._micrographs_pieces(table, decided, accepted,
                                                           chunk)) == whole


def test_a_table_whose_keys_do_not_match_its_rows_is_refused_not_cut_short():
    table = RelionMicrographTable.from_rows("m.star", "", "micrographs", ["_rlnMicrographName"],
                                            [["M/a.mrc"], ["M/b.mrc"]], ["a", "b"])
    table.row_keys = ["a"]
    decided = {"a": Row(movie="a", decision="accepted", reason="agree")}
    with pytest.raises(ValueError, match="2 rows but 1 keys"):
        "".join(relion_star._micrographs_pieces(table, decided, True))


def test_movie_subsets_do_not_depend_on_the_chunk():
    decided = {f"k{i}": Row(movie=f"k{i}", decision="accepted" if i % 3 else "discarded",
                            reason="agree", movie_name=NAMES[i % len(NAMES)])
               for i in range(23)}
    names = {key: row.movie_name for key, row in decided.items() if int(key[1:]) % 4}
    keys = list(decided)
    table = RelionMicrographTable.from_rows(
        "m.star", "# version 30001\n\n", "micrographs", ["_rlnMicrographName", "_rlnOpticsGroup"],
        [[f"M/{k}.mrc", str(1 + i % 2)] for i, k in enumerate(keys)], keys,
        {"_rlnOpticsGroup": ["1", "2"], "_rlnOpticsGroupName": ["a", "b"]})
    for with_table in (None, table):
        for accepted in (True, False):
            whole = "".join(relion_star._movies_pieces(with_table, decided, accepted, names))
            assert whole.count("\n") > 5
            for chunk in (1, 4):
                assert "".join(relion_star._movies_pieces(with_table, decided, accepted, names,
                                                          chunk)) == whole
