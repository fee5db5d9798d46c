"""Batch work (mien.batch, `mien batch`): many jobs in parallel, resumable, failures kept apart, Ray."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mien
from mien import batch
from mien.errors import InputError

MIEN = [sys.executable, "-m", "mien"]


def run_cli(*args):
    return subprocess.run([*MIEN, *map(str, args)], capture_output=True, text=True, timeout=600)


def summary_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return {row["job"]: row for row in csv.DictReader(f)}


@pytest.fixture()
def folder(data, tmp_path):
    """Three photos (one in a subfolder), one broken file, one hidden file."""
    src = tmp_path / "photos"
    (src / "more").mkdir(parents=True)
    shutil.copy(data / "london" / "020" / "neutral.jpg", src / "a.jpg")
    shutil.copy(data / "lisa" / "lisa1.jpg", src / "b.jpg")
    shutil.copy(data / "london" / "036" / "neutral.jpg", src / "more" / "c.jpg")
    (src / "broken.jpg").write_bytes(b"not a photo")
    shutil.copy(data / "lisa" / "lisa2.jpg", src / ".hidden.jpg")
    return src


def test_folder_batch_does_every_photo_reports_the_broken_one_and_resumes(folder, tmp_path):
    out = tmp_path / "out"
    r = run_cli("batch", folder, "--emotion", "happy", "-i", "0.6", "-o", out, "-j", "2")
    assert r.returncode == 1, r.stderr  # one job failed
    assert "3 done, 0 skipped, 1 failed" in r.stderr
    assert "broken.jpg" in r.stderr and "not an image" in r.stderr
    rows = summary_rows(out / "mien-batch.csv")
    assert {k: v["status"] for k, v in rows.items()} == {
        "a.jpg": "done", "b.jpg": "done", "more/c.jpg": "done", "broken.jpg": "failed"}
    assert "not an image" in rows["broken.jpg"]["message"]
    assert not (out / ".hidden.jpg").exists() and not (out / "broken.jpg").exists()
    # The subfolder is kept; each output is its input edited, at full size.
    for name in ("a.jpg", "b.jpg", "more/c.jpg"):
        before, after = mien.read_photo(folder / name).pixels, mien.read_photo(out / name).pixels
        assert after.shape == before.shape
        assert np.abs(after.astype(int) - before).max() > 40
    # A worker's result is the single-photo API's result.
    direct = mien.edit_files(folder / "a.jpg", tmp_path / "direct.jpg", emotion="happy", intensity=0.6)
    assert direct.read_bytes() == (out / "a.jpg").read_bytes()

    # Rerun: nothing redone; a truncated output (as a crash of another tool leaves) is redone.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    (out / "b.jpg").write_bytes((out / "b.jpg").read_bytes()[:5000])
    report = batch.run(folder, out, op="edit", emotion="happy", intensity=0.6, workers=1)
    status = {o.job.name: o.status for o in report.outcomes}
    assert status == {"a.jpg": "skipped", "b.jpg": "done", "more/c.jpg": "skipped", "broken.jpg": "failed"}
    assert (out / "a.jpg").stat().st_mtime_ns == stamps[out / "a.jpg"]
    assert batch.is_complete(out / "b.jpg", "edit")
    # The output folder inside the source folder is never taken for input.
    inner = folder / "edited"
    report = batch.run(folder, inner, op="edit", smile=0.5, workers=1)
    again = batch.run(folder, inner, op="edit", smile=0.5, workers=1)
    assert len(again.outcomes) == len(report.outcomes) == 4
    assert again.count("skipped") == 3


def _die_on_boom(job, threads):
    """Stands in for a worker's job runner: a job named 'boom' kills its process."""
    if job.name == "boom":
        os._exit(3)
    return batch.Outcome(job, "done", 0.0, "")


def test_workers_beyond_twice_the_cores_are_capped(tmp_path, monkeypatch, caplog):
    src = tmp_path / "x.jpg"
    src.write_bytes(b"x")
    jobs = [batch.Job(f"j{i}", "edit", {"photo": src}, tmp_path / f"j{i}.jpg") for i in range(50)]
    used = []
    monkeypatch.setattr(batch, "_run_local", lambda jobs, pending, workers, recorder: used.append(workers))
    monkeypatch.setattr(batch.os, "cpu_count", lambda: 2)
    batch.run_batch(jobs, workers=40)
    assert used == [4] and "40 workers on 2 cores: using 4" in caplog.text
    batch.run_batch(jobs, workers=3, overwrite=True)
    assert used[-1] == 3


