"""The ``mien`` command line. It sits on top of the library; the library never imports it.

Every :class:`~mien.errors.MienError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import inspect as pyinspect
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
from .errors import InputError, MienError, MissingDependencyError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help=(
        "Edit facial expressions in portrait photos at full resolution.\n\n"
        "\b\n"
        "  mien transfer neutral.jpg smiling.jpg -o out.jpg        the smile from another shot\n"
        "  mien transfer blink.jpg --eyes shot2.jpg --mouth shot5.jpg -o best.jpg\n"
        "  mien edit photo.jpg -o out.jpg --emotion happy --intensity 0.6\n"
        "  mien edit photo.jpg -o out.jpg --au 12=0.8 --blink 0.5 --yaw 10\n"
        "  mien sweep photo.jpg --emotion surprised -o sheet.png\n"
        "  mien video clip.mp4 -o out.mp4 -k '0s:none, 4s:happy@0.6, 12s:happy@0.6, 13s:none'\n"
        "  mien reenact portrait.jpg --driving talking.mp4 -o animated.mp4\n"
        "  mien batch photos/ --op edit --emotion happy -i 0.5 -o out/   many photos, in parallel\n"
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
    from .api import transfer_files

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


def _parse_aus(values: list[str]) -> dict[str, float]:
    from .controls.registry import parse_aus

    return parse_aus(values)


def _edit(
    photo: Path = typer.Argument(..., help="Photo to edit."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output file; never an input."),
    emotion: Optional[str] = typer.Option(
        None, "--emotion", "-e", help="neutral, happy, sad, angry, surprised, disgusted, fearful or contempt."),
    au: list[str] = typer.Option([], "--au", help="Action Unit intensity, e.g. --au 12=0.8 --au 6=0.4; "
                                                  "12L/12R for the subject's left/right side only."),
    neutralize: bool = typer.Option(False, "--neutralize", help="Remove the current expression."),
    keep_mouth: bool = typer.Option(False, "--keep-mouth", help="Keep the mouth opening (for speech)."),
    expression: Optional[Path] = typer.Option(None, "--expression", help="Apply an expression saved as JSON."),
    save_expression: Optional[Path] = typer.Option(None, "--save-expression",
                                                   help="Save the resulting expression as JSON."),
    reference: Optional[Path] = typer.Option(None, "--reference",
                                             help="Another photo of the same person (mouth interior texture)."),
    face: str = typer.Option("0", "--face", "-f", help="Face number from the left (see `mien inspect`), or 'all'."),
    force: bool = typer.Option(False, "--force", help="Use --reference even if it looks like another person."),
    **controls: float,
) -> None:
    """Change the expression in one photo: emotions, Action Units, sliders, magnify, neutralise.

    Controls add up: --emotion happy --intensity 0.5 --blink 0.3. Left and right are the
    subject's own.
    """
    from .api import edit_files

    try:
        if out is None and save_expression is None:
            raise InputError("give -o OUT for the edited photo (or --save-expression FILE)", param="out")
        t0 = time.perf_counter()
        with _status("editing") as progress:
            written = edit_files(photo, out, reference=reference, save_expression=save_expression,
                                 load_expression=expression, emotion=emotion, au=_parse_aus(au),
                                 neutralize=neutralize, keep_mouth=keep_mouth, face=face, force=force,
                                 progress=progress, **{k: v for k, v in controls.items() if v is not None})
        if written is not None:
            err.print(f"wrote {written} ({time.perf_counter() - t0:.1f} s)", markup=False, highlight=False)
        if save_expression is not None:
            err.print(f"saved expression to {save_expression}", markup=False, highlight=False)
    except MienError as exc:
        _fail(exc)


def _with_registry_options(command):
    """Give ``command`` one option per control of :data:`mien.controls.registry.CONTROLS`:
    the CLI's sliders are generated from the registry, never listed by hand."""
    from .controls.registry import CONTROLS

    params = [p for p in pyinspect.signature(command, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    for c in CONTROLS:
        # magnify and keep mean something only when given: no default value.
        optional = c.kind == "amount" and c.name != "intensity"
        flags = [c.flag] + (["-i"] if c.name == "intensity" else [])
        # No typer range check: the registry's own check gives the one-line error.
        option = typer.Option(None if optional else c.default, *flags, help=f"{c.help} ({c.range_text})")
        params.append(pyinspect.Parameter(c.name, pyinspect.Parameter.KEYWORD_ONLY, default=option,
                                        annotation=Optional[float] if optional else float))

    @functools.wraps(command)
    def wrapper(**kwargs):
        return command(**kwargs)

    wrapper.__signature__ = pyinspect.Signature(params)
    wrapper.__annotations__ = {}
    return wrapper


edit = app.command("edit")(_with_registry_options(_edit))


def _registry_defaults() -> dict[str, float]:
    from .controls.registry import CONTROLS

    return {c.name: c.default for c in CONTROLS}


_DEFAULTS = _registry_defaults()


def _video(
    video: Path = typer.Argument(..., help="Video to edit (.mp4 .mov .mkv .webm ...)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output video (.mp4 .mov .mkv .webm); never an input."),
    keyframes: Optional[str] = typer.Option(
        None, "--keyframes", "-k",
        help="Edits over time, linear between keys: '0s:none, 4s:happy@0.6, 12s:happy@0.6, 13s:none' "
             "(times 4s, 0:04 or 96f; controls joined by +), or a JSON keyframe file."),
    emotion: Optional[str] = typer.Option(
        None, "--emotion", "-e", help="For the whole clip: neutral, happy, sad, angry, surprised, disgusted, "
                                      "fearful or contempt."),
    au: list[str] = typer.Option([], "--au", help="Action Unit intensity for the whole clip, e.g. --au 12=0.8."),
    neutralize: bool = typer.Option(False, "--neutralize", help="Remove the face's own expression (speech kept)."),
    lips: str = typer.Option("auto", "--lips", help="keep: the mouth opens and closes as in the input (lip sync); "
                                                    "free; auto: keep when the clip has audio."),
    smooth: int = typer.Option(1, "--smooth", help="Temporal smoothing radius in frames (0 off, 1 = t-1..t+1)."),
    face: int = typer.Option(0, "--face", "-f", help="Face to follow, numbered from 0 left to right where first seen."),
    passthrough: bool = typer.Option(False, "--passthrough",
                                     help="When no face is found anywhere, write an unchanged copy."),
    quality: Optional[int] = typer.Option(None, "--quality", help="Encoder CRF: lower is better (default 18)."),
    lossless: bool = typer.Option(False, "--lossless", help="Encode losslessly (large files)."),
    codec: Optional[str] = typer.Option(None, "--codec", help="Video encoder: libx264 (default), libx265, "
                                                              "libvpx-vp9, ffv1 ..."),
    **controls: float,
) -> None:
    """Edit the expression of a face through a video: keyframes, sliders, emotions; speech and audio kept.

    Frames where the face is missing, too small or covered are passed through unchanged
    (the edit fades out and back in); a summary says how many and why.
    """
    from .clip import edit_video

    try:
        values = {k: v for k, v in controls.items() if v is not None}
        if keyframes is not None:
            given = [n for n, v in values.items() if v != _DEFAULTS.get(n)] + (["--emotion"] if emotion else []) \
                + (["--au"] if au else []) + (["--neutralize"] if neutralize else [])
            if given:
                raise InputError(f"give either --keyframes or controls for the whole clip ({', '.join(given)}), "
                                 "not both; controls can be keyframed: '4s:happy@0.6+smile=0.2'", param="keyframes")
            values = {}
        else:
            values = {k: v for k, v in values.items() if v != _DEFAULTS.get(k)}
            if emotion:
                values["emotion"] = emotion
                values["intensity"] = controls.get("intensity", 1.0)
            if au:
                values["au"] = _parse_aus(au)
            if neutralize:
                values["neutralize"] = True
        with _frames_bar(f"editing {video.name}") as progress:
            summary = edit_video(video, out, keyframes=keyframes, face=face, lips=lips, smooth=smooth,
                                 passthrough=passthrough, quality=quality, lossless=lossless, codec=codec,
                                 progress=progress, **values)
    except MienError as exc:
        _fail(exc)
    err.print(f"wrote {summary.output}: {summary.text()}", markup=False, highlight=False)


@contextmanager
def _frames_bar(what: str):
    """A progress bar with ETA over frames on stderr (only on a terminal)."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


video = app.command("video")(_with_registry_options(_video))


@app.command()
def reenact(
    source: Path = typer.Argument(..., help="A photo to animate, or a video to re-act."),
    driving: Path = typer.Option(..., "--driving", "-d", help="The video whose expressions drive SOURCE."),
    out: Path = typer.Option(..., "-o", "--out", help="Output video (.mp4 .mov .mkv .webm); never an input."),
    pose: str = typer.Option("keep", "--pose", help="keep SOURCE's head pose, or follow the driving clip's "
                                                    "head turns (within 15 degrees)."),
    audio: bool = typer.Option(True, "--audio/--no-audio",
                               help="Copy the driving clip's audio (photo) or keep the source's (video)."),
    strength: float = typer.Option(1.0, "--strength", "-s", help="Scale of the driving expressions (0 to 2)."),
    face: int = typer.Option(0, "--face", "-f", help="Face of SOURCE to animate, numbered from 0 left to right."),
    smooth: int = typer.Option(1, "--smooth", help="Temporal smoothing radius in frames (0 off)."),
    quality: Optional[int] = typer.Option(None, "--quality", help="Encoder CRF: lower is better (default 18)."),
) -> None:
    """Animate a portrait (or re-act a video) with the expressions of a driving video."""
    from .clip import reenact as run

    try:
        with _frames_bar(f"animating {source.name}") as progress:
            summary = run(source, driving, out, pose=pose, audio=audio, face=face, strength=strength,
                          smooth=smooth, quality=quality, progress=progress)
    except MienError as exc:
        _fail(exc)
    err.print(f"wrote {summary.output}: {summary.text()}", markup=False, highlight=False)


@app.command()
def interpolate(
    a: Path = typer.Argument(..., help="Photo A (t = 0)."),
    b: Path = typer.Argument(..., help="Photo B of the same person, same size (t = 1)."),
    out: Path = typer.Option(..., "-o", "--out",
                             help="One photo (with --at), or .webp/.gif (looping), .mp4, a folder or a "
                                  "pattern like frames/f_%04d.png (a PNG sequence)."),
    at: Optional[float] = typer.Option(None, "--at", help="Write the one in-between at this t in [0, 1]."),
    frames: Optional[int] = typer.Option(None, "--frames", "-n", help="Frames from A to B inclusive (default 24)."),
    fps: float = typer.Option(24.0, "--fps", help="Frames per second of an animation or video."),
    face: Optional[int] = typer.Option(None, "--face", "-f", help="Face number from the left (default: the largest)."),
    force: bool = typer.Option(False, "--force", help="Interpolate even if the faces look like different people."),
) -> None:
    """In-betweens of two photos (or video frames) of the same person.

    Expression and head pose move from A to B; both photos are warped to each in-between
    and blended where each is seen best. t = 0 is A and t = 1 is B, pixel for pixel.
    """
    from .controls.interpolate import interpolate_files

    try:
        t0 = time.perf_counter()
        with _status("interpolating") as progress, _frames_bar("in-betweens") as bar:
            written = interpolate_files(a, b, out, at=at, frames=frames, fps=fps, face=face, force=force,
                                        progress=progress, frame_done=bar)
        err.print(f"wrote {written} ({time.perf_counter() - t0:.1f} s)", markup=False, highlight=False)
    except MienError as exc:
        _fail(exc)


@app.command()
def sweep(
    photo: Path = typer.Argument(..., help="Photo to edit."),
    emotion: str = typer.Option(..., "--emotion", "-e", help="The emotion to sweep."),
    out: Path = typer.Option(..., "-o", "--out", help="Contact sheet to write (.png or .jpg)."),
    steps: int = typer.Option(11, "--steps", help="Number of intensities from 0 to 1."),
    face: str = typer.Option("0", "--face", "-f", help="Face number from the left."),
) -> None:
    """Write a contact sheet of an emotion at intensities 0, 0.1, ..., 1."""
    import numpy as np

    from .api import sweep as run_sweep
    from .evaluation.sheet import contact_sheet, face_box, tile
    from .io import check_output_path, write_photo
    from .session import Session

    try:
        check_output_path(out, [photo])
        with _status(f"sweeping {emotion}") as progress:
            session = Session.open(photo, progress=progress)
            frames = run_sweep(session, emotion, steps, face)
        box = face_box(session.choose(face)[0].face, 0.8, 1.0)
        tiles = [tile(fr, 240, box) for fr in frames]
        per_row = 6
        rows = [tiles[i:i + per_row] for i in range(0, len(tiles), per_row)]
        labels = [" ".join(f"{t:.1f}" for t in np.linspace(0, 1, steps)[i:i + per_row])
                  for i in range(0, len(tiles), per_row)]
        write_photo(out, contact_sheet(rows, [], labels), protect=[photo])
    except MienError as exc:
        _fail(exc)
    err.print(f"wrote {out}", markup=False, highlight=False)


@app.command()
def inspect(
    photo: Path = typer.Argument(..., help="Photo to analyse."),
    out: Path = typer.Option(..., "-o", "--out", help="Overlay image to write (.png or .jpg)."),
) -> None:
    """Draw what mien sees: landmarks, regions, head-pose axes and face numbers."""
    from .detect import analyze
    from .evaluation.overlay import overlay
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


@app.command("best-take")
def best_take(
    shots: list[Path] = typer.Argument(..., help="Two or more shots of the same group taken moments apart."),
    out: Path = typer.Option(..., "-o", "--out", help="Output file (.jpg .png .webp .tif .heic); never an input."),
    base: Optional[int] = typer.Option(None, "--base", help="Build on this shot (numbered from 0 in the order "
                                                            "given); by default the one needing fewest changes."),
    explain: Optional[Path] = typer.Option(None, "--explain", help="Also write an overlay: where each face came "
                                                                    "from and its scores per shot."),
) -> None:
    """Group photo with every face at its best: open eyes, looking at the camera, smiling.

    Faces are paired across shots; each face better in another shot is taken from there
    (all of it, or eyes and mouth from different shots). Everything else is the base shot,
    bit for bit. A report says which face came from where and why.
    """
    from .controls.best_take import best_take as combine, explain as draw
    from .io import check_output_path, read_photo, write_photo
    from .session import Session

    try:
        check_output_path(out, list(shots))
        if explain is not None:
            check_output_path(explain, list(shots))
        if len(shots) < 2:
            raise InputError(f"best-take needs at least two shots of the same group, got {len(shots)}",
                             param="shots", allowed="2 or more photos")
        t0 = time.perf_counter()
        with _status("best take") as progress:
            photos = [read_photo(p) for p in shots]
            sessions = [Session(ph, name=f"shot {i} ({p.name})") for i, (ph, p) in enumerate(zip(photos, shots))]
            pixels, report = combine(sessions, base=base, progress=progress)
        base_index = report[0]["base"]
        write_photo(out, pixels, like=photos[base_index], protect=list(shots))
        if explain is not None:
            write_photo(explain, draw(pixels, report, [s.face for s in sessions[base_index].faces]),
                        protect=list(shots))
    except MienError as exc:
        _fail(exc)
    print(f"base shot {base_index} ({shots[base_index].name})", flush=True)
    for r in report:
        if r["face"] is None:
            print(f"person {r['person']}: {r['reason']}", flush=True)
        elif r["regions"]:
            parts = ", ".join(f"{region} from shot {s} ({shots[s].name})" for region, s in r["regions"].items())
            print(f"face {r['face']}: {parts}: {r['reason']}", flush=True)
        else:
            print(f"face {r['face']}: kept ({r['reason']})", flush=True)
    err.print(f"wrote {out}" + (f" and {explain}" if explain else "") + f" ({time.perf_counter() - t0:.1f} s)",
              markup=False, highlight=False)


def _batch(
    source: Path = typer.Argument(..., help="A job file (.csv, one job per row) or a folder of photos or clips."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for the outputs (made if missing); the summary "
                                                     "goes to OUT/mien-batch.csv."),
    op: str = typer.Option("edit", "--op", help="edit, transfer or video (a job file's 'op' column may "
                                                "choose per row)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Worker processes (default: one per "
                                                                        "core, fewer if memory is short)."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run on Ray: 'local' starts a cluster here, 'auto' "
                                                          "joins this machine's, or an address such as "
                                                          "ray://head:10001 (needs mien[ray] on every node)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo jobs whose output exists (default: skip "
                                                              "complete outputs, so a rerun resumes)."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Where to write the summary CSV."),
    emotion: Optional[str] = typer.Option(None, "--emotion", "-e", help="edit/video: the emotion to show."),
    au: list[str] = typer.Option([], "--au", help="edit/video: Action Unit intensity, e.g. --au 12=0.8."),
    neutralize: bool = typer.Option(False, "--neutralize", help="edit/video: remove the current expression."),
    keep_mouth: bool = typer.Option(False, "--keep-mouth", help="edit: keep the mouth opening."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="edit: another photo of the person "
                                                                       "(mouth interior)."),
    expression: Optional[Path] = typer.Option(None, "--expression",
                                              help="transfer: the expression photo put on every photo; "
                                                   "edit: a saved expression (JSON)."),
    regions: Optional[str] = typer.Option(None, "--regions", "-r", help="transfer: what --expression gives: mouth, "
                                                                           "eyes, brows, all or a list (a job "
                                                                           "file can take each from another "
                                                                           "photo)."),
    strength: Optional[float] = typer.Option(None, "--strength", "-s", help="transfer: 0 to 1."),
    face: Optional[str] = typer.Option(None, "--face", "-f", help="Face number from the left, or 'all' (photos)."),
    force: bool = typer.Option(False, "--force", help="edit/transfer: skip the same-person check."),
    keyframes: Optional[str] = typer.Option(None, "--keyframes", "-k", help="video: keyframes text or a JSON "
                                                                            "file."),
    lips: Optional[str] = typer.Option(None, "--lips", help="video: keep, free or auto."),
    smooth: Optional[int] = typer.Option(None, "--smooth", help="video: smoothing radius in frames."),
    passthrough: bool = typer.Option(False, "--passthrough", help="video: copy clips with no face unchanged."),
    quality: Optional[int] = typer.Option(None, "--quality", help="video: encoder CRF."),
    **controls: float,
) -> None:
    """Run many edits, transfers or video edits: in parallel here, or on a Ray cluster.

    \b
    mien batch photos/ --op edit --emotion happy -i 0.5 -o out/
    mien batch jobs.csv -o out/ -j 2          (columns: op, photo|pose|video, expression, output, options...)
    mien batch shots/ --op transfer --expression smile.jpg -o out/
    mien batch clips/ --op video -k '0s:none, 2s:happy@0.6' -o out/ --ray local

    A rerun skips outputs that are complete; one failure never stops the rest; every job
    is listed with its status, time and message in the summary CSV.
    """
    from .batch import run

    given = {"emotion": emotion, "au": _parse_aus(au) if au else None, "neutralize": neutralize or None,
             "keep_mouth": keep_mouth or None, "reference": reference, "expression": expression, "regions": regions, "strength": strength, "face": face,
             "force": force or None, "keyframes": keyframes, "lips": lips, "smooth": smooth,
             "passthrough": passthrough or None, "quality": quality}
    options = {k: v for k, v in given.items() if v is not None}
    options.update({k: v for k, v in controls.items() if v is not None and v != _DEFAULTS.get(k)})
    if emotion and "intensity" not in options:
        options["intensity"] = controls.get("intensity", 1.0)
    try:
        with _jobs_bar() as progress:
            report = run(source, out, op=op, workers=workers, ray=ray, overwrite=overwrite, summary=summary,
                         progress=progress, **options)
    except MienError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print(f"interrupted; finished outputs are kept and listed in {summary or out / 'mien-batch.csv'}: "
                  "run the same command again to resume", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    for outcome in report.failed[:20]:
        err.print(f"failed: {outcome.job.name}: {outcome.message}", markup=False, highlight=False, soft_wrap=True)
    if len(report.failed) > 20:
        err.print(f"... and {len(report.failed) - 20} more failures", markup=False, highlight=False)
    err.print(f"{report.text()}; summary: {report.summary}", markup=False, highlight=False)
    if report.failed:
        raise typer.Exit(1)


@contextmanager
def _jobs_bar():
    """A progress bar with ETA over jobs on stderr (only on a terminal)."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("batch", total=None)
        failed = skipped = 0

        def update(done: int, total: int, outcome) -> None:
            nonlocal failed, skipped
            failed += outcome.status == "failed"
            skipped += outcome.status == "skipped"
            # Jobs skipped by a resume take no time: they leave the bar (and its ETA) out.
            bar.update(task, completed=done - skipped, total=total - skipped,
                       description=f"batch ({failed} failed)" if failed else "batch")

        yield update


batch = app.command("batch")(_with_registry_options(_batch))


@app.command()
def demo(
    out: Path = typer.Option(Path("mien-demo"), "-o", "--out", help="Folder for the results."),
) -> None:
    """Run transfers and edits on the bundled sample photos; write results and a contact sheet."""

    from .controls import Burst, Request, Shot
    from .evaluation.sheet import contact_sheet, face_box, tile
    from .io import read_photo, write_photo
    from .session import Session

    out.mkdir(parents=True, exist_ok=True)
    samples = resources.files("mien").joinpath("data/samples")
    people = sorted({p.name.rsplit("-", 1)[0] for p in samples.iterdir() if p.name.endswith(".jpg")})
    rows, names = [], []
    cases = (("all", 1.0), ("mouth", 1.0), ("eyes", 1.0), ("all", 0.5))
    edits = (("happy", 0.8), ("surprised", 0.7))
    try:
        for person in people:
            with resources.as_file(samples.joinpath(f"{person}-neutral.jpg")) as p_path, \
                    resources.as_file(samples.joinpath(f"{person}-happy.jpg")) as e_path:
                pose, expr = read_photo(p_path), read_photo(e_path)
            session = Session(pose, name=f"sample {person}-neutral.jpg")
            shot = Session(expr, name=f"sample {person}-happy.jpg")
            box = face_box(session.choose(0)[0].face, 0.8, 1.0, 1.2)
            row = [tile(pose.pixels, 320, box), tile(expr.pixels, 320, face_box(shot.choose(0)[0].face, 0.8, 1.0, 1.2))]
            for regions, strength in cases:
                t0 = time.perf_counter()
                with _status(f"{person}: {regions} at strength {strength}"):
                    result = session.render(Burst((Shot(shot, regions),), strength))
                name = out / f"{person}-{regions}-{int(strength * 100)}.jpg"
                write_photo(name, result, like=pose)
                err.print(f"wrote {name} ({time.perf_counter() - t0:.1f} s)", markup=False, highlight=False)
                row.append(tile(result, 320, box))
            for emotion, amount in edits:
                t0 = time.perf_counter()
                with _status(f"{person}: {emotion} {amount}"):
                    result = session.render(Request.from_controls(emotion=emotion, intensity=amount))
                name = out / f"{person}-{emotion}-{int(amount * 100)}.jpg"
                write_photo(name, result, like=pose)
                err.print(f"wrote {name} ({time.perf_counter() - t0:.1f} s)", markup=False, highlight=False)
                row.append(tile(result, 320, box))
            rows.append(row)
            names.append(person)
    except MienError as exc:
        _fail(exc)
    sheet = contact_sheet(rows, ["pose photo", "expression photo", "transfer: all", "mouth only", "eyes only",
                                 "all, strength 0.5", "edit: happy 0.8", "surprised 0.7"], names)
    path = out / "contact-sheet.png"
    write_photo(path, sheet)
    err.print(f"contact sheet: {path}", markup=False, highlight=False)
    err.print("Sample photos: Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0.",
              markup=False, highlight=False)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but localhost exposes "
                                                         "the app to your network."),
    port: int = typer.Option(7860, "--port", help="Port to listen on."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    max_sessions: int = typer.Option(32, "--max-sessions", help="Photos kept in memory (least recently used "
                                                               "dropped first; more while in use, up to 4x)."),
    workers: int = typer.Option(2, "--workers", help="Threads for uploads and full-resolution renders."),
) -> None:
    """Run the local web app: live sliders, burst picker, video jobs, on an HTTP API (docs at /docs)."""
    try:
        import uvicorn

        from .web import create_app

        local = host in ("127.0.0.1", "localhost", "::1")
        application = create_app(max_sessions=max_sessions, workers=workers,
                                 allowed_hosts=None if not local else ("127.0.0.1", "localhost", "::1", "[::1]"))
    except ImportError:
        _fail(MissingDependencyError("the web app needs the web extra: pip install 'mien[web]'"))
    except MienError as exc:
        _fail(exc)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if not local:
        err.print(f"mien: listening on {host}: anyone who can reach this machine can use the app",
                  markup=False, highlight=False)
    err.print(f"mien web app at {url} (Ctrl+C stops it)", markup=False, highlight=False)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.callback(invoke_without_command=True)
def _main(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what mien does."),
) -> None:
    if version:
        print(f"mien {__version__}")
        raise typer.Exit()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


def _stop(_signum, _frame):
    raise KeyboardInterrupt


def main() -> None:
    """Entry point of the ``mien`` script."""
    import signal

    # `kill` (or a cancelled CI job) stops like Ctrl-C: partial outputs are removed, a
    # batch's workers stop and its summary is kept.
    signal.signal(signal.SIGTERM, _stop)
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted; nothing was written", markup=False)
        sys.exit(130)
