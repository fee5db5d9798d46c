"""Batch work: many photo edits, transfers or video edits, in parallel processes or on Ray.

A batch is a list of :class:`Job`\\ s, read from a job file (CSV, one job per row) or made
from a folder (one set of options applied to every photo or clip in it), and run by
:func:`run_batch`:

- in worker processes on this machine (default: one per CPU core, fewer if memory is
  short), or on a Ray cluster (``ray="local"`` starts one here, ``"auto"`` joins the
  cluster this machine belongs to, ``"ray://host:10001"`` a remote one). On Ray the input
  files travel through the object store and the output comes back as bytes written here,
  so the nodes need mien installed but no shared storage; the result files are the
  same bytes as a local run's.
- resumable: a job whose output exists and is a complete, readable file is skipped
  (outputs are written atomically, so a file under its final name was finished);
  ``overwrite=True`` redoes every job.
- one failing job never stops the rest: it is reported with its one-line message. A worker
  process that dies (out of memory, a crash) is replaced; the jobs it was running are
  retried once, each alone, and reported as failed if they kill a worker again.
- every job ends in the summary (:class:`BatchReport`, written as a CSV): status ``done``,
  ``skipped`` or ``failed``, seconds and message.

Job files
---------
A CSV with a header row. Columns (an empty cell means "not set"):

- ``op`` (optional): ``edit``, ``transfer`` or ``video``; default: the batch's op.
- the inputs, relative to the job file's folder: ``photo`` for ``edit``; ``pose`` and
  ``expression`` (and/or ``eyes``, ``mouth``, ``brows``) for ``transfer``; ``video`` for
  ``video``. ``input`` is accepted for the first of these. ``reference`` (edit: mouth
  texture) and ``expression`` (edit: a saved expression, JSON) are files too.
- ``output`` (optional): relative to the output folder; default: the input's file name.
- any option of the op, named as the Python argument (``intensity``, ``gaze_x``,
  ``keep_mouth``, ``keyframes``): the CLI's flag without the dashes, ``-`` as ``_``.
  ``au`` is written ``12=0.8 6=0.4``; yes/no options take ``true``/``false``.
  Options the batch was given apply to every row that does not set them.
"""

from __future__ import annotations

import csv
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import InputError, MienError, MissingDependencyError

log = logging.getLogger(__name__)

OPS = ("edit", "transfer", "video")

#: Photo types a folder batch picks up (those mien can also write, so an output keeps its
#: input's type).
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif")
#: Video types a folder batch picks up.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")

#: Per op: the column naming the main input, then the other file inputs.
_FILES = {
    "edit": ("photo", "reference", "expression"),
    "transfer": ("pose", "expression", "eyes", "mouth", "brows"),
    "video": ("video",),
}
SUMMARY_NAME = "mien-batch.csv"
_SUMMARY_FIELDS = ("job", "op", "input", "output", "status", "seconds", "message")


# ---------------------------------------------------------------------------------------
# jobs


@dataclass(frozen=True)
class Job:
    """One unit of work.

    Attributes:
        name: how the summary names it (``row 7`` of a job file, or the input's path
            relative to the folder).
        op: ``"edit"``, ``"transfer"`` or ``"video"``.
        inputs: every file the job reads, by role (``{"photo": Path}``, ``{"pose": ...,
            "expression": ...}``); the first is the main input.
        output: the file to write.
        options: the op's options, already typed (``{"emotion": "happy", "intensity": 0.6}``).
        error: a problem found while planning (bad value, output equal to an input); the
            job is reported as failed with this message and never run.
    """

    name: str
    op: str
    inputs: Mapping[str, Path]
    output: Path
    options: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def main_input(self) -> Path:
        return next(iter(self.inputs.values()))


@dataclass(frozen=True)
class Outcome:
    """What became of one job: ``status`` is ``"done"``, ``"skipped"`` or ``"failed"``."""

    job: Job
    status: str
    seconds: float = 0.0
    message: str = ""
    #: The traceback of an unexpected error (a bug, not a bad input): written to the log
    #: beside the summary (``mien-batch.log``).
    detail: str = ""


