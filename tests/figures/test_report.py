from __future__ import annotations

import math
import os
import re
import shutil
import struct

import numpy as np
import pytest

from motioncons.figures.overlay_codec import decode_overlay, encode_overlay
from motioncons.pipeline import Options, run
from motioncons.simulation.trajectories import SimulationConfig, write_simulation


def test_overlay_encoding_round_trip():
    rng = np.random.default_rng(0)
    frames = np.array([2, 3, 4, 7, 8])
    ref = rng.normal(0, 20, (5, 2))
    sec = ref + rng.normal(0, 1, (5, 2))
    blob = encode_overlay(frames, ref, sec)
    assert len(blob) < 5 * 5 * 3
    got_frames, got_ref, got_sec = decode_overlay(blob)
    assert got_frames.tolist() == frames.tolist()
    np.testing.assert_allclose(got_ref, ref, atol=0.005 + 1e-12)
    np.testing.assert_allclose(got_sec, sec, atol=0.005 + 1e-12)


def test_report_is_self_contained(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=50, seed=2))
    run(info["reference"], info["secondary"], tmp_path / "out", Options(plots="none"))
    text = (tmp_path / "out" / "report.html").read_text()
    assert "<link" not in text
    assert not re.search(r"""(src|href)=["']?https?:""", text)
    assert not re.search(r"""\b(fetch|XMLHttpRequest|import\()""", text)
    assert "data:image/png;base64," in text and text.count("<script") == 4


def _chromium():
    found = [shutil.which(name) for name in ("chromium", "chromium-browser")]
    driver = shutil.which("chromedriver")
    binary = next((f for f in found if f), None)
    if not binary or not driver:
        message = "Debian's chromium and chromium-driver are needed for the browser test"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary, driver


