from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from motioncons.cli import main


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "motioncons.cli", *map(str, args)],
                          capture_output=True, text=True, check=False)


def test_demo_runs_and_prints_a_summary(tmp_path, capsys):
    assert main(["demo", str(tmp_path), "--movies", "60"]) == 0
    out = capsys.readouterr().out
    assert "paired movies" in out and "accepted" in out and "ground truth" in out
    summary = json.loads((tmp_path / "consensus" / "summary.json").read_text())
    assert summary["counts"]["paired"] == 60


def test_simulate_then_run_then_inspect(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "p"), "--movies", "30", "--seed", "2"]) == 0
    job = tmp_path / "p" / "MotionCorr" / "job002"
    assert main(["inspect", str(job)]) == 0
    out = capsys.readouterr().out
    assert "relion corrected_micrographs.star" in out and "30 readable" in out
    assert main(["run", str(job), str(tmp_path / "p/MotionCorr/job003"), "-o",
                 str(tmp_path / "out"), "--min-corr", "0.8", "--max-rmse", "1.5",
                 "--fit", "rigid"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["parameters"]["min_corr"] == 0.8
    assert summary["parameters"]["max_rmse_A"] == 1.5
    assert summary["parameters"]["fit"] == "rigid"


def test_inspect_reports_problems(relion5, capsys):
    assert main(["inspect", str(relion5)]) == 0
    out = capsys.readouterr().out
    assert "3 readable, 21 with problems" in out and "missing_metadata 21" in out


@pytest.mark.parametrize("make", ["missing", "empty", "truncated", "nopairs"])
def test_errors_are_one_line_with_exit_1(tmp_path, make, relion5):
    good = tmp_path / "good.csv"
    good.write_text("movie,frame,x,y\n" + "".join(f"a,{f},{f},0\n" for f in range(1, 6)))
    bad = tmp_path / "corrected_micrographs.star"
    if make == "empty":
        bad.write_text("")
    elif make == "truncated":
        text = (relion5 / "corrected_micrographs.star").read_text()
        bad.write_text(text[: text.rindex("MotionCorr/job002/Movies/20170629_00049") + 40])
    elif make == "nopairs":
        bad = relion5
    else:
        bad = tmp_path / "does_not_exist"
    result = _cli("run", bad, good, "-o", tmp_path / "out")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("motioncons: error: ")
    assert str(bad) in lines[0] or make == "nopairs"


def test_usage_errors_exit_2(tmp_path):
    assert _cli("run", "a").returncode == 2
    assert _cli("run", "a", "b", "-o", tmp_path, "--fit", "affine").returncode == 2
    result = _cli("run", tmp_path, tmp_path, "-o", tmp_path / "o", "--min-corr", "3")
    assert result.returncode == 2 and "--min-corr" in result.stderr


def test_quiet_run_prints_nothing(relion31, relion5, tmp_path):
    result = _cli("run", relion31, relion5, "-o", tmp_path, "--quiet")
    assert result.returncode == 0 and result.stdout == ""


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "motioncons", "--version"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("motioncons ")


def test_the_program_ends_with_its_output_flushed_and_exit_handlers_run(relion31, relion5,
                                                                      tmp_path):
    """`entry` ends the process without the interpreter's teardown: what a command printed
    still reaches a pipe, exit handlers still run, and the status is the command's."""
    marker = tmp_path / "handler ran"
    program = ("import atexit, pathlib, sys\n"
               "from motioncons import cli\n"
               f"atexit.register(pathlib.Path({str(marker)!r}).touch)\n"
               "sys.argv[1:] = sys.argv[2:]\n"
               "cli.entry()\n")
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run([sys.executable, "-c", program, "-", "run", str(relion31),
                           str(relion5), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, check=False, env=buffered)
    assert done.returncode == 0, done.stderr
    assert marker.exists()
    assert "accepted" in done.stdout and done.stdout.endswith("\n")
    assert (tmp_path / "o" / "consensus.csv").exists()
    failed = subprocess.run([sys.executable, "-m", "motioncons", "run", str(tmp_path / "none"),
                             str(relion5), "-o", str(tmp_path / "p")],
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 1 and "no such file or directory" in failed.stderr


def test_main_in_a_process_keeps_nothing(relion31, relion5, tmp_path):
    from motioncons import cli

    assert cli.main(["run", str(relion31), str(relion5), "-o", str(tmp_path), "--quiet"]) == 0
    assert cli._OUTLIVING is None  # only `entry`, which ends the process, keeps results


def test_output_piped_into_a_closed_reader_exits_quietly(relion31, relion5, tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "motioncons", "run", str(relion31),
                                str(relion5), "-o", str(tmp_path / "o")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head -0` does
    _, error = process.communicate(timeout=120)
    assert process.returncode == 0, error
    assert b"Traceback" not in error and b"BrokenPipe" not in error


def _parsers():
    from motioncons.cli import build_parser
    from motioncons.integrations.relion_external import build_parser as external

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    return [("motioncons", parser), *subparsers.choices.items(), ("relion-external", external())]


def test_every_option_has_help_and_shows_its_default():
    for name, parser in _parsers():
        formatter = parser.formatter_class(prog=parser.prog)
        for action in parser._actions:
            if not action.option_strings or action.dest in ("help", "version"):
                continue
            assert action.help, (name, action.option_strings)
            shown = formatter._get_help_string(action)
            if action.default not in (None, False, True) and not action.required:
                assert "default" in shown, (name, action.option_strings, shown)
            assert len(action.option_strings) == len(set(action.option_strings)), action


def test_run_and_watch_have_the_same_consensus_options():
    parsers = dict(_parsers())
    run_options = {o for a in parsers["run"]._actions for o in a.option_strings}
    watch_options = {o for a in parsers["watch"]._actions for o in a.option_strings}
    assert run_options <= watch_options


def test_the_package_version_is_read_when_asked_and_the_command_line_loads_no_unused_library():
    import motioncons
    from motioncons._version import installed_version

    assert motioncons.__version__ == installed_version() != ""
    with pytest.raises(AttributeError):
        motioncons.no_such_name  # noqa: B018
    # Loaded by every run before its peak, for nothing there: 4 MB each (the email package,
    # OpenSSL's library).
    code = ("import sys, motioncons.cli; "
            "print(sorted({'importlib.metadata', '_hashlib'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