@dataclass
class BatchReport:
    """Every job's outcome, in job order, and where the summary CSV was written."""

    outcomes: list[Outcome]
    summary: Path | None = None

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def text(self) -> str:
        """``"200 jobs: 195 done, 0 skipped, 5 failed"``."""
        return (f"{len(self.outcomes)} jobs: {self.count('done')} done, {self.count('skipped')} skipped, "
                f"{self.count('failed')} failed")


def parse_bool(value: Any, name: str = "value") -> bool:
    """``True``/``False`` from a bool or the words a CSV cell may hold."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise InputError(f"{name} must be true or false, got {value!r}", param=name, allowed="true, false")


def _number(kind: type) -> Callable[[Any, str], Any]:
    def convert(value: Any, name: str) -> Any:
        try:
            number = float(value)
            if kind is int:
                if number != int(number):
                    raise ValueError
                return int(number)
            return number
        except (TypeError, ValueError):
            what = "a whole number" if kind is int else "a number"
            raise InputError(f"{name} must be {what}, got {value!r}", param=name) from None
    return convert


def _text(value: Any, name: str) -> str:
    return str(value).strip()


def _face(value: Any, name: str) -> int | str:
    text = str(value).strip()
    if text == "all":
        return text
    return _number(int)(text, name)


def _aus(value: Any, name: str) -> dict[str, float]:
    from .controls.registry import parse_aus

    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    return parse_aus(str(value).replace(",", " ").replace(";", " ").split())


def _option_types(op: str) -> dict[str, Callable[[Any, str], Any]]:
    """The options ``op`` takes and how a text value becomes each one's type."""
    from .controls.registry import CONTROLS

    number, whole, yes_no = _number(float), _number(int), lambda v, n: parse_bool(v, n)
    controls = {c.name: number for c in CONTROLS}
    expression = {"emotion": _text, "au": _aus, "neutralize": yes_no, **controls}
    if op == "edit":
        return {**expression, "keep_mouth": yes_no, "face": _face, "force": yes_no}
    if op == "transfer":
        return {"regions": _text, "strength": number, "face": _face, "force": yes_no, "refine": yes_no}
    return {**expression, "keyframes": _text, "lips": _text, "smooth": whole, "face": whole,
            "passthrough": yes_no, "quality": whole, "lossless": yes_no, "codec": _text}


def _check_op(op: str) -> str:
    if op not in OPS:
        raise InputError(f"unknown op {op!r}; use one of {', '.join(OPS)}", param="op", allowed=", ".join(OPS))
    return op