def test_a_dying_worker_fails_only_its_own_job(tmp_path, monkeypatch):
    src = tmp_path / "x.jpg"
    src.write_bytes(b"x")
    jobs = [batch.Job(name, "edit", {"photo": src}, tmp_path / f"{name}.jpg")
            for name in ("one", "boom", "two", "three", "four")]
    monkeypatch.setattr(batch, "_run_in_worker", _die_on_boom)
    report = batch.run_batch(jobs, workers=2, summary=tmp_path / "s.csv")
    status = {o.job.name: o.status for o in report.outcomes}
    assert status == {"one": "done", "boom": "failed", "two": "done", "three": "done", "four": "done"}
    assert "died" in report.failed[0].message
    assert summary_rows(tmp_path / "s.csv")["boom"]["status"] == "failed"


def test_job_file_rows_choose_op_inputs_and_options(data, tmp_path):
    people = tmp_path / "people"
    shutil.copytree(data / "london" / "020", people / "020")
    shutil.copytree(data / "london" / "036", people / "036")
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(
        "op,input,expression,output,emotion,intensity,au,strength,regions\n"
        "edit,people/020/neutral.jpg,,020-sad.png,sad,,,,\n"
        "edit,people/036/neutral.jpg,,,,,12=0.6 6=0.3,,\n"
        "transfer,people/020/neutral.jpg,people/020/happy.jpg,020-mouth.jpg,,,,0.8,mouth\n"
        "edit,people/036/neutral.jpg,,bad.jpg,happy,lots,,,\n"
        "edit,people/nobody.jpg,,nobody.jpg,happy,,,,\n")
    out = tmp_path / "out"
    report = batch.run(jobs, out, op="edit", intensity=0.5, workers=2)
    by_name = {o.job.name: o for o in report.outcomes}
    assert [o.status for o in report.outcomes] == ["done", "done", "done", "failed", "failed"]
    assert by_name["row 2"].job.options == {"emotion": "sad", "intensity": 0.5}  # the batch's default filled in
    assert by_name["row 3"].job.options == {"au": {"12": 0.6, "6": 0.3}, "intensity": 0.5}
    assert by_name["row 3"].job.output == out / "neutral.jpg"  # default: the input's name
    assert by_name["row 5"].seconds == 0 and "intensity must be a number" in by_name["row 5"].message
    assert "no such file" in by_name["row 6"].message
    for name in ("020-sad.png", "neutral.jpg", "020-mouth.jpg"):
        assert (out / name).exists()
    # The transfer row's options reached the transfer.
    direct = mien.transfer_files(people / "020" / "neutral.jpg", people / "020" / "happy.jpg",
                                 tmp_path / "direct.jpg", strength=0.8, regions="mouth")
    assert direct.read_bytes() == (out / "020-mouth.jpg").read_bytes()


@pytest.mark.parametrize("text, says", [
    ("photo,colour\na.jpg,red\n", "unknown column 'colour'"),
    ("photo,output\na.jpg,x.jpg\nb.jpg,x.jpg\n", "both write"),
    ("photo\n", "no jobs"),
])
def test_job_file_problems_stop_the_batch_before_any_work(tmp_path, text, says):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(text)
    with pytest.raises(InputError, match=says):
        batch.jobs_from(jobs, "edit", tmp_path / "out")


def test_video_jobs_take_a_keyframe_file_beside_the_job_file(data, tmp_path):
    shutil.copy(data / "video" / "talking_woman_2s.mp4", tmp_path / "clip.mp4")
    (tmp_path / "keys.json").write_text(json.dumps({"keyframes": [
        {"time": 0}, {"time": 1, "emotion": "happy", "intensity": 0.6}]}))
    (tmp_path / "jobs.csv").write_text("op,video,keyframes,output\nvideo,clip.mp4,keys.json,happier.mp4\n")
    report = batch.run(tmp_path / "jobs.csv", tmp_path / "out", workers=1)
    outcome, = report.outcomes
    assert outcome.status == "done", outcome.message
    assert outcome.job.inputs["keyframes"] == tmp_path / "keys.json"
    assert "frames edited" in outcome.message
    assert batch.is_complete(tmp_path / "out" / "happier.mp4", "video")


@pytest.mark.parametrize("case", ["missing", "empty-folder", "clips-without-op-video", "transfer-without-expression",
                                  "wrong-option"])
def test_bad_batches_get_one_line_and_exit_2(case, folder, tmp_path):
    out = tmp_path / "out"
    args = ["batch", folder, "-o", out]
    if case == "missing":
        args[1] = tmp_path / "nowhere"
    elif case == "empty-folder":
        (tmp_path / "empty").mkdir()
        args[1] = tmp_path / "empty"
    elif case == "clips-without-op-video":
        (tmp_path / "clips").mkdir()
        (tmp_path / "clips" / "a.mp4").write_bytes(b"")
        args[1] = tmp_path / "clips"
    elif case == "transfer-without-expression":
        args += ["--op", "transfer"]
    else:
        args += ["--keyframes", "0s:happy"]
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mien: error:"), r.stderr
    if case == "clips-without-op-video":
        assert "use --op video" in lines[0]
    assert not any(out.rglob("*.jpg")) if out.exists() else True


