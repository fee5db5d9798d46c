"""The ``mien`` command line. It sits on top of the library; the library never imports it.

Every :class:`~mien.errors.MienError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import __version__
from .errors import InputError, MienError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help=(
        "Edit facial expressions in portrait photos at full resolution.\n\n"
        "\b\n"
        "  mien transfer neutral.jpg smiling.jpg -o out.jpg        the smile from another shot\n"
        "  mien transfer blink.jpg --eyes shot2.jpg --mouth shot5.jpg -o best.jpg\n"
        "  mien inspect photo.jpg -o overlay.png                   what mien sees\n"
        "  mien demo                                              try it on bundled photos\n\n"
        "Left and right always mean the subject's left and right."
    ),
)
err = Console(stderr=True)


@contextmanager
def _status(message: str):
    """A spinner with the current stage on stderr (only on a terminal)."""
    if not err.is_terminal:
        yield lambda _msg: None
        return
    with err.status(message) as status:
        yield lambda msg: status.update(f"{message}: {msg}")


def _fail(exc: Exception) -> None:
    err.print(f"mien: error: {exc}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def transfer(
    pose: Path = typer.Argument(..., help="Photo to edit: keeps its head pose, light and background."),
    expression: Optional[Path] = typer.Argument(
        None, help="Photo of the same person with the wanted expression."),
    out: Path = typer.Option(..., "-o", "--out", help="Output file (.jpg .png .webp .tif .heic); never an input."),
    regions: str = typer.Option("all", "--regions", "-r",
                                help="What EXPRESSION gives: mouth, eyes, brows, all, or a list: mouth,eyes."),
    eyes: Optional[Path] = typer.Option(None, "--eyes", help="Take the eyes from this photo."),
    mouth: Optional[Path] = typer.Option(None, "--mouth", help="Take the mouth from this photo."),
    brows: Optional[Path] = typer.Option(None, "--brows", help="Take the brows from this photo."),
    strength: float = typer.Option(1.0, "--strength", "-s", min=0.0, max=1.0,
                                   help="0 keeps the photo as it is, 1 the full expression."),
    face: str = typer.Option("0", "--face", "-f",
                             help="Face to edit, numbered from 0 left to right (see `mien inspect`), or 'all'."),
    force: bool = typer.Option(False, "--force", help="Edit even if the faces look like different people."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="Align texture seams with optical flow."),
) -> None:
    """Put the expression of one photo on another photo of the same person.

    Regions can come from different photos in one call: --eyes shot2.jpg --mouth shot5.jpg.
    """
    from .transfer import transfer_files

    sources: dict[str, Path] = {}
    if expression is not None:
        sources[regions] = expression
    for name, path in (("eyes", eyes), ("mouth", mouth), ("brows", brows)):
        if path is not None:
            sources[name] = path
    try:
        if not sources:
            raise InputError("give an EXPRESSION photo, or --eyes/--mouth/--brows photos")
        t0 = time.perf_counter()
        with _status("transferring") as progress:
            written = transfer_files(pose, sources if len(sources) > 1 or expression is None else expression,
                                     out, regions=regions, strength=strength, face=face, force=force,
                                     refine=refine, progress=progress)
        err.print(f"wrote {written} ({time.perf_counter() - t0:.1f} s)", markup=False, highlight=False)
    except MienError as exc:
        _fail(exc)


@app.command()
def inspect(
    photo: Path = typer.Argument(..., help="Photo to analyse."),
    out: Path = typer.Option(..., "-o", "--out", help="Overlay image to write (.png or .jpg)."),
) -> None:
    """Draw what mien sees: landmarks, regions, head-pose axes and face numbers."""
    from .face import analyze
    from .inspect import overlay
    from .io import check_output_path, read_photo, write_photo

    try:
        check_output_path(out, [photo])
        pic = read_photo(photo)
        with _status("analysing"):
            faces = analyze(pic.pixels)
        write_photo(out, overlay(pic.pixels, faces), protect=[photo])
    except MienError as exc:
        _fail(exc)
    if not faces:
        err.print(f"no face found in {photo}; wrote {out} unchanged", markup=False, highlight=False)
        return
    for f in faces:
        yaw, pitch, roll = f.pose.angles
        print(f"face {f.index}: {f.size:.0f} px wide at ({f.centre[0]:.0f}, {f.centre[1]:.0f}), "
              f"yaw {yaw:+.0f} pitch {pitch:+.0f} roll {roll:+.0f} degrees, confidence {f.score:.2f}", flush=True)
    err.print(f"wrote {out}", markup=False, highlight=False)


@app.command()
def demo(
    out: Path = typer.Option(Path("mien-demo"), "-o", "--out", help="Folder for the results."),
) -> None:
    """Run transfers on the bundled sample photos and write results and a contact sheet."""
    import cv2

    from .face import analyze
    from .io import read_photo, write_photo
    from .sheet import contact_sheet, tile
    from .transfer import transfer as run

    out.mkdir(parents=True, exist_ok=True)
    samples = resources.files("mien").joinpath("data/samples")
    people = sorted({p.name.rsplit("-", 1)[0] for p in samples.iterdir() if p.name.endswith(".jpg")})
    rows, names = [], []
    cases = (("all", 1.0), ("mouth", 1.0), ("eyes", 1.0), ("all", 0.5))
    try:
        for person in people:
            with resources.as_file(samples.joinpath(f"{person}-neutral.jpg")) as p_path, \
                    resources.as_file(samples.joinpath(f"{person}-happy.jpg")) as e_path:
                pose, expr = read_photo(p_path), read_photo(e_path)
            row = []
            f = analyze(pose.pixels)[0]
            c, half = f.centre, 0.8 * f.size
            box = (c[0] - half, c[1] - half, c[0] + half, c[1] + half * 1.2)
            fe = analyze(expr.pixels)[0]
            ce, he = fe.centre, 0.8 * fe.size
            row += [tile(pose.pixels, 320, box), tile(expr.pixels, 320, (ce[0] - he, ce[1] - he, ce[0] + he, ce[1] + he * 1.2))]
            for regions, strength in cases:
                t0 = time.perf_counter()
                with _status(f"{person}: {regions} at strength {strength}"):
                    result = run(pose.pixels, expr.pixels, regions=regions, strength=strength)
                name = out / f"{person}-{regions}-{int(strength * 100)}.jpg"
                write_photo(name, result, like=pose)
                err.print(f"wrote {name} ({time.perf_counter() - t0:.1f} s)", markup=False, highlight=False)
                row.append(tile(result, 320, box))
            rows.append(row)
            names.append(person)
    except MienError as exc:
        _fail(exc)
    sheet = contact_sheet(rows, ["pose photo", "expression photo", "mien: all", "mouth only", "eyes only",
                                 "all, strength 0.5"], names)
    path = out / "contact-sheet.png"
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    err.print(f"contact sheet: {path}", markup=False, highlight=False)
    err.print("Sample photos: Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0.",
              markup=False, highlight=False)


@app.callback(invoke_without_command=True)
def _main(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what mien does."),
) -> None:
    if version:
        print(f"mien {__version__}")
        raise typer.Exit()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


def main() -> None:
    """Entry point of the ``mien`` script."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted; nothing was written", markup=False)
        sys.exit(130)
