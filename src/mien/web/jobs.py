"""Video jobs of the web app: one worker thread edits queued clips one at a time with
:func:`mien.clip.edit_video`, reporting progress; a cancel raises from the progress
callback, so the video writer removes its partial file and nothing is left half-written.

A job's states: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``
(a queued job cancelled never runs). Finished jobs and their files are dropped after
``ttl`` seconds. Beyond ``max_jobs`` the oldest finished ones go first, failed, cancelled
and downloaded ones before any done clip nobody has downloaded yet; such a clip is kept
at least ``keep_unclaimed`` seconds (a new job is refused meanwhile).
"""

from __future__ import annotations

import logging
import queue
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MienError
from .uploads import ApiError, without_paths

log = logging.getLogger(__name__)

FINISHED = ("done", "failed", "cancelled")


class Cancelled(Exception):
    """Raised from the progress callback to stop a job."""


@dataclass(eq=False)
class Job:
    """One video edit.

    Attributes:
        id: random, URL-safe.
        folder: the job's own folder (source and output inside; removed with the job).
        source: the uploaded clip.
        stem: the client's file name, made safe (download name only).
        options: keyword arguments for :func:`mien.clip.edit_video` (``keyframes`` a
            parsed Timeline, ``face``, ``lips``, controls).
        status: ``queued``, ``running``, ``done``, ``failed`` or ``cancelled``.
        done, total: frames written and frames in the clip (``None`` until known).
        message: one line for people (the error for ``failed``).
        summary: what the edit did (``frames``, ``edited``, ``passed``, ``seconds``,
            ``lips``, ``text``) once ``done``.
    """

    id: str
    folder: Path
    source: Path
    stem: str
    options: dict
    status: str = "queued"
    done: int = 0
    total: int | None = None
    message: str = "waiting for the worker"
    summary: dict | None = None
    finished_at: float | None = None
    downloaded: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def output(self) -> Path:
        return self.folder / "out.mp4"

    def as_json(self) -> dict:
        return {"job": self.id, "status": self.status, "done": self.done, "total": self.total,
                "message": self.message, "summary": self.summary}


