"""The optional compiled reader of RELION's shift rows (pyproject.toml holds the rest).

``optional=True``: where it cannot be built (no C compiler), motioncons installs without it
and reads the rows with numpy (`motioncons.formats.fixed_columns`), to the same floats."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("motioncons.formats._relion_rows",
                             ["src/motioncons/formats/_relion_rows.c"], optional=True)])
