"""The optional compiled modules (pyproject.toml holds the rest): the reader of RELION's shift
rows, the formatter of columns of floats, the overlays' drawing steps and the
report's trajectory encoder.

``optional=True``: where one cannot be built (no C compiler), motioncons installs without it
and does the same in Python and numpy (`motioncons.compiled`), to the same results."""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("motioncons.formats._relion_rows", ["src/motioncons/formats/_relion_rows.c"],
              optional=True),
    Extension("motioncons.outputs._numbers", ["src/motioncons/outputs/_numbers.c"],
              optional=True),
    # Not contracted into fused multiply-adds: the Python fallback computes the same pixels.
    Extension("motioncons.figures._canvas", ["src/motioncons/figures/_canvas.c"],
              extra_compile_args=["-ffp-contract=off"], optional=True),
    Extension("motioncons.figures._overlay_codec", ["src/motioncons/figures/_overlay_codec.c"],
              optional=True),
])
