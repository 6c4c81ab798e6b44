"""Figures: per-movie overlay PNGs per second, and the HTML report at scale.

    python benchmarks/bench_figures.py [--plots 1000] [--report-movies 50000]

1. Overlays: motioncons' renderer in a process pool against a naive matplotlib loop (a new
   figure per movie, as the original protocol draws), in the same run. Budget: >= 100 plots/s.
2. Report: size of report.html for `--report-movies` movies and its first render in headless
   Chromium (time until the table is drawn). Budget: < ~20 MB, < ~3 s.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from motioncons.pipeline import Options, draw_overlays, run
from motioncons.simulation.trajectories import SimulationConfig, write_simulation
from scratch import scratch


def naive_plot(row, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(row.reference_shifts[:, 0], row.reference_shifts[:, 1], "-o", label="reference")
    ax.plot(row.secondary_fitted[:, 0], row.secondary_fitted[:, 1], "-o", label="secondary")
    ax.set_title(f"{row.movie} corr {row.corr:.3f}")
    ax.legend()
    fig.savefig(path)
    plt.close(fig)


def bench_plots(count: int, workdir: Path) -> None:
    info = write_simulation(workdir / "p", SimulationConfig(movies=count, seed=3))
    result = run(info["reference"], info["secondary"], workdir / "out",
                 Options(plots="none", report=False, keep_trajectories=True))
    rows = result.rows
    baseline_rows = rows[:30]
    start = time.perf_counter()
    for row in baseline_rows:
        naive_plot(row, workdir / "naive.png")
    naive = len(baseline_rows) / (time.perf_counter() - start)
    start = time.perf_counter()
    drawn = draw_overlays(workdir / "out", rows, "all")
    ours = drawn / (time.perf_counter() - start)
    print(f"per-movie overlay PNG ({drawn} movies, 2 processes)")
    print(f"  motioncons {ours:,.0f} plots/s   naive matplotlib {naive:,.1f} plots/s "
          f"(1 process)   ratio {ours / naive:,.0f}x   budget >= 100/s")


def bench_report(movies: int, workdir: Path) -> None:
    info = write_simulation(workdir / "big", SimulationConfig(movies=movies, seed=4))
    start = time.perf_counter()
    run(info["reference"], info["secondary"], workdir / "big_out", Options(plots="none"))
    seconds = time.perf_counter() - start
    report = workdir / "big_out" / "report.html"
    size = report.stat().st_size / 1e6
    print(f"report.html for {movies:,} movies: {size:.1f} MB (run incl. report {seconds:.1f} s)"
          "   budget < ~20 MB")
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:
        webdriver = None
    if not (chromium and driver and webdriver):
        print("  first render: skipped (needs Debian's chromium, chromium-driver and selenium)")
        return
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 f"--user-data-dir={workdir / 'profile'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        start = time.perf_counter()
        browser.get(report.as_uri())
        loaded = time.perf_counter() - start
        body = browser.find_element(By.TAG_NAME, "body")
        deadline = time.perf_counter() + 60
        while body.get_attribute("data-first-render-ms") is None:  # drawn after the load event
            assert time.perf_counter() < deadline, "the report's table was never drawn"
            time.sleep(0.05)
        first = float(body.get_attribute("data-first-render-ms"))
        rows = len(browser.find_elements(By.CSS_SELECTOR, "#body tr"))
        start = time.perf_counter()
        browser.find_elements(By.CSS_SELECTOR, "#body tr")[0].click()
        browser.find_element(By.CSS_SELECTOR, "#overlay svg")
        click = time.perf_counter() - start
    finally:
        browser.quit()
    print(f"  headless Chromium: table drawn {first / 1000:.2f} s after navigation "
          f"(page load {loaded:.2f} s, {rows} rows on the first page); first overlay "
          f"{click:.2f} s after the click   budget < ~3 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plots", type=int, default=1000)
    parser.add_argument("--report-movies", type=int, default=50000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    with scratch(args.workdir, "motioncons-bench-figures-") as workdir:
        bench_plots(args.plots, workdir)
        print()
        bench_report(args.report_movies, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
