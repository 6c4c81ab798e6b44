"""Worker processes die with their parent, whatever ends it: SIGKILL while plots render."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from motioncons.simulation.trajectories import SimulationConfig, write_simulation

from .processes import MARKER, marked, wait_until_gone


def test_sigkill_of_run_while_plots_render_leaves_no_worker(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=1500, seed=12))
    marker = f"workers-{os.getpid()}-{time.monotonic_ns()}"
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "motioncons", "run", str(info["reference"]),
         str(info["secondary"]), "-o", str(out), "--plots", "all", "-j", "2", "--quiet"],
        env={**os.environ, MARKER: marker})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "plots").is_dir() and len(os.listdir(out / "plots")) >= 20:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before its plots were being drawn"
    workers = [pid for pid, _ in marked(marker) if pid != process.pid]
    assert workers, "no worker process was running"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert wait_until_gone(marker, 10.0) == []
