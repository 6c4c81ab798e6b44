"""Driving a real Scipion project: the producer protocol, the consensus protocol, waiting."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from pyworkflow.project import Manager
from pyworkflow.protocol import getProtocolFromDb

_PROJECTS = 0


def new_project(prefix: str):
    """A project in the temporary SCIPION_USER_DATA; the working folder becomes its folder, as
    pyworkflow's relative paths expect."""
    global _PROJECTS
    _PROJECTS += 1
    project = Manager().createProject(f"{prefix}_{os.getpid()}_{_PROJECTS}")
    os.chdir(project.getPath())
    return project


def movies_json(path: Path, trajectories: list[tuple[int, str, np.ndarray]],
                sampling: float = 1.0) -> str:
    path.write_text(json.dumps({"sampling": sampling, "movies": [
        {"id": i, "name": name, "x": shifts[:, 0].tolist(), "y": shifts[:, 1].tolist()}
        for i, name, shifts in trajectories]}))
    return str(path)


def producer(project, data: str, batch: int = 0, delay: float = 0.0, start_delay: float = 0.0):
    from motioncons_test_producer.protocols import ProtProduceAlignedMovies

    return project.newProtocol(ProtProduceAlignedMovies, dataFile=data, batchSize=batch,
                               delaySeconds=delay, startDelaySeconds=start_delay)


def consensus(project, reference, secondary, **values):
    from motioncons_scipion.protocols import ProtMotionconsConsensus

    protocol = project.newProtocol(ProtMotionconsConsensus, **values)
    protocol.inputMovies1.set(reference)
    protocol.inputMovies1.setExtended("outputMovies")
    protocol.inputMovies2.set(secondary)
    protocol.inputMovies2.setExtended("outputMovies")
    return protocol


LAUNCHED: list = []


def launch(project, protocol, wait: bool = True):
    errors = protocol.validate()
    assert not errors, errors
    LAUNCHED.append((project, protocol))
    project.launchProtocol(protocol, wait=wait)
    return protocol


def as_stored(project, protocol):
    """`protocol` as its run process last stored it (its own run database), no file left open."""
    current = getProtocolFromDb(project.getPath(), protocol.getDbPath(), protocol.getObjId())
    current.getProject().closeMapper()
    current.closeMappers()
    return current


def stop_launched() -> None:
    """Stop every protocol a test launched that still runs (a failed test leaves none)."""
    while LAUNCHED:
        project, protocol = LAUNCHED.pop()
        current = as_stored(project, protocol)
        if current.isActive():
            project.stopProtocol(current)


def wait_for(project, protocol, condition, timeout: float = 120.0):
    """Poll `protocol` (`as_stored`) until `condition(protocol)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        current = as_stored(project, protocol)
        if condition(current):
            return current
        if current.isFailed():
            raise AssertionError(f"{current.getRunName()} failed: {current.getErrorMessage()}")
        assert time.monotonic() < deadline, f"timed out waiting for {current.getRunName()}"
        time.sleep(0.2)


def wait_for_outputs(project, protocol, timeout: float = 120.0):
    """Wait until `protocol` has registered ``outputMovies``, and bring that into the project's
    database (what the GUI's refresh does), where a protocol launched next finds it."""
    wait_for(project, protocol, lambda p: p.hasAttribute("outputMovies"), timeout)
    current = project.getProtocol(protocol.getObjId())
    project._updateProtocol(current)
    return project.getProtocol(protocol.getObjId())