def _browser(tmp_path):
    """Headless Chromium at 1400 px, or a skip (a failure under CI) when it is missing."""
    binary, driver = _chromium()
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_report_in_a_real_browser(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    info = write_simulation(tmp_path / "p", SimulationConfig(movies=230, seed=3,
                                                            failure_fraction=0.2))
    result = run(info["reference"], info["secondary"], tmp_path / "out", Options(plots="none"))
    browser = _browser(tmp_path)
    try:
        browser.get((tmp_path / "out" / "report.html").as_uri())
        _ready(browser)
        assert browser.find_element(By.ID, "count").text == "230 of 230 movies"
        Select(browser.find_element(By.ID, "pagesize")).select_by_visible_text("all")
        listed = [tr.get_attribute("data-movie")
                  for tr in browser.find_elements(By.CSS_SELECTOR, "#body tr")]
        assert sorted(listed) == sorted(r.movie for r in result.rows)
        Select(browser.find_element(By.ID, "fdecision")).select_by_visible_text("discarded")
        discarded = [r for r in result.rows if not r.accepted]
        assert browser.find_element(By.ID, "count").text == f"{len(discarded)} of 230 movies"
        row = browser.find_elements(By.CSS_SELECTOR, "#body tr")[0]
        movie = row.get_attribute("data-movie")
        row.click()
        overlay = browser.find_element(By.ID, "overlay")
        assert overlay.get_attribute("data-movie") == movie
        svg = overlay.find_element(By.TAG_NAME, "svg")
        assert movie in svg.text and "discarded" in svg.text
        expected = next(r for r in result.rows if r.movie == movie)
        points = svg.find_element(By.CSS_SELECTOR, "polyline.reference").get_attribute("points")
        assert len(points.split()) == expected.frames
        assert svg.find_element(By.CSS_SELECTOR, "polyline.secondary")
        assert svg.find_element(By.CSS_SELECTOR, "polyline.error")
        browser.save_screenshot(str(tmp_path / "report.png"))
    finally:
        browser.quit()
    assert (tmp_path / "report.png").stat().st_size > 10000


HOSTILE = ['<img src=x onerror="window.pwned=1">', '"><svg onload=window.pwned=2>',
           "a&b <b>bold é", "' onmouseover='window.pwned=3"]


def _hostile_inputs(root):
    """A CSV table and a cisTEM folder (another format) with the same hostile movie names."""
    from motioncons.simulation.formats import cistem_shifts

    lines = ["movie,frame,x,y,pixel_size"]
    (root / "cistem").mkdir(parents=True)
    for i, name in enumerate(HOSTILE):
        shifts = np.cumsum(np.full((10, 2), 0.8 + i), axis=0)
        if i % 2:
            shifts[:, 0] = shifts[::-1, 0]  # disagrees: discarded, with a plot
        for frame, (x, y) in enumerate(shifts, start=1):
            quoted = '"' + name.replace('"', '""') + '"'
            lines.append(f"{quoted},{frame},{x},{y},1.0")
        cistem_shifts(root / "cistem" / f"{name}_shifts.txt", name,
                      np.cumsum(np.full((10, 2), 0.8 + i), axis=0), 1.0)
    (root / "table.csv").write_text("\n".join(lines) + "\n")
    return root / "table.csv", root / "cistem"


def test_hostile_names_are_text_in_the_report(tmp_path):
    from selenium.webdriver.common.by import By

    table, cistem = _hostile_inputs(tmp_path)
    result = run(table, cistem, tmp_path / "out", Options(plots="discarded"))
    assert len(result.rows) == len(HOSTILE)
    browser = _browser(tmp_path)
    try:
        browser.get((tmp_path / "out" / "report.html").as_uri())
        _ready(browser)
        rows = browser.find_elements(By.CSS_SELECTOR, "#body tr")
        assert sorted(r.get_attribute("data-movie") for r in rows) == sorted(
            r.movie for r in result.rows)
        assert not browser.find_elements(By.CSS_SELECTOR, "#body img, #body svg, #body b")
        for i in range(len(HOSTILE)):
            row = browser.find_elements(By.CSS_SELECTOR, "#body tr")[i]  # clicks re-render
            movie = row.get_attribute("data-movie")
            row.click()
            overlay = browser.find_element(By.ID, "overlay")
            assert movie in overlay.text
            assert not overlay.find_elements(By.CSS_SELECTOR, "img, b, svg svg")
        assert browser.execute_script("return window.pwned") is None
    finally:
        browser.quit()


THRESHOLD_SETS = [
    {},
    {"min_corr": 0.9, "max_rmse": 0.3},
    {"min_corr": 0.5, "max_rmse": None, "max_error": 2.5},
    {"min_range": 6.0, "max_motion": 40.0, "max_early_motion": 6.0},
    {"min_range": 1.0, "max_rmse": "auto", "min_corr": 0.97},
]


def _fragment(changes):
    return "&".join(f"{k}={'none' if v is None else v}" for k, v in changes.items())


def _ready(browser) -> None:
    """Wait (up to 5 s) for the page to have inflated its data and drawn its table: the
    browser's DecompressionStream is asynchronous."""
    import time

    for _ in range(100):
        if browser.execute_script("return document.body.dataset.ready") == "1":
            return
        time.sleep(0.05)


def _counts(browser):
    from selenium.webdriver.common.by import By

    _ready(browser)
    accepted = browser.find_element(By.ID, "accepted-count").text
    discarded = browser.find_element(By.ID, "discarded-count").text
    assert accepted.endswith(" accepted") and discarded.endswith(" discarded")
    return int(accepted.split()[0]), int(discarded.split()[0])


def test_the_report_decides_as_the_cli_for_every_threshold_set(tmp_path):
    from selenium.webdriver.common.by import By

    from motioncons.pipeline import decide

    info = write_simulation(tmp_path / "p", SimulationConfig(movies=240, seed=5,
                                                            failure_fraction=0.3))
    out = tmp_path / "out"
    run(info["reference"], info["secondary"], out, Options(plots="none"))
    report = (out / "report.html").as_uri()
    browser = _browser(tmp_path)
    try:
        for changes in THRESHOLD_SETS:
            cli = tmp_path / f"cli{len(list(tmp_path.glob('cli*')))}"
            shutil.copytree(out, cli)
            expected = decide(cli, changes).summary["counts"]
            browser.get(f"{report}#{_fragment(changes)}")
            browser.refresh()  # a new fragment alone does not reload the page
            assert _counts(browser) == (expected["accepted"], expected["discarded"]), changes
            command = browser.find_element(By.ID, "command").text
            assert command.startswith("motioncons decide ")
            words = command.split()
            for name, value in changes.items():
                given = words[words.index("--" + name.replace("_", "-")) + 1]
                if isinstance(value, float):
                    assert float(given) == value, (command, name)
                else:
                    assert given == ("none" if value is None else value), (command, name)
        # Marks by hand are the override CSV of the command line.
        browser.get(report)
        before = _counts(browser)
        row = browser.find_elements(By.CSS_SELECTOR, "#body tr.accepted")[0]
        movie = row.get_attribute("data-movie")
        row.click()
        browser.find_element(By.ID, "markdis").click()
        assert _counts(browser) == (before[0] - 1, before[1] + 1)
        assert browser.find_element(By.ID, "marks").text == "1 movie(s)"
        assert "--override motioncons_overrides.csv" in browser.find_element(By.ID,
                                                                            "command").text
        marks = tmp_path / "marks.csv"
        marks.write_text(f"movie,decision\n{movie},discarded\n")
        counts = decide(out, {"override": str(marks)}).summary["counts"]
        assert (counts["accepted"], counts["discarded"]) == (before[0] - 1, before[1] + 1)
        browser.get(report)  # the folder now carries the manual decision: the page starts there
        assert _counts(browser) == (before[0] - 1, before[1] + 1)
        assert browser.find_element(By.ID, "marks").text == "1 movie(s)"
    finally:
        browser.quit()


def test_a_live_report_reloads_itself_and_a_finished_one_does_not():
    from motioncons.figures.report import build_report

    summary = {"parameters": {"fit": "offset", "min_corr": 0.75, "min_range_px": 3.0,
                              "max_rmse": "auto", "max_error_A": None, "max_motion_A": None,
                              "max_early_motion_A": None, "pixel_size_A": None},
               "counts": {}, "warnings": [], "stream": {"finished": False}}
    live = build_report([], {}, summary, None)
    assert 'http-equiv="refresh"' in live
    summary["stream"]["finished"] = True
    assert 'http-equiv="refresh"' not in build_report([], {}, summary, None)


def _embedded(page: str, name: str) -> bytes:
    import base64
    import zlib

    found = re.search(rf'<script id={name} type="text/plain">([^<]*)</script>', page)
    assert found is not None
    return zlib.decompress(base64.b64decode(found.group(1)))


def test_the_table_made_a_chunk_at_a_time_is_the_table_made_at_once(tmp_path, monkeypatch):
    """The page's data is JSON in its compact form, the same whatever the chunks; each row
    points at its own encoded trajectories."""
    import json

    from motioncons.figures import report
    from motioncons.figures.overlay_codec import row_overlays

    info = write_simulation(tmp_path / "p", SimulationConfig(movies=40, seed=5,
                                                            failure_fraction=0.3))
    result = run(info["reference"], info["secondary"], tmp_path / "out", Options(plots="none"))
    rows, overlays = result.rows, row_overlays(result.rows)
    pages = []
    for chunk in (4096, 7, 1):
        monkeypatch.setattr(report, "CHUNK_ROWS", chunk)
        pages.append(report.build_report(rows, overlays, result.summary, None, "now"))
    data = [_embedded(page, "data") for page in pages]
    trajectories = [_embedded(page, "traj") for page in pages]
    exact = [_embedded(page, "exact") for page in pages]
    assert data[0] == data[1] == data[2] and trajectories[0] == trajectories[1] == trajectories[2]
    assert exact[0] == exact[1] == exact[2]
    payload = json.loads(data[0])
    assert data[0].decode() == json.dumps(payload, separators=(",", ":"))
    assert len(payload["rows"]) == len(rows) > 7
    fields, exact_fields = payload["fields"], payload["exact"]
    decided_on = np.frombuffer(exact[0], dtype="<f8").reshape(len(rows), len(exact_fields))
    for row, values, numbers in zip(rows, payload["rows"], decided_on, strict=True):
        entry = dict(zip(fields, values, strict=True))
        assert entry["movie"] == row.movie
        assert payload["reasons"][entry["reason"]] == row.reason
        start, length = entry["offset"], entry["length"]
        assert trajectories[0][start: start + length] == overlays.get(row.movie, b"")
        # The fields the page decides from, bit for bit (NaN where there is no number).
        for field, number in zip(exact_fields, numbers.tolist(), strict=True):
            value = getattr(row, field)
            if value is None or not math.isfinite(value):
                assert math.isnan(number), field
            else:
                assert struct.pack("<d", number) == struct.pack("<d", value), field
    assert set(fields) | set(exact_fields) == set(report.TABLE_FIELDS) | {"offset", "length"}


def test_a_placeholder_in_a_value_is_left_as_it_is():
    from motioncons.figures.report import build_report

    summary = {"parameters": {"fit": "offset", "min_corr": 0.75, "min_range_px": 3.0,
                              "max_rmse": "auto", "max_error_A": None, "max_motion_A": None,
                              "max_early_motion_A": None, "pixel_size_A": None},
               "counts": {}, "warnings": ["a movie named %DATA% or %IMAGE%"],
               "inputs": {"reference": {"path": "/data/%TRAJ%/job002"}}}
    page = build_report([], {}, summary, None)
    assert "<li>a movie named %DATA% or %IMAGE%</li>" in page
    assert "<b>/data/%TRAJ%/job002</b>" in page
    assert page.count('<script id=data type="text/plain">') == 1


def test_a_column_of_numbers_is_each_number_as_the_table_shows_it(number_formatter):
    """The report's columns of floats, formatted in one call, are `_number` of each value:
    4 significant digits, None for NaN and infinities."""
    import sys

    from motioncons.figures.report import _number, _number_column

    rng = np.random.default_rng(4)
    values = [*rng.normal(0, 10.0 ** rng.integers(-9, 9, 300)).tolist(), 0.0, -0.0, 5e-324,
              sys.float_info.max, -sys.float_info.max, float("nan"), float("inf"),
              float("-inf"), 0.00012345, 99995.0, 1e16, 123456.5]
    column = _number_column(values)
    assert column == [_number(value) for value in values]
    assert [math.copysign(1, v) for v in column if v == 0] == [1.0, -1.0]
    assert _number_column([1.5, 2]) == [1.5, 2] and _number_column([]) == []


def test_a_column_of_names_or_whole_numbers_is_kept_as_it_is_and_any_other_value_is_shown():
    """Text and whole numbers go into the table unchanged; a column that mixes in anything
    else is `_number` of each value (a float among ints rounded, NaN as None)."""
    from motioncons.figures.report import _number_column

    names = ["a", "b <i>", ""]
    assert _number_column(names) is names
    assert _number_column([3, 40, 0]) == [3, 40, 0]
    assert _number_column([3, 2.123456, "x", None]) == [3, 2.123, "x", None]
    assert _number_column([True, 1.0, float("nan")]) == [True, 1.0, None]