def _typed_options(op: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` converted to their types; :class:`InputError` for an unknown name."""
    types = _option_types(op)
    typed = {}
    for name, value in options.items():
        if name not in types:
            raise InputError(f"{name} is not an option of {op}; {op} takes {', '.join(sorted(types))}",
                             param=name)
        typed[name] = types[name](value, name) if isinstance(value, str) else value
    return typed


def _output_suffix(op: str, main: Path) -> str:
    return main.suffix if main.suffix.lower() in (VIDEO_SUFFIXES if op == "video" else PHOTO_SUFFIXES) \
        else (".mp4" if op == "video" else ".jpg")


def _plan(name: str, op: str, inputs: dict[str, Path], output: Path, options: Mapping[str, Any]) -> Job:
    """A job, with any problem found before running it kept as its ``error``."""
    job = Job(name, op, inputs, output, {})
    try:
        typed = _typed_options(op, options)
        keyframes = typed.get("keyframes")
        if isinstance(keyframes, (str, Path)) and str(keyframes).lower().endswith(".json"):
            # A keyframe file is an input like any other (and travels to Ray workers).
            inputs = {**inputs, "keyframes": Path(typed.pop("keyframes"))}
            job = replace(job, inputs=inputs)
        if not inputs or next(iter(inputs)) != _FILES[op][0]:
            raise InputError(f"no {_FILES[op][0]} given", param=_FILES[op][0])
        if op == "transfer" and not any(k in inputs for k in ("expression", "eyes", "mouth", "brows")):
            raise InputError("a transfer needs an expression photo (or eyes, mouth, brows)", param="expression")
        for role, path in inputs.items():
            if not path.is_file():
                raise InputError(f"{path}: no such file ({role}); check the path", param=role)
            if output.resolve() == path.resolve():
                raise InputError(f"{output} is also an input; mien never overwrites an input", param="output")
        return replace(job, options=typed)
    except MienError as exc:
        return replace(job, error=str(exc))


def jobs_from_folder(folder: str | os.PathLike, op: str, out_dir: str | os.PathLike,
                     options: Mapping[str, Any] | None = None) -> list[Job]:
    """One job per photo (``edit``, ``transfer``) or clip (``video``) under ``folder``.

    Subfolders are searched too, and each output keeps its input's path relative to
    ``folder`` under ``out_dir``. Hidden files and anything already under ``out_dir`` are
    left out. For ``transfer``, ``options["expression"]`` (or ``eyes``, ``mouth``, ``brows``)
    names the expression photo put on every photo of the folder.

    Raises:
        InputError: ``folder`` is missing or holds nothing of that type; an unknown option.
    """
    folder, out_dir, op = Path(folder), Path(out_dir), _check_op(op)
    options = dict(options or {})
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; check the path", param="source")
    suffixes = VIDEO_SUFFIXES if op == "video" else PHOTO_SUFFIXES
    files = {role: Path(options.pop(role)) for role in _FILES[op][1:] if options.get(role) is not None}
    out_resolved, folder_resolved = out_dir.resolve(), folder.resolve()
    if out_resolved == folder_resolved:
        raise InputError(f"-o {out_dir} is the folder of the inputs; mien never overwrites an input: choose "
                         "another folder", param="output")
    # Outputs of an earlier run inside the source folder are not inputs.
    nested = folder_resolved in out_resolved.parents
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                   and not (nested and out_resolved in p.resolve().parents)
                   and all(p.resolve() != f.resolve() for f in files.values()))
    if not found:
        kind = "video" if op == "video" else "photo"
        other = PHOTO_SUFFIXES if op == "video" else VIDEO_SUFFIXES
        hint = ""
        if any(p.suffix.lower() in other for p in folder.rglob("*")):
            hint = "; it holds photos: use --op edit or transfer" if op == "video" else \
                "; it holds videos: use --op video"
        raise InputError(f"{folder}: no {kind} files found ({', '.join(suffixes)}){hint}", param="source")
    if op == "transfer" and not files:
        raise InputError("a transfer batch over a folder needs --expression PHOTO (or --eyes, --mouth, --brows): "
                         "the expression put on every photo", param="expression")
    _typed_options(op, options)  # an unknown option is the batch's error, not each job's
    return [_plan(str(p.relative_to(folder)), op, {_FILES[op][0]: p, **files}, out_dir / p.relative_to(folder),
                  options) for p in found]


def jobs_from_csv(path: str | os.PathLike, op: str, out_dir: str | os.PathLike,
                  options: Mapping[str, Any] | None = None) -> list[Job]:
    """One job per row of a job file (see the module's docstring for its columns).

    Raises:
        InputError: the file is missing or unreadable, has an unknown column, no rows, or
            two rows writing the same output.
    """
    path, out_dir = Path(path), Path(out_dir)
    _check_op(op)
    defaults = dict(options or {})
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path", param="source")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [c.strip() for c in next(reader, [])]
            rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read the job file ({exc}); save it as CSV (UTF-8, comma-separated)",
                         param="source") from None
    while header and not header[-1]:  # a spreadsheet's empty trailing columns
        header.pop()
    if not rows:
        raise InputError(f"{path}: no jobs (a header row and one row per job)", param="source")
    known = {"op", "input", "output"} | {c for o in OPS for c in (*_FILES[o], *_option_types(o))}
    unknown = [c for c in header if c not in known]
    if unknown:
        hint = " (is it comma-separated?)" if len(header) == 1 and ";" in header[0] else ""
        raise InputError(f"{path}: unknown column {unknown[0]!r}{hint}; columns are op, input, output, the "
                         f"inputs ({', '.join(sorted({c for o in OPS for c in _FILES[o]}))}) and the options",
                         param="source")
    for line, cells in rows:
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
            raise InputError(f"{path}, line {line}: more cells than columns; put quotes around a cell that "
                             'holds commas ("12=0.8, 6=0.4")', param="source")
    used_ops = {(dict(zip(header, cells)).get("op") or "").strip().lower() or op for _, cells in rows} & set(OPS)
    batch_wide = {k for k in defaults if k not in ("op",)}
    unused = sorted(k for k in batch_wide
                    if not any(k in _option_types(o) or k in _FILES[o] for o in used_ops))
    if unused and used_ops:  # rows with an unknown op fail alone below
        raise InputError(f"{unused[0]} is an option of none of the job file's ops ({', '.join(sorted(used_ops))})",
                         param=unused[0])
    base = path.parent
    jobs, seen = [], {}
    for line, values in rows:
        cells = {k: v.strip() for k, v in zip(header, values) if v.strip()}
        name = f"row {line}"
        row_op = cells.pop("op", op).lower()
        if row_op not in OPS:
            jobs.append(Job(name, row_op, {}, out_dir / name, error=f"unknown op {row_op!r}; use one of "
                                                                        f"{', '.join(OPS)}"))
            continue
        if "input" in cells:
            cells.setdefault(_FILES[row_op][0], cells.pop("input"))
        inputs = {role: base / cells.pop(role) for role in _FILES[row_op] if role in cells}
        for role in _FILES[row_op]:
            given = defaults.get(role)
            # --expression is a saved expression (.json) for edit rows, a photo for transfer rows.
            if role not in inputs and isinstance(given, (str, os.PathLike)) and \
                    (role != "expression" or (str(given).lower().endswith(".json")) == (row_op == "edit")):
                inputs[role] = Path(given)
        main = inputs.get(_FILES[row_op][0])
        if "output" in cells:
            output = out_dir / cells.pop("output")
            if out_dir.resolve() not in output.resolve().parents:
                jobs.append(Job(name, row_op, inputs, output, error=f"output {output} is outside -o {out_dir}; "
                                                                    "give a path inside it"))
                continue
        elif main is not None:
            output = out_dir / (main.stem + _output_suffix(row_op, main))
        else:
            output = out_dir / name
        if row_op == "video" and "keyframes" in cells and cells["keyframes"].lower().endswith(".json"):
            cells["keyframes"] = str(base / cells["keyframes"])
        row_options = {k: v for k, v in defaults.items() if k not in _FILES[row_op] and k in _option_types(row_op)}
        row_options.update(cells)
        job = _plan(name, row_op, inputs, output, row_options)
        key = output.resolve()
        if key in seen:
            raise InputError(f"{path}: {seen[key]} and {name} both write {output}; give each its own output",
                             param="source")
        seen[key] = name
        jobs.append(job)
    return jobs


def jobs_from(source: str | os.PathLike, op: str, out_dir: str | os.PathLike,
              options: Mapping[str, Any] | None = None) -> list[Job]:
    """:func:`jobs_from_csv` for a ``.csv`` file, :func:`jobs_from_folder` for a folder."""
    source = Path(source)
    if source.is_dir():
        return jobs_from_folder(source, op, out_dir, options)
    if source.suffix.lower() == ".csv" or (source.is_file() and source.suffix.lower() in (".txt", "")):
        return jobs_from_csv(source, op, out_dir, options)
    if source.is_file():
        raise InputError(f"{source} is one file; give a folder or a .csv job file (for one photo or clip use "
                         "mien edit, transfer or video)", param="source")
    raise InputError(f"{source}: no such folder or job file; check the path", param="source")


# ---------------------------------------------------------------------------------------
# running one job


def is_complete(path: str | os.PathLike, op: str) -> bool:
    """Whether ``path`` is a finished output: it exists and all of it decodes.

    A photo's compressed data is read to its end (JPEG at 1/8 scale: every byte is still
    entropy-decoded, so a truncated file fails); a video's packets are read to the end and
    must reach the frame count its header promises.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        if op == "video":
            import av

            with av.open(str(path)) as container:
                if not container.streams.video:
                    return False
                stream = container.streams.video[0]
                packets = sum(1 for packet in container.demux(stream) if packet.size)
                return packets > 0 and (not stream.frames or packets >= stream.frames)
        from PIL import Image

        from .io import photo  # noqa: F401 - registers the HEIC/HEIF opener

        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
        return True
    except Exception:  # noqa: BLE001 - any failure to decode means "not complete"
        return False


def _run(job: Job) -> str:
    """Do ``job``'s work with the file-level API (raises what it raises); returns what the
    summary should say of it (a video's frame counts), or ``""``."""
    options = dict(job.options)
    inputs = dict(job.inputs)
    if job.op == "edit":
        from .api import edit_files

        edit_files(inputs["photo"], job.output, reference=inputs.get("reference"),
                   load_expression=inputs.get("expression"), **options)
        return ""
    elif job.op == "transfer":
        from .api import transfer_files

        shots = {role: inputs[role] for role in ("eyes", "mouth", "brows") if role in inputs}
        if "expression" in inputs and shots:
            shots[options.pop("regions", "all")] = inputs["expression"]
        transfer_files(inputs["pose"], shots or inputs["expression"], job.output, **options)
        return ""
    else:
        from .clip import edit_video

        if "keyframes" in inputs:
            options["keyframes"] = inputs["keyframes"]
        return edit_video(inputs["video"], job.output, **options).text()


def run_job(job: Job) -> Outcome:
    """Run one job and say how it went; never raises for a job's own failure."""
    if job.error is not None:
        return Outcome(job, "failed", 0.0, job.error)
    t0 = time.perf_counter()
    warnings = _Warnings()
    mien_log = logging.getLogger("mien")
    mien_log.addHandler(warnings)
    try:
        said = _run(job)
    except MienError as exc:
        return Outcome(job, "failed", time.perf_counter() - t0, str(exc))
    except Exception as exc:  # noqa: BLE001 - one job's bug must not stop the batch
        import traceback

        return Outcome(job, "failed", time.perf_counter() - t0,
                       f"{type(exc).__name__}: {exc} (a bug in mien: the traceback is in the batch log)",
                       detail=traceback.format_exc())
    finally:
        mien_log.removeHandler(warnings)
    return Outcome(job, "done", time.perf_counter() - t0, "; ".join([m for m in [said] if m] + warnings.messages))


class _Warnings(logging.Handler):
    """Keeps the warnings a job logs (a truncated clip, frames passed through) for its
    summary line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _worker_setup(threads: int) -> None:
    """Per worker process: OpenCV threads so workers do not oversubscribe the cores, no
    identity helper process (the workers already fill the cores), warnings kept per job."""
    import cv2

    from . import identity

    cv2.setNumThreads(threads)
    try:  # numpy's BLAS threads spin between the many small calls of an edit (see clip)
        from .clip import _numpy_blas

        found = _numpy_blas()
        if found is not None:
            found[1](1)
    except Exception:  # noqa: BLE001 - an optimisation only
        pass
    identity.HELPER = False
    # A job's warnings go to its summary line, not over the driver's progress bar.
    logging.getLogger("mien").propagate = False


def _run_in_worker(job: Job, threads: int) -> Outcome:
    _worker_setup(threads)
    return run_job(job)


# ---------------------------------------------------------------------------------------
# running many


Progress = Callable[[int, int, Outcome], None]

#: Most local worker processes per CPU core (``workers`` beyond it are capped, with a warning).
MAX_WORKERS_PER_CORE = 2


def default_workers(op: str = "edit") -> int:
    """One worker per core, fewer when free memory would not hold them (~1.5 GB per photo
    worker, ~2.5 GB per video worker)."""
    cores = os.cpu_count() or 1
    per_worker = 2.5e9 if op == "video" else 1.5e9
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return max(1, min(cores, int(int(line.split()[1]) * 1024 // per_worker)))
    except (OSError, ValueError, IndexError):
        pass
    return cores


def _guarded(jobs: list[Job]) -> list[Job]:
    """``jobs`` with an error for any whose output is another job's input (it would be
    overwritten, or, with a rerun, read already edited)."""
    inputs = {p.resolve(): job.name for job in jobs for p in job.inputs.values()}
    guarded = []
    for job in jobs:
        reader = inputs.get(job.output.resolve())
        if job.error is None and reader is not None:
            job = replace(job, error=f"output {job.output} is an input of {reader}; mien never overwrites an input")
        guarded.append(job)
    return guarded


def run_batch(jobs: Sequence[Job], *, workers: int | None = None, ray: str | None = None,
              overwrite: bool = False, summary: str | os.PathLike | None = None,
              progress: Progress | None = None) -> BatchReport:
    """Run ``jobs``, in parallel processes here or on a Ray cluster; never stops at a failure.

    Args:
        jobs: from :func:`jobs_from`, :func:`jobs_from_csv` or :func:`jobs_from_folder`.
        workers: processes on this machine (default :func:`default_workers`); with ``ray``
            on a cluster started here, its CPU count.
        ray: ``None`` runs locally; ``"local"`` starts a Ray cluster on this machine for the
            batch; ``"auto"`` or an address (``"10.0.0.5:6379"``, ``"ray://head:10001"``)
            joins an existing cluster. Needs ``pip install 'mien[ray]'`` (here and on
            every node).
        overwrite: redo jobs whose output already exists (default: skip them if complete).
        summary: where to write the summary CSV (job, op, input, output, status, seconds,
            message); rewritten as jobs finish, so an interrupted batch leaves one too.
        progress: called with ``(jobs finished, total, outcome)`` after each job.

    Returns:
        A :class:`BatchReport` in job order.

    Raises:
        MissingDependencyError: ``ray`` given without Ray installed.
        InputError: ``workers`` below 1, or a Ray address that cannot be reached.
    """
    jobs = _guarded(list(jobs))
    if workers is not None and workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}", param="workers")
    if summary is not None:
        summary = Path(summary)
        if any(summary.resolve() == p.resolve() for job in jobs for p in (*job.inputs.values(), job.output)):
            raise InputError(f"--summary {summary} is an input or output of a job; choose another file",
                             param="summary")
    outcomes: dict[int, Outcome] = {}
    recorder = _Recorder(jobs, outcomes, Path(summary) if summary else None, progress)
    try:
        recorder.flush(force=True)
    except OSError as exc:
        raise InputError(f"cannot write the summary {summary} ({exc.strerror or exc}); choose another --summary",
                         param="summary") from None
    pending = []
    for index, job in enumerate(jobs):
        if job.error is None and not overwrite and is_complete(job.output, job.op):
            recorder.record(index, Outcome(job, "skipped", 0.0, "output exists"))
            continue
        if job.error is None:
            try:
                job.output.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                job = replace(job, error=f"cannot make the folder {job.output.parent} ({exc.strerror or exc})")
        if job.error is not None:
            recorder.record(index, Outcome(job, "failed", 0.0, job.error))
        else:
            pending.append(index)
    try:
        if pending:
            if ray is not None:
                _run_on_ray(jobs, pending, ray, workers, recorder)
            else:
                count = workers or default_workers(jobs[pending[0]].op)
                most = MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)
                if count > most:
                    # Each worker loads the models (~300 MB): more than this only thrashes.
                    log.warning("%d workers on %d cores: using %d", count, os.cpu_count() or 1, most)
                    count = most
                _run_local(jobs, pending, min(count, len(pending)), recorder)
    finally:
        recorder.flush(force=True)
    return BatchReport([outcomes[i] for i in range(len(jobs)) if i in outcomes], recorder.path)


class _Recorder:
    """Collects outcomes, calls ``progress``, and rewrites the summary CSV (atomically, at
    most every 2 s while jobs run, and at the end)."""

    def __init__(self, jobs: list[Job], outcomes: dict[int, Outcome], path: Path | None,
                 progress: Progress | None) -> None:
        self.jobs, self.outcomes, self.path, self.progress = jobs, outcomes, path, progress
        self.last_write = 0.0

    def record(self, index: int, outcome: Outcome) -> None:
        self.outcomes[index] = outcome
        if outcome.detail and self.path is not None:
            with self.path.with_suffix(".log").open("a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {outcome.job.name}: {outcome.job.main_input}\n"
                        f"{outcome.detail}\n")
        if self.progress is not None:
            self.progress(len(self.outcomes), len(self.jobs), outcome)
        self.flush()

    def flush(self, force: bool = False) -> None:
        if self.path is None or (not force and time.monotonic() - self.last_write < 2.0):
            return
        self.last_write = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        try:
            # utf-8-sig: spreadsheet programs then read non-ASCII file names right.
            with os.fdopen(fd, "w", newline="", encoding="utf-8-sig") as f:
                writer = csv.writer(f)
                writer.writerow(_SUMMARY_FIELDS)
                for index in sorted(self.outcomes):
                    o = self.outcomes[index]
                    writer.writerow((o.job.name, o.job.op, o.job.main_input if o.job.inputs else "", o.job.output,
                                     o.status, f"{o.seconds:.2f}", o.message))
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _run_local(jobs: list[Job], pending: list[int], workers: int, recorder: _Recorder) -> None:
    """Run ``pending`` jobs in ``workers`` spawned processes, one job per worker at a time
    (so a dead worker's job is known). Jobs that were running when a worker died are
    retried once, each alone in a fresh worker."""
    # Spawned, not forked: MediaPipe's threads do not survive a fork. (A script calling
    # this needs the usual `if __name__ == "__main__":` guard.)
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    queue, suspects = deque(pending), deque()
    while queue or suspects:
        solo = not queue
        todo = suspects if solo else queue
        size = 1 if solo else workers
        running: dict[Any, int] = {}
        broken = False
        with ProcessPoolExecutor(size, mp_context=context, initializer=_watch_parent,
                                 initargs=(os.getpid(),)) as pool:
            try:
                while (todo or running) and not broken:
                    while todo and len(running) < size:
                        index = todo.popleft()
                        running[pool.submit(_run_in_worker, jobs[index], threads)] = index
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        try:
                            outcome = future.result()
                        except BrokenProcessPool:
                            broken = True  # the job stays counted as running
                            continue
                        recorder.record(running.pop(future), outcome)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        if broken:
            log.warning("a worker process died; %d job(s) will be retried alone", len(running))
            for index in running.values():
                if solo:
                    recorder.record(index, Outcome(jobs[index], "failed", 0.0,
                                                   "the worker process died on this job twice (out of memory "
                                                   "or a crash); try it alone with the single command"))
                else:
                    suspects.append(index)


def _watch_parent(parent: int) -> None:
    """In each worker: exit when the batch's process is gone (killed, not Ctrl-C), instead
    of waiting forever with the models loaded."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="mien-batch-parent", daemon=True).start()


# ---------------------------------------------------------------------------------------
# Ray


def _ray_module():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from offline machines
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("running on Ray needs the ray extra: pip install 'mien[ray]'") from None
    return ray


def _shipped(job: Job, files: Mapping[str, bytes], threads: int) -> tuple[Outcome, bytes | None]:
    """Run ``job`` on a Ray worker from the input files' bytes; returns the outcome and the
    output's bytes. Files keep their names, so messages read as in a local run. Ray reuses
    its worker processes for other work: the worker's settings are put back afterwards."""
    import cv2

    from . import identity
    from .clip import _numpy_blas

    blas = _numpy_blas()
    before = (cv2.getNumThreads(), identity.HELPER, logging.getLogger("mien").propagate,
              int(blas[0]()) if blas else None)
    _worker_setup(threads)
    work = Path(tempfile.mkdtemp(prefix="mien-batch-"))
    try:
        inputs = {}
        for n, (role, data) in enumerate(files.items()):
            folder = work / "in" / str(n)
            folder.mkdir(parents=True)
            inputs[role] = folder / job.inputs[role].name
            inputs[role].write_bytes(data)
        (work / "out").mkdir()
        local = replace(job, inputs=inputs, output=work / "out" / job.output.name)
        outcome = run_job(local)
        message = outcome.message
        for role, path in local.inputs.items():
            message = message.replace(str(path), str(job.inputs[role]))
        message = message.replace(str(local.output), str(job.output))
        data = local.output.read_bytes() if outcome.status == "done" else None
        return replace(outcome, job=job, message=message), data
    finally:
        shutil.rmtree(work, ignore_errors=True)
        cv2.setNumThreads(before[0])
        identity.HELPER = before[1]
        logging.getLogger("mien").propagate = before[2]
        if blas and before[3]:
            blas[1](before[3])


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: Most input and output bytes in flight on Ray at once (at least one job always runs).
RAY_BYTES_IN_FLIGHT = 1 << 30
#: Memory each Ray task reserves, per op (Ray schedules no more than a node can hold).
RAY_TASK_MEMORY = {"edit": 1_500_000_000, "transfer": 1_500_000_000, "video": 2_500_000_000}


def _reachable(address: str) -> None:
    """Refuse at once an address nothing answers on (``ray.init`` would retry for minutes)."""
    import socket

    if address in ("local", "auto"):
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--ray {address}: give local, auto, HOST:PORT or ray://HOST:PORT", param="ray")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise InputError(f"nothing answers at {address} ({exc.strerror or exc}); start the cluster with "
                         "`ray start --head` there, or use --ray local", param="ray") from None


def _one_line(exc: BaseException) -> str:
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}"[:500]


def _run_on_ray(jobs: list[Job], pending: list[int], address: str, workers: int | None,
                recorder: _Recorder) -> None:
    ray = _ray_module()
    started = False
    if not ray.is_initialized():
        _reachable(address)
        try:
            if address == "local":
                # A cluster made for this batch alone: its start-up chatter (token set-up,
                # "started a local Ray instance") is not the user's business.
                ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.ERROR,
                         log_to_driver=False)
            else:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            if "ray[client]" in str(exc):
                raise MissingDependencyError("ray:// addresses need Ray's client: pip install 'mien[ray]' "
                                             "(ray[client])") from None
            raise InputError(f"cannot reach the Ray cluster at {address} ({_one_line(exc)}); start one with "
                             "`ray start --head` or use --ray local", param="ray") from None
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=1)(_shipped)
        slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        queue, running, in_flight = deque(pending), {}, 0
        while queue or running:
            # Twice the slots in flight keeps every CPU busy; the byte budget bounds what
            # the driver and the object store hold.
            while queue and len(running) < 2 * slots and (not running or in_flight < RAY_BYTES_IN_FLIGHT):
                index = queue.popleft()
                job = jobs[index]
                try:
                    files = {role: path.read_bytes() for role, path in job.inputs.items()}
                except OSError as exc:
                    recorder.record(index, Outcome(job, "failed", 0.0, f"cannot read {exc.filename}: "
                                                                        f"{exc.strerror or exc}"))
                    continue
                size = sum(len(b) for b in files.values())
                task = remote.options(memory=RAY_TASK_MEMORY.get(job.op, 1_500_000_000))
                running[task.remote(job, files, 1)] = (index, size)
                in_flight += size
            if not running:
                continue
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                index, size = running.pop(ref)
                in_flight -= size
                try:
                    outcome, data = ray.get(ref)
                    outcome = replace(outcome, job=jobs[index])
                    if data is not None:
                        _write_atomically(jobs[index].output, data)
                except Exception as exc:  # noqa: BLE001 - a lost worker or node fails this job only
                    outcome = Outcome(jobs[index], "failed", 0.0, f"Ray: {_one_line(exc)}")
                recorder.record(index, outcome)
    finally:
        if started:
            ray.shutdown()


def run(source: str | os.PathLike | Iterable[Job], out_dir: str | os.PathLike, *, op: str = "edit",
        workers: int | None = None, ray: str | None = None, overwrite: bool = False,
        summary: str | os.PathLike | None = None, progress: Progress | None = None,
        **options) -> BatchReport:
    """Plan and run a batch in one call: ``source`` is a job file, a folder or a list of
    :class:`Job`\\ s; ``options`` apply to every job (a job file's cells take precedence).
    The summary CSV goes to ``out_dir/mien-batch.csv`` unless ``summary`` says otherwise."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is a file; -o takes a folder for the outputs", param="output")
    if isinstance(source, (str, os.PathLike)):
        jobs = jobs_from(source, op, out_dir, options)
        summary = Path(summary) if summary is not None else out_dir / SUMMARY_NAME
        if summary.resolve() == Path(source).resolve():
            raise InputError(f"--summary {summary} is the job file; choose another file", param="summary")
    else:
        jobs = list(source)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot make the output folder {out_dir} ({exc.strerror or exc}); choose another -o",
                         param="output") from None
    return run_batch(jobs, workers=workers, ray=ray, overwrite=overwrite,
                     summary=summary if summary is not None else out_dir / SUMMARY_NAME, progress=progress)