class JobManager:
    """Queued video jobs run by one worker thread.

    Args:
        folder: where job folders are made.
        max_jobs: most jobs kept (finished ones are dropped first).
        ttl: seconds a finished job and its file are kept.
        keep_unclaimed: seconds a done clip not yet downloaded is kept even when the job
            list is full.
    """

    def __init__(self, folder: Path, max_jobs: int = 16, ttl: float = 3600.0,
                 keep_unclaimed: float = 900.0) -> None:
        self.folder = Path(folder)
        self.max_jobs = max_jobs
        self.ttl = ttl
        self.keep_unclaimed = min(keep_unclaimed, ttl)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its (created) folder, for the upload to be saved in."""
        jid = secrets.token_urlsafe(12)
        folder = self.folder / f"job-{jid}"
        folder.mkdir(parents=True)
        return jid, folder

    def submit(self, jid: str, folder: Path, source: Path, stem: str, options: dict) -> Job:
        """Queue a job (its upload already saved in ``folder``).

        Raises:
            ApiError: 503 too many unfinished jobs.
        """
        job = Job(jid, folder, source, stem, options)
        with self._lock:
            self._prune()
            if len(self._jobs) >= self.max_jobs:
                shutil.rmtree(folder, ignore_errors=True)
                raise ApiError(503, f"{self.max_jobs} video jobs are queued or kept already; cancel or wait "
                               "for one", param="video")
            self._jobs[jid] = job
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="mien-video-jobs", daemon=True)
                self._worker.start()
        self._queue.put(job)
        return job

    def get(self, jid: str) -> Job:
        """Raises ApiError 404 for an unknown (or expired) job."""
        with self._lock:
            self._prune(make_room=False)  # looking never evicts: a failed job keeps its message
            job = self._jobs.get(jid)
        if job is None:
            raise ApiError(404, f"unknown job {jid!r}: it expired or never existed", param="job")
        return job

    def cancel(self, jid: str) -> Job:
        """Ask a job to stop: a queued one is cancelled at once, a running one at its next frame."""
        job = self.get(jid)
        with self._lock:
            if job.status == "queued":
                self._finish(job, "cancelled", "cancelled before it started")
            elif job.status == "running":
                job.message = "cancelling"
            job.cancel.set()
        return job

    def delete(self, jid: str) -> None:
        """Cancel a job and forget it (its files removed once it has stopped)."""
        job = self.cancel(jid)
        with self._lock:
            self._jobs.pop(jid, None)
            if job.status in FINISHED:
                shutil.rmtree(job.folder, ignore_errors=True)

    def close(self, timeout: float = 10.0) -> None:
        """Cancel everything, stop the worker and remove every job's files."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if job.status not in FINISHED:
                self.cancel(job.id)
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(timeout)
        with self._lock:
            for job in self._jobs.values():
                shutil.rmtree(job.folder, ignore_errors=True)
            self._jobs.clear()

    # -- internals ---------------------------------------------------------------------

    def _finish(self, job: Job, status: str, message: str) -> None:
        job.status = status
        job.message = message
        job.finished_at = time.monotonic()
        if status != "done":
            shutil.rmtree(job.folder, ignore_errors=True)
        else:
            job.source.unlink(missing_ok=True)

    def _prune(self, make_room: bool = True) -> None:
        """Drop expired jobs and, with ``make_room``, finished ones beyond ``max_jobs``."""
        now = time.monotonic()

        def unclaimed(job: Job) -> bool:
            return job.status == "done" and not job.downloaded

        # Claimed or failed jobs first, oldest first; a clip nobody has fetched goes last.
        finished = sorted((j for j in self._jobs.values() if j.status in FINISHED and j.finished_at is not None),
                          key=lambda j: (unclaimed(j), j.finished_at))
        for job in finished:
            age = now - job.finished_at
            full = make_room and len(self._jobs) >= self.max_jobs \
                and not (unclaimed(job) and age < self.keep_unclaimed)
            if age > self.ttl or full:
                shutil.rmtree(job.folder, ignore_errors=True)
                del self._jobs[job.id]

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.status != "queued" or job.cancel.is_set():
                    continue
                job.status = "running"
                job.message = "looking at the clip"
            self._edit(job)

    def _edit(self, job: Job) -> None:
        from ..clip import edit_video

        def progress(done: int, total: int | None) -> None:
            job.done, job.total = done, total
            # done stays 0 while the clip is first looked at (the survey)
            job.message = "looking at the clip" if done == 0 else f"frame {done}" + (f" of {total}" if total else "")
            if job.cancel.is_set():
                raise Cancelled()

        try:
            if job.cancel.is_set():
                raise Cancelled()
            summary = edit_video(job.source, job.output, progress=progress, **job.options)
        except Cancelled:
            job.output.unlink(missing_ok=True)
            with self._lock:
                self._finish(job, "cancelled", f"cancelled after {job.done} frames; nothing was written")
            return
        except MienError as exc:
            with self._lock:
                self._finish(job, "failed", without_paths(str(exc), self.folder))
            return
        except Exception:  # never a stack trace to the client; the log has it
            log.exception("video job %s failed", job.id)
            with self._lock:
                self._finish(job, "failed", "internal error while editing the video; see the server log")
            return
        with self._lock:
            if summary.output is None or not job.output.exists():
                self._finish(job, "failed", summary.text())
                return
            job.summary = {"frames": summary.frames, "edited": summary.edited, "passed": dict(summary.passed),
                           "seconds": round(summary.seconds, 3), "lips": summary.lips, "text": summary.text()}
            self._finish(job, "done", without_paths(summary.text(), self.folder))
