"""The installed version, from the package metadata (``pyproject.toml`` is its one source)."""


def installed_version() -> str:
    # Imported when asked: importlib.metadata brings the email package, 4 MB a process.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("motioncons")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"