def test_ray_runs_the_same_jobs_with_identical_outputs(folder, tmp_path):
    pytest.importorskip("ray")
    (folder / "broken.jpg").unlink()
    local = batch.run(folder, tmp_path / "local", op="edit", emotion="surprised", intensity=0.7, workers=1)
    jobs = batch.jobs_from(folder, "edit", tmp_path / "ray", {"emotion": "surprised", "intensity": 0.7})
    ghost = batch.Job("ghost", "edit", {"photo": folder / "gone.jpg"}, tmp_path / "ray" / "gone.jpg")
    on_ray = batch.run_batch([*jobs, ghost], ray="local", workers=2)
    assert on_ray.count("done") == local.count("done") == 3
    assert on_ray.failed[0].job.name == "ghost" and "cannot read" in on_ray.failed[0].message
    for outcome in local.outcomes:
        name = outcome.job.output.relative_to(tmp_path / "local")
        assert (tmp_path / "ray" / name).read_bytes() == outcome.job.output.read_bytes()


def test_an_address_nobody_answers_on_is_refused_at_once(folder, tmp_path):
    pytest.importorskip("ray")
    with pytest.raises(InputError, match="nothing answers"):
        batch.run(folder, tmp_path / "out", op="edit", smile=0.5, ray="127.0.0.1:1")


def _copy_input(job, threads):
    """Stands in for a worker's job runner: the 'edit' copies the input to the output."""
    job.output.write_bytes(job.main_input.read_bytes() + b"edited")
    return batch.Outcome(job, "done", 0.0, "")


