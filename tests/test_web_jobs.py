"""The web app's video job list: what is dropped when it is full."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")

from mien.web.jobs import Job, JobManager  # noqa: E402
from mien.web.uploads import ApiError  # noqa: E402


def finished(manager: JobManager, name: str, status: str, age: float, downloaded: bool = False) -> Job:
    jid, folder = manager.new_folder()
    job = Job(jid, folder, folder / "source.mp4", name, {}, status=status, downloaded=downloaded)
    job.finished_at = time.monotonic() - age
    manager._jobs[jid] = job
    return job


def test_a_full_list_drops_claimed_and_failed_jobs_before_an_unclaimed_clip(tmp_path):
    manager = JobManager(tmp_path, max_jobs=3, ttl=3600, keep_unclaimed=900)
    unclaimed = finished(manager, "unclaimed", "done", age=100)  # the oldest of all
    failed = finished(manager, "failed", "failed", age=50)
    fetched = finished(manager, "fetched", "done", age=10, downloaded=True)
    manager._prune()  # full: one must go, and it is not the clip nobody has fetched
    assert set(manager._jobs) == {unclaimed.id, fetched.id}
    assert not failed.folder.exists() and unclaimed.folder.exists()
    finished(manager, "another", "done", age=5, downloaded=True)
    manager._prune()
    assert unclaimed.id in manager._jobs and fetched.id not in manager._jobs


def test_an_unclaimed_clip_is_kept_its_time_then_dropped_when_full(tmp_path):
    manager = JobManager(tmp_path, max_jobs=2, ttl=3600, keep_unclaimed=900)
    a = finished(manager, "a", "done", age=300)
    b = finished(manager, "b", "done", age=200)
    jid, folder = manager.new_folder()
    with pytest.raises(ApiError) as err:  # both clips are unclaimed and young: refuse, keep them
        manager.submit(jid, folder, folder / "s.mp4", "c", {})
    assert err.value.status == 503
    assert set(manager._jobs) == {a.id, b.id}
    a.finished_at -= 700  # a is now 1000 s old: past keep_unclaimed, it may go
    manager._prune()
    assert set(manager._jobs) == {b.id}
    c = finished(manager, "c", "done", age=4000, downloaded=False)  # past ttl: always dropped
    manager._prune()
    assert c.id not in manager._jobs


def test_looking_at_a_job_never_evicts_another(tmp_path):
    manager = JobManager(tmp_path, max_jobs=2, ttl=3600, keep_unclaimed=900)
    failed = finished(manager, "failed", "failed", age=50)
    finished(manager, "fetched", "done", age=10, downloaded=True)
    assert manager.get(failed.id) is failed  # the list is full, yet the failure stays readable
    assert manager.get(failed.id).status == "failed"
