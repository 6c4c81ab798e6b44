"""The simulator's trajectories written in every other program's format, as documented in
``shared/reference/`` (no real file of most of these formats is public). Used by the
cross-format tests: the same trajectories in any two formats must compare as identical.

Input trajectories are in the canonical convention (unbinned px, RELION's sign, frame 1 first);
each writer converts to its program's convention (zero frame, units, sign, frame numbering).
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np

from ..outputs.atomic import write_bytes, write_text


def _stem(name: str) -> str:
    return Path(name).name.rsplit(".", 1)[0]


def motioncor_stdout(path: Path, name: str, shifts: np.ndarray, pixel_size: float) -> None:
    """MotionCor2 1.6 standard output: echoed parameters, then the frame-1-zero table."""
    zeroed = shifts - shifts[0]
    rows = "\n".join(f"{i:5d}  {x:9.3f}  {y:9.3f}" for i, (x, y) in enumerate(zeroed, start=1))
    write_text(path, f"-InTiff          {name}\n-PixSize         {pixel_size:.3f}\n"
                     f"-Throw           0\n\nFull-frame alignment has been started.\n\n"
                     f"Full-frame alignment\n  Frame   x Shift   y Shift\n{rows}\n\n")


def motioncor_log(path: Path, shifts: np.ndarray) -> None:
    """A MotionCor2 ``-LogDir`` full-frame log (``<movie>-Patch-Full.log``): the shifts relative
    to the reference frame (here the first), one ``frame x y`` row per frame."""
    zeroed = shifts - shifts[0]
    write_text(path, "# Full-frame alignment shift\n# Frame   x Shift   y Shift\n" + "".join(
        f"{i:4d}  {x:8.2f}  {y:8.2f}\n" for i, (x, y) in enumerate(zeroed, start=1)))


def cryosparc_job(project: Path, names: list[str], trajectories: list[np.ndarray],
                  pixel_size: float, job: str = "J5") -> Path:
    """``J5/exposures.cs`` plus one ``_rigid_traj.npy`` per movie (x negated, central zero)."""
    directory = project / job / "motioncorrected"
    directory.mkdir(parents=True, exist_ok=True)
    width = max(len(n.encode()) for n in names) + 120  # UTF-8 bytes, as cryoSPARC stores them
    dtype = [("uid", "<u8"), ("movie_blob/path", f"S{width}"),
             ("rigid_motion/path", f"S{width}"), ("rigid_motion/frame_start", "<u4"),
             ("rigid_motion/frame_end", "<u4"), ("rigid_motion/zero_shift_frame", "<u4"),
             ("rigid_motion/psize_A", "<f4")]
    rows = []
    for i, (name, shifts) in enumerate(zip(names, trajectories, strict=True)):
        uid = 123456789012345678 + 7919 * i
        centre = len(shifts) // 2
        values = np.column_stack([-(shifts[:, 0] - shifts[centre, 0]),
                                  shifts[:, 1] - shifts[centre, 1]])[None].astype(np.float32)
        relative = f"{job}/motioncorrected/{uid:021d}_{_stem(name)}_rigid_traj.npy"
        buffer = io.BytesIO()
        np.save(buffer, values)
        write_bytes(project / relative, buffer.getvalue())
        rows.append((uid, f"J1/imported/{uid:021d}_{Path(name).name}".encode(),
                     relative.encode(), 0, len(shifts), centre, pixel_size))
    buffer = io.BytesIO()
    np.save(buffer, np.array(rows, dtype=dtype))
    write_bytes(project / job / "exposures.cs", buffer.getvalue())
    return project / job / "exposures.cs"


def warp_xml(path: Path, name: str, shifts: np.ndarray, pixel_size: float,
             utf16: bool = False) -> None:
    """Warp movie XML: one control point per frame, Å, mean-centred."""
    angstrom = (shifts - shifts.mean(axis=0)) * pixel_size
    n = len(shifts)

    def grid(tag: str, values: np.ndarray) -> str:
        nodes = "".join(f'<Node X="0" Y="0" Z="{z}" Value="{v!r}" />' for z, v in
                        enumerate(values.tolist()))
        return (f'<{tag} Width="1" Height="1" Depth="{n}" MarginX="0" MarginY="0" '
                f'MarginZ="0">{nodes}</{tag}>')

    text = (f'<Movie DataDirectory="" MeanFrameMovement="0"><OptionsMovement>'
            f'<Param Name="PixelSizeX" Value="{pixel_size}" />'
            f'<Param Name="Dimensions" Value="{4096 * pixel_size},{4096 * pixel_size},{n}" />'
            f'</OptionsMovement>{grid("GridMovementX", angstrom[:, 0])}'
            f'{grid("GridMovementY", angstrom[:, 1])}</Movie>')
    write_bytes(path, text.encode("utf-16") if utf16 else b"\xef\xbb\xbf" + text.encode())


def xmipp_xmd(path: Path, name: str, shifts: np.ndarray) -> None:
    """FlexAlign ``frameShifts`` (reference frame block first, labels in enum order)."""
    reference = len(shifts) // 2
    zeroed = shifts - shifts[reference]

    def image(i: int) -> str:
        token = f"{i:06d}@{name}"
        return f'"{token}"' if any(c.isspace() for c in token) else token

    rows = "\n".join(f" 1 {image(i)} {x:12.6f} {y:12.6f} 1.000000"
                     for i, (x, y) in enumerate(zeroed, start=1))
    write_text(path, "# XMIPP_STAR_1 *\n#\ndata_referenceFrame\nloop_\n _ref\n"
                     f" {reference}\n\ndata_frameShifts\nloop_\n _enabled\n _image\n _shiftX\n"
                     f" _shiftY\n _weight\n{rows}\n")


def scipion_set(path: Path, names: list[str], trajectories: list[np.ndarray],
                pixel_size: float, zero_first: bool = True, closed: bool = True,
                ids: list[int] | None = None) -> None:
    """A SetOfMovies with MovieAlignment, as pyworkflow's SqliteFlatMapper writes it: shifts
    relative to the first frame unless not `zero_first`, object ids 1.. unless `ids`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE Properties(key TEXT UNIQUE, value TEXT);"
        "CREATE TABLE Classes(id INTEGER PRIMARY KEY AUTOINCREMENT, label_property TEXT UNIQUE,"
        " column_name TEXT UNIQUE, class_name TEXT);"
        "CREATE TABLE Objects(id INTEGER PRIMARY KEY, enabled INTEGER DEFAULT 1, label TEXT,"
        " comment TEXT, creation DATE, c01 TEXT, c02 REAL, c03 TEXT, c04 INTEGER, c05 INTEGER,"
        " c06 TEXT, c07 TEXT);")
    db.executemany("INSERT INTO Properties VALUES (?, ?)",
                   [("self", "SetOfMovies"), ("_size", str(len(names))),
                    ("_streamState", "2" if closed else "1"),
                    ("_samplingRate", str(pixel_size))])
    db.executemany("INSERT INTO Classes(label_property, column_name, class_name) VALUES (?,?,?)",
                   [("self", "c00", "Movie"), ("_filename", "c01", "String"),
                    ("_samplingRate", "c02", "Float"), ("_alignment", "c03", "MovieAlignment"),
                    ("_alignment._first", "c04", "Integer"), ("_alignment._last", "c05",
                                                               "Integer"),
                    ("_alignment._xshifts", "c06", "CsvList"),
                    ("_alignment._yshifts", "c07", "CsvList")])
    for i, name, shifts in zip(ids or range(1, len(names) + 1), names, trajectories,
                               strict=True):
        zeroed = shifts - shifts[0] if zero_first else shifts
        db.execute("INSERT INTO Objects(id, c01, c02, c03, c04, c05, c06, c07) "
                   "VALUES (?,?,?,?,?,?,?,?)",
                   (i, name, pixel_size, None, 1, len(shifts),
                    ",".join(map(str, zeroed[:, 0].tolist())),
                    ",".join(map(str, zeroed[:, 1].tolist()))))
    db.commit()
    db.close()


def imod_xf(path: Path, shifts: np.ndarray) -> None:
    centred = shifts - shifts.mean(axis=0)
    write_text(path, "".join(f" 1.00000    0.00000    0.00000   1.00000  {x:8.3f} {y:8.3f}\n"
                             for x, y in centred))


def cistem_shifts(path: Path, name: str, shifts: np.ndarray, pixel_size: float) -> None:
    """cisTEM unblur shift text: Å, zero at the middle frame (index n/2, 0-based)."""
    angstrom = (shifts - shifts[len(shifts) // 2]) * pixel_size
    write_text(path, f"# X/Y Shifts for file {name}\n"
               + "".join(f"{x:14.5f} {y:14.5f}\n" for x, y in angstrom))