def test_no_job_writes_over_another_jobs_input_or_outside_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "_run_in_worker", _copy_input)
    (tmp_path / "a.jpg").write_bytes(b"A")
    (tmp_path / "b.jpg").write_bytes(b"B")
    (tmp_path / "jobs.csv").write_text("photo,output\na.jpg,../b.jpg\nb.jpg,b2.jpg\na.jpg,../../elsewhere.jpg\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("a file where a folder should be")
    (tmp_path / "more.csv").write_text("photo,output\nb.jpg,sub/x.jpg\nb.jpg,fine.jpg\n")
    report = batch.run(tmp_path / "jobs.csv", out, op="edit", overwrite=True, workers=1)
    status = {o.job.name: (o.status, o.message) for o in report.outcomes}
    assert status["row 2"][0] == "failed" and "outside -o" in status["row 2"][1]
    assert status["row 3"] == ("done", "")
    assert status["row 4"][0] == "failed" and "outside -o" in status["row 4"][1]
    assert (tmp_path / "b.jpg").read_bytes() == b"B" and not (tmp_path.parent / "elsewhere.jpg").exists()
    # One job whose folder cannot be made fails alone.
    report = batch.run(tmp_path / "more.csv", out, op="edit", workers=1)
    assert [o.status for o in report.outcomes] == ["failed", "done"]
    assert "cannot make the folder" in report.outcomes[0].message
    # A Python-made job list: an output that is another job's input is refused.
    jobs = [batch.Job("one", "edit", {"photo": tmp_path / "a.jpg"}, tmp_path / "b.jpg"),
            batch.Job("two", "edit", {"photo": tmp_path / "b.jpg"}, out / "b.jpg")]
    report = batch.run_batch(jobs, workers=1)
    assert report.outcomes[0].status == "failed" and "input of two" in report.outcomes[0].message
    assert (tmp_path / "b.jpg").read_bytes() == b"B"


def test_output_folder_and_summary_are_checked_against_the_inputs(folder, tmp_path):
    with pytest.raises(InputError, match="folder of the inputs"):
        batch.run(folder, folder, op="edit", smile=0.5)
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("photo\nphotos/a.jpg\n")
    with pytest.raises(InputError, match="is the job file"):
        batch.run(jobs, tmp_path / "out", summary=jobs)
    assert jobs.read_text() == "photo\nphotos/a.jpg\n"
    # An output folder that holds the source folder is fine (its files are inputs, not old outputs).
    planned = batch.jobs_from(folder, "edit", tmp_path, {"smile": 0.5})
    assert len(planned) == 4 and all(j.output.parent.is_relative_to(tmp_path) for j in planned)
    with pytest.raises(InputError, match="one file; give a folder or a .csv"):
        batch.jobs_from(folder / "a.jpg", "edit", tmp_path / "out")


def test_job_file_quirks_of_spreadsheets(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("\ufeffop,photo,au,\nEdit,a.jpg,\"12=0.8, 6=0.4\",\n,,,\n\nedit,b.jpg,12=1,\n")
    planned = batch.jobs_from(jobs, "edit", tmp_path / "out", {})
    assert [j.name for j in planned] == ["row 2", "row 5"]  # empty rows skipped, named by their line
    assert planned[0].error is None and planned[0].options == {"au": {"12": 0.8, "6": 0.4}}
    assert planned[1].output == tmp_path / "out" / "b.jpg"
    jobs.write_text("photo,au,output\na.jpg,12=0.8,6=0.4,x.jpg\n")
    with pytest.raises(InputError, match="more cells than columns"):
        batch.jobs_from(jobs, "edit", tmp_path / "out")
    jobs.write_text("photo;emotion\na.jpg;happy\n")
    with pytest.raises(InputError, match="comma-separated"):
        batch.jobs_from(jobs, "edit", tmp_path / "out")
    jobs.write_text("photo\na.jpg\n")
    with pytest.raises(InputError, match="intensty is an option of none"):
        batch.jobs_from(jobs, "edit", tmp_path / "out", {"intensty": 0.5})
    # An op cell of spaces is the batch's op; a row with an unknown op fails alone.
    jobs.write_text("photo,op\na.jpg, \nb.jpg,edti\n")
    planned = batch.jobs_from(jobs, "edit", tmp_path / "out", {"smile": 0.5})
    assert planned[0].op == "edit" and planned[0].error is None and planned[0].options == {"smile": 0.5}
    assert "unknown op 'edti'" in planned[1].error


def test_complete_means_the_whole_file_decodes(data, tmp_path):
    photo = mien.read_photo(data / "london" / "020" / "neutral.jpg")
    for name in ("p.jpg", "p.heic", "p.png"):
        mien.write_photo(tmp_path / name, photo.pixels)
        assert batch.is_complete(tmp_path / name, "edit"), name
        data_bytes = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(data_bytes[: len(data_bytes) * 3 // 4])
        assert not batch.is_complete(tmp_path / f"cut-{name}", "edit"), name
    clip = data / "video" / "talking_woman_2s.mp4"
    assert batch.is_complete(clip, "video")
    whole = clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    assert not batch.is_complete(tmp_path / "cut.mp4", "video")
    assert not batch.is_complete(tmp_path / "missing.jpg", "edit")


def test_a_bug_gets_one_line_in_the_summary_and_its_traceback_in_the_log(tmp_path, monkeypatch):
    def broken(job):
        raise ValueError("bug here")

    monkeypatch.setattr(batch, "_run", broken)
    job = batch.Job("j", "edit", {"photo": tmp_path / "a.jpg"}, tmp_path / "o.jpg")
    outcome = batch.run_job(job)
    assert outcome.status == "failed" and "ValueError: bug here" in outcome.message
    assert "\n" not in outcome.message and "Traceback" in outcome.detail
    recorder = batch._Recorder([job], {}, tmp_path / "s.csv", None)
    recorder.record(0, outcome)
    recorder.flush(force=True)
    assert "ValueError: bug here" in (tmp_path / "s.log").read_text()
    assert summary_rows(tmp_path / "s.csv")["j"]["status"] == "failed"


def test_a_shipped_job_works_from_bytes_and_gives_the_worker_back_as_it_was(data, tmp_path):
    """What a Ray task runs, called here: the photo arrives as bytes, the edit's bytes come
    back (the same as a local run's), messages name the user's paths, and the process's
    settings are restored (Ray reuses its workers for other work)."""
    import logging

    import cv2

    from mien import identity

    photo = data / "london" / "020" / "neutral.jpg"
    job = batch.Job("a", "edit", {"photo": photo}, tmp_path / "out" / "a.jpg", {"smile": 0.5})
    before = (cv2.getNumThreads(), identity.HELPER, logging.getLogger("mien").propagate)
    outcome, data_out = batch._shipped(job, {"photo": photo.read_bytes()}, 1)
    assert outcome.status == "done" and outcome.job is job
    direct = mien.edit_files(photo, tmp_path / "direct.jpg", smile=0.5)
    assert data_out == direct.read_bytes()
    assert (cv2.getNumThreads(), identity.HELPER, logging.getLogger("mien").propagate) == before
    broken = batch.Job("b", "edit", {"photo": tmp_path / "mine.jpg"}, tmp_path / "out" / "b.jpg", {"smile": 0.5})
    outcome, data_out = batch._shipped(broken, {"photo": b"not a photo"}, 1)
    assert outcome.status == "failed" and data_out is None
    assert str(tmp_path / "mine.jpg") in outcome.message and "mien-batch-" not in outcome.message
