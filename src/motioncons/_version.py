"""The installed version, from the package metadata (``pyproject.toml`` is its one source)."""

from importlib.metadata import PackageNotFoundError, version


def installed_version() -> str:
    try:
        return version("motioncons")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"
