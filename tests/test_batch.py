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
    with path.open(newline="") as f:
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
    on_ray = batch.run(folder, tmp_path / "ray", op="edit", emotion="surprised", intensity=0.7, ray="local",
                       workers=2)
    assert on_ray.count("done") == local.count("done") == 3
    for outcome in local.outcomes:
        name = outcome.job.output.relative_to(tmp_path / "local")
        assert (tmp_path / "ray" / name).read_bytes() == outcome.job.output.read_bytes()


def test_a_transfer_batch_puts_one_expression_on_every_shot_of_a_folder(data, tmp_path):
    shots = tmp_path / "burst"
    shots.mkdir()
    shutil.copy(data / "london" / "020" / "neutral.jpg", shots / "1.jpg")
    pixels = mien.read_photo(data / "london" / "020" / "neutral.jpg").pixels
    mien.write_photo(shots / "2.png", np.ascontiguousarray(pixels[:, ::-1]))  # another shot: mirrored
    shutil.copy(data / "london" / "020" / "happy.jpg", shots / "smile.jpg")  # the expression, in the folder
    report = batch.run(shots, tmp_path / "out", op="transfer", expression=shots / "smile.jpg", regions="mouth",
                       workers=1)
    assert {o.job.name: o.status for o in report.outcomes} == {"1.jpg": "done", "2.png": "done"}
    assert (tmp_path / "out" / "2.png").exists()
    direct = mien.transfer_files(shots / "1.jpg", shots / "smile.jpg", tmp_path / "direct.jpg", regions="mouth")
    assert direct.read_bytes() == (tmp_path / "out" / "1.jpg").read_bytes()
