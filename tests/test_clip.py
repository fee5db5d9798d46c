"""Video editing end to end (clip.py, track.py): real clips from tests/data/video."""

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from mien.clip import edit_video, reenact, survey  # noqa: E402
from mien.detect import analyze  # noqa: E402
from mien.errors import InputError, NoFaceError  # noqa: E402
from mien.io.video import VideoWriter, read_video  # noqa: E402
from mien.retarget import opening  # noqa: E402

DATA = Path(__file__).parent / "data"
MAN = DATA / "video" / "man_neutral_to_smile.mp4"
WOMAN = DATA / "video" / "talking_woman_2s.mp4"
NO_FACE = DATA / "video" / "no_face.mp4"


def frames(path) -> list[np.ndarray]:
    with read_video(path) as reader:
        return [np.array(f.pixels) for f in reader]


def corners_minus_lips(face) -> float:
    """How far the mouth corners sit above the lips' middle, in inter-ocular units (smile > 0)."""
    p = face.points
    return float(((p[13, 1] + p[14, 1]) / 2 - (p[61, 1] + p[291, 1]) / 2) / face.interocular)


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.fixture(scope="module")
def man_keyframed(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip") / "man.mkv"
    summary = edit_video(MAN, out, keyframes="0s:none, 0.5s:none, 1.2s:happy@0.8", lossless=True)
    return summary, frames(MAN), frames(out), out


def test_keyframed_edit_keeps_untouched_frames_and_everything_outside_the_face(man_keyframed):
    summary, before, after, _ = man_keyframed
    assert len(after) == len(before) == summary.frames == 72
    # 0 .. 0.5 s: no edit, lossless: the decoded frames are bit-identical.
    for i in range(15):
        assert np.array_equal(before[i], after[i]), i
    changed_late = 0
    for i in range(40, 72):
        face = analyze(before[i])[0]
        x0, y0 = np.maximum(face.points.min(axis=0) - 0.25 * face.size, 0).astype(int)
        x1, y1 = (face.points.max(axis=0) + 0.25 * face.size).astype(int)
        outside = np.ones(before[i].shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(before[i][outside], after[i][outside]), i
        changed_late += not np.array_equal(before[i], after[i])
    assert changed_late == 32
    assert summary.edited >= 72 - 20 and summary.lips == "keep"


def test_the_emotion_shows_and_speech_is_kept(man_keyframed):
    _, before, after, _ = man_keyframed
    lift, open_in, open_out = [], [], []
    for i in range(0, 72, 3):
        a, b = analyze(before[i])[0], analyze(after[i])[0]
        open_in.append(opening(a.landmarks, a.interocular))
        open_out.append(opening(b.landmarks, b.interocular))
        if i >= 40:
            lift.append(corners_minus_lips(b) - corners_minus_lips(a))
    assert np.mean(lift) > 0.02  # mouth corners raised by the happy keyframes
    assert np.corrcoef(open_in, open_out)[0, 1] > 0.95  # the mouth opens and closes as before
    assert np.max(np.abs(np.subtract(open_in, open_out))) < 0.04


def test_audio_and_timestamps_are_kept(man_keyframed):
    *_, out = man_keyframed
    assert audio_packets(out) == audio_packets(MAN)
    with read_video(MAN) as a, read_video(out) as b:
        ta, tb = [f.time for f in a], [f.time for f in b]
    assert tb == pytest.approx(ta, abs=1e-3)


def test_no_face_anywhere_is_refused_and_nothing_written(tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(NoFaceError, match="passthrough"):
        edit_video(NO_FACE, out, emotion="happy")
    assert not out.exists() and not list(tmp_path.iterdir())
    summary = edit_video(NO_FACE, out, emotion="happy", passthrough=True)
    assert out.read_bytes() == NO_FACE.read_bytes() and summary.edited == 0


def test_covered_frames_pass_through_and_the_edit_fades(tmp_path):
    """Frames 30-39 of the clip get a grey card over the face: they are passed through
    unchanged (bit-exact, lossless), and the frames next to them are edited less."""
    covered = tmp_path / "covered.mkv"
    with read_video(MAN) as reader, VideoWriter(covered, reader, lossless=True) as writer:
        for f in reader:
            px = np.array(f.pixels)
            if 30 <= f.index < 40:
                px[40:330, 200:440] = 128
            writer.write(px, f)
    out = tmp_path / "out.mkv"
    summary = edit_video(covered, out, smile=0.8, lossless=True)
    src, res = frames(covered), frames(out)
    for i in range(30, 40):
        assert np.array_equal(src[i], res[i]), i
    assert sum(summary.passed.values()) >= 10
    diff = [np.abs(src[i].astype(int) - res[i].astype(int)).sum() for i in range(20, 30)]
    assert diff[-1] < diff[0]  # fading out toward the covered frames
    assert diff[0] > 0


def test_another_person_after_a_cut_is_not_edited(tmp_path):
    """The woman's clip spliced after the man's: a scene cut, and she is not the person
    being edited (face 0 was the man)."""
    joined = tmp_path / "joined.mkv"
    with read_video(MAN) as man, read_video(WOMAN) as woman:
        with VideoWriter(joined, man, lossless=True, audio=False) as writer:
            last = None
            for f in man:
                writer.write(np.array(f.pixels), f)
                last = f
            for f in woman:
                px = np.zeros_like(last.pixels)
                px[: f.pixels.shape[0], : f.pixels.shape[1]] = f.pixels[: px.shape[0], : px.shape[1]]
                fake = type(last)(last.index + 1 + f.index, last.time + (1 + f.index) / 30, px,
                                  pts=last.pts + (1 + f.index) * (last.duration or 512), time_base=last.time_base)
                writer.write(px, fake)
    out = tmp_path / "out.mkv"
    summary = edit_video(joined, out, smile=0.8, lossless=True, lips="free")
    src, res = frames(joined), frames(out)
    assert summary.passed["another person"] >= 30
    for i in range(80, len(src)):
        assert np.array_equal(src[i], res[i]), i


def test_portrait_animation_follows_the_driving_smile(tmp_path):
    photo = next((DATA / "london").glob("*/neutral.jpg"))
    out = tmp_path / "animated.mp4"
    summary = reenact(photo, MAN, out)
    result = frames(out)
    assert summary.frames == len(result) == 72
    assert audio_packets(out) == audio_packets(MAN)
    start, smiling = analyze(result[0])[0], analyze(result[50])[0]
    assert corners_minus_lips(smiling) - corners_minus_lips(start) > 0.03
    assert opening(smiling.landmarks, smiling.interocular) > opening(start.landmarks, start.interocular) + 0.03


def test_survey_finds_the_face_and_a_mouth_frame():
    looked = survey(MAN)
    assert looked.has_face and looked.identity is not None
    assert looked.mouth is not None and looked.mouth.crop is not None  # he smiles with teeth
    assert 1 <= len(looked.pivots) <= len(looked.samples)


def test_survey_holds_few_mouth_crops_and_checks_identity_once(monkeypatch):
    """Open-mouth crops are bounded while the clip is sampled (a 4K clip held ~1 GB), the
    mouth frame is still the best open mouth, and dlib runs for the chosen crop only."""
    import weakref

    import mien.clip as clip_module
    from mien import identity, pivots

    live, peak, calls = [], [0], [0]
    crop, descriptor = clip_module._crop, identity.plain_descriptor

    def counting_crop(pixels, face):
        out = crop(pixels, face)
        live.append(weakref.ref(out[0]))
        peak[0] = max(peak[0], sum(r() is not None for r in live))
        return out

    def counting_descriptor(pixels, face):
        calls[0] += 1
        return descriptor(pixels, face)

    monkeypatch.setattr(clip_module, "_crop", counting_crop)
    monkeypatch.setattr(identity, "plain_descriptor", counting_descriptor)
    monkeypatch.setattr(clip_module, "MOUTH_CROPS", 2)
    looked = survey(MAN)
    opened = [s for s in looked.samples if s.opening >= pivots.MOUTH_OPEN]
    assert len(live) == len(opened) > 3 and peak[0] <= 3  # two kept + the one being judged
    assert looked.mouth is not None and looked.mouth.crop is not None
    assert looked.mouth.opening >= sorted(s.opening for s in opened)[-3]  # among the widest
    assert calls[0] == 2  # the first sighting's descriptor, then the chosen crop's check
    assert sum(s.crop is not None for s in looked.samples) == 1


def test_blas_runs_on_one_thread_during_an_edit_and_is_restored():
    """numpy's OpenBLAS is put on one thread while any video edit runs (its idle worker
    spun ~20 ms of CPU per frame) and given back its thread count when the last one ends."""
    import threading

    import mien.clip as clip_module

    found = clip_module._numpy_blas()
    if found is None:
        pytest.skip("numpy without its bundled OpenBLAS")
    get, put = found
    before = int(get())

    def blas_threads() -> set[int]:
        return {int(get())}

    put(2)  # the real library, set from any thread (restored by the last edit's thread)
    try:
        assert blas_threads() == {2}
        inside = threading.Event()
        release = threading.Event()

        def other():
            with clip_module._one_blas_thread():
                inside.set()
                release.wait(5)

        t = threading.Thread(target=other)
        with clip_module._one_blas_thread():
            assert blas_threads() == {1}
            t.start()
            inside.wait(5)
        assert blas_threads() == {1}  # the other edit still runs
        release.set()
        t.join(5)
        assert blas_threads() == {2}

        @clip_module._single_blas
        def failing():
            assert blas_threads() == {1}
            raise InputError("x", param="y")

        with pytest.raises(InputError):
            failing()
        assert blas_threads() == {2}
    finally:
        put(before)


def test_plan_without_preview_renders_the_same_frame():
    """Video plans skip the working-resolution preview; the full-resolution frame is the same."""
    from mien import render
    from mien.controls.code import Request, scene_of
    from mien.io import read_photo
    from mien.session import Session

    pixels = read_photo(Path(__file__).parent / "data" / "london" / "020" / "neutral.jpg").pixels
    state = Session(pixels).faces[0]
    change = Request.from_controls(emotion="happy", intensity=0.8).edit.change(state.canonical, None)
    scene = state.lit(scene_of(state, change))
    full = render.plan(pixels, scene, work_px=192)
    lean = render.plan(pixels, scene, work_px=192, preview=False)
    assert full.preview is not None and lean.preview is None and scene.layers
    out = render.execute(pixels, full)
    assert (out != pixels).any() and np.array_equal(render.execute(pixels, lean), out)


@pytest.mark.parametrize("kwargs, param", [
    ({"keyframes": "0s:happy", "emotion": "sad"}, "keyframes"),
    ({"keyframes": "4:happy"}, "keyframes"),
    ({"lips": "sync"}, "lips"),
    ({"smooth": -1}, "smooth"),
    ({"smile": 5}, "smile"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, kwargs, param):
    out = tmp_path / "o.mp4"
    with pytest.raises(InputError) as err:
        edit_video(MAN, out, **kwargs)
    assert err.value.param == param and not out.exists()


def test_bad_paths(tmp_path):
    with pytest.raises(InputError, match="never overwrites"):
        edit_video(MAN, MAN, smile=0.5)
    with pytest.raises(InputError):
        edit_video(tmp_path / "missing.mp4", tmp_path / "o.mp4", smile=0.5)
    with pytest.raises(InputError, match="video type"):
        edit_video(MAN, tmp_path / "o.jpg", smile=0.5)


def test_a_video_re_acted_by_another_keeps_its_own_timeline_and_audio(tmp_path, monkeypatch):
    import mien.clip as clip_module

    surveyed = []
    real_survey = clip_module.survey
    monkeypatch.setattr(clip_module, "survey", lambda path, **kw: surveyed.append(Path(path).name) or
                        real_survey(path, **kw))
    out = tmp_path / "reacted.mp4"
    summary = reenact(WOMAN, MAN, out, strength=1.0)
    assert sorted(surveyed) == sorted([WOMAN.name, MAN.name])  # each clip looked at once
    before, after = frames(WOMAN), frames(out)
    assert summary.frames == len(after) == len(before) == 48
    assert audio_packets(out) == audio_packets(WOMAN)
    moved = [np.abs(a.astype(int) - b.astype(int)).max() > 16 for a, b in zip(before, after)]
    assert sum(moved) >= 40
    with pytest.raises(InputError, match="pose"):
        reenact(WOMAN, MAN, tmp_path / "x.mp4", pose="mirror")


def test_several_people_only_the_chosen_face_is_edited(tmp_path):
    """The man and the woman side by side: --face 1 (the right one) edits her only."""
    pair = tmp_path / "pair.mkv"
    import dataclasses

    with read_video(MAN) as man, read_video(WOMAN) as woman:
        wide = dataclasses.replace(woman.info, width=1280, coded_width=1280)
        with VideoWriter(pair, wide, lossless=True, audio=False, codec="ffv1") as writer:
            for a, b in zip(man, woman):
                px = np.concatenate([a.pixels, b.pixels], axis=1)
                writer.write(px, type(b)(b.index, b.time, px, b.pts, b.time_base, b.duration))
    out = tmp_path / "out.mkv"
    summary = edit_video(pair, out, face=1, smile=0.8, lossless=True, codec="ffv1")
    src, res = frames(pair), frames(out)
    assert summary.edited >= 40
    for a, b in zip(src, res):
        assert np.array_equal(a[:, :640], b[:, :640])
    assert sum(not np.array_equal(a[:, 640:], b[:, 640:]) for a, b in zip(src, res)) >= 40


def test_frames_observed_ahead_arrive_in_order_and_errors_reach_the_caller():
    import threading

    from mien.clip import _ahead

    assert list(_ahead(iter(range(50)), size=3)) == list(range(50))

    def broken():
        yield 1
        raise InputError("damaged frame", param="video")

    got = []
    with pytest.raises(InputError, match="damaged"):
        for x in _ahead(broken()):
            got.append(x)
    assert got == [1]
    # A caller that stops early stops the producer too (no thread left running).
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    for x in _ahead(endless(), size=2):
        if x == 5:
            break
    assert not any(t.name == "mien-observe" and t.is_alive() for t in threading.enumerate())
    assert len(produced) < 20


def test_interrupted_edit_leaves_nothing_behind(tmp_path):
    """Ctrl-C in the middle of a clip: no output file, no temporary file, no thread left."""
    import threading

    out = tmp_path / "out.mp4"

    def interrupt(done, total):
        if done == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        edit_video(MAN, out, smile=0.5, progress=interrupt)
    assert list(tmp_path.iterdir()) == []
    assert not any(t.name == "mien-observe" and t.is_alive() for t in threading.enumerate())


def test_progress_is_reported_during_the_survey_and_can_stop_it(tmp_path):
    """The survey (before any frame is written) reports (0, total) per sampled frame, so a
    progress bar shows work and a web job's cancel works there too."""
    calls = []
    out = tmp_path / "out.mp4"
    edit_video(MAN, out, smile=0.5, progress=lambda done, total: calls.append((done, total)))
    survey_calls = [c for c in calls if c[0] == 0]
    assert len(survey_calls) >= 8 and all(total == 72 for _, total in survey_calls)
    assert calls[-1] == (72, 72) and calls.index(survey_calls[-1]) < calls.index((1, 72))

    class Stop(Exception):
        pass

    def cancel(done, total):
        raise Stop

    with pytest.raises(Stop):
        edit_video(MAN, tmp_path / "cancelled.mp4", smile=0.5, progress=cancel)
    assert not any(p.name.startswith(("cancelled", ".cancelled")) for p in tmp_path.iterdir())


def test_a_face_that_appears_mid_clip_is_edited_from_when_it_is_there(tmp_path):
    """Twenty empty frames (a wall), then the man: the empty ones pass through as "no
    face", his are edited once found (within a few frames: the detector runs every third
    frame while nothing is tracked)."""
    clip = tmp_path / "late.mkv"
    with read_video(MAN) as reader, VideoWriter(clip, reader, lossless=True, audio=False) as writer:
        for f in reader:
            px = np.array(f.pixels)
            if f.index < 20:
                px[:] = px[5:15, 5:15].mean(axis=(0, 1)).astype(np.uint8)
            writer.write(px, f)
    out = tmp_path / "out.mkv"
    summary = edit_video(clip, out, smile=0.8, lossless=True, lips="free")
    src, res = frames(clip), frames(out)
    assert all(np.array_equal(src[i], res[i]) for i in range(20))
    assert summary.passed["no face"] == 20
    assert sum(not np.array_equal(src[i], res[i]) for i in range(20, 72)) >= 45


def _first_frames(tmp_path, n: int, audio: bool) -> Path:
    clip = tmp_path / f"first{n}.mkv"
    with read_video(MAN) as reader, VideoWriter(clip, reader, lossless=True, audio=audio) as writer:
        for f in reader:
            if f.index >= n:
                break
            writer.write(np.array(f.pixels), f)
    return clip


def test_a_silent_driving_clip_animates_without_audio(tmp_path):
    silent = _first_frames(tmp_path, 9, audio=False)
    photo = next((DATA / "london").glob("*/neutral.jpg"))
    summary = reenact(photo, silent, tmp_path / "out.mp4")
    assert summary.frames == 9 and audio_packets(tmp_path / "out.mp4") == []


def test_a_one_frame_clip_is_edited(tmp_path):
    one = _first_frames(tmp_path, 1, audio=False)
    out = tmp_path / "out.mkv"
    summary = edit_video(one, out, smile=0.8, lossless=True)
    assert summary.frames == 1 and summary.edited == 1


def test_a_face_number_beyond_the_faces_says_so(tmp_path):
    with pytest.raises(InputError, match="face 3 does not exist") as err:
        edit_video(MAN, tmp_path / "o.mp4", face=3, smile=0.5)
    assert err.value.param == "face"
    with pytest.raises(InputError):
        edit_video(MAN, tmp_path / "o.mp4", face=-1, smile=0.5)


def test_stopping_with_a_full_queue_at_the_end_leaves_no_thread():
    import threading
    import time

    from mien.clip import _ahead

    items = _ahead(iter(range(9)), size=8)
    next(items)
    time.sleep(0.3)  # the producer has queued the rest and waits to hand "done"
    started = time.perf_counter()
    items.close()
    assert time.perf_counter() - started < 1.0
    time.sleep(0.3)
    assert not any(t.name == "mien-observe" and t.is_alive() for t in threading.enumerate())


def test_keyframes_get_every_frames_own_time(tmp_path):
    """Frame-numbered keys are placed at their frame's decoded time (variable frame rate):
    the timeline is handed the times of all the clip's frames."""
    from mien.controls.timeline import Timeline

    line = Timeline.parse("0f:none, 36f:smile=0.6")
    seen = []
    real_at = line.at

    def at(seconds, fps, frame_times=None):
        seen.append(frame_times)
        return real_at(seconds, fps, frame_times)

    line.at = at
    edit_video(MAN, tmp_path / "out.mp4", keyframes=line)
    with read_video(MAN) as reader:
        times = [f.time for f in reader]
    assert seen and all(list(t) == times for t in seen)


def test_a_clip_that_states_no_length_is_sampled_once_a_second(monkeypatch):
    import dataclasses

    import mien.clip as clip_module

    def unknown_length(path):
        reader = read_video(path)
        reader.info = dataclasses.replace(reader.info, frames=0, duration=0.0, frames_exact=False)
        return reader

    monkeypatch.setattr(clip_module, "_open", unknown_length)
    calls = []
    looked = survey(MAN, progress=lambda done, total: calls.append(total))
    fps = looked.fps
    assert looked.frames == 72 and looked.has_face
    assert len(calls) == len(range(0, 72, round(fps)))  # not every one of the 72 frames
