"""Temporal smoothing (temporal.py) and pivot choice (pivots.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mien.expression import Expression, Frame, rotation_matrix
from mien.pivots import Sample, choose
from mien.temporal import (average_codes, average_frames, code_vector, fade_weights, hanning_weights, smooth_at,
                           vector_code)


def test_radius_one_is_seed_003s_window():
    assert hanning_weights(1) == pytest.approx([0.25, 0.5, 0.25])
    assert hanning_weights(0) == pytest.approx([1.0])
    w = hanning_weights(4)
    assert w.sum() == pytest.approx(1.0) and w[4] == w.max() and w == pytest.approx(w[::-1])


def test_smoothing_removes_alternating_noise_and_keeps_a_ramp():
    values = [Expression({"12": 0.5 + (0.1 if i % 2 else -0.1)}) for i in range(9)]
    segs = [0] * 9
    mid = smooth_at(values, segs, 4, 1, average_codes)
    assert mid.values["12"] == pytest.approx(0.5)  # 0.25*0.6 + 0.5*0.4 + 0.25*0.6: frame-to-frame noise gone
    ramp = [Expression({"12": 0.1 * i}) for i in range(9)]
    assert smooth_at(ramp, segs, 4, 2, average_codes).values["12"] == pytest.approx(0.4)


def test_smoothing_never_crosses_a_segment():
    values = [Expression({"12": 0.0})] * 4 + [Expression({"12": 1.0})] * 4
    segs = [0] * 4 + [1] * 4
    assert smooth_at(values, segs, 3, 2, average_codes).values.get("12", 0.0) == pytest.approx(0.0)
    assert smooth_at(values, segs, 4, 2, average_codes).values["12"] == pytest.approx(1.0)
    # Missing values (no face) are skipped, not averaged as zero.
    gaps = [Expression({"12": 1.0}), None, Expression({"12": 1.0})]
    assert smooth_at(gaps, [0, 0, 0], 0, 1, average_codes).values["12"] == pytest.approx(1.0)


def test_code_vector_round_trips():
    code = Expression({"12": 0.3, "43L": 1.0, "smile": -0.2})
    assert vector_code(code_vector(code)).values == pytest.approx(code.values)


@settings(max_examples=30, deadline=None)
@given(st.floats(-20, 20), st.floats(-20, 20), st.floats(-20, 20), st.floats(0, 3))
def test_averaging_a_pose_with_itself_returns_it(yaw, pitch, roll, noise):
    rot = rotation_matrix(yaw, pitch, roll)
    f = Frame(3.0, rot, np.array([100.0, 50.0, 0.0]))
    avg = average_frames([f, f, f], hanning_weights(1))
    assert avg.rotation == pytest.approx(rot, abs=1e-9) and avg.scale == pytest.approx(3.0)
    # Symmetric noise around a pose averages back to (nearly) it, and stays a rotation.
    a = Frame(3.0, rot @ rotation_matrix(noise, 0, 0), f.translation + noise)
    b = Frame(3.0, rot @ rotation_matrix(-noise, 0, 0), f.translation - noise)
    avg = average_frames([a, f, b], hanning_weights(1))
    assert avg.rotation @ avg.rotation.T == pytest.approx(np.eye(3), abs=1e-9)
    assert np.linalg.det(avg.rotation) == pytest.approx(1.0)
    assert avg.rotation == pytest.approx(rot, abs=1e-3) and avg.translation == pytest.approx(f.translation)


def test_fade_is_zero_on_unusable_frames_and_ramps_both_ways():
    usable = [True] * 10 + [False] * 2 + [True] * 10
    w = fade_weights(usable, 4)
    assert w[10] == 0 and w[11] == 0
    assert w[9] == pytest.approx(0.25) and w[6] == pytest.approx(1.0)
    assert w[12] == pytest.approx(0.25) and w[15] == pytest.approx(1.0)
    assert fade_weights([True] * 5, 4) == pytest.approx(np.ones(5))


def _sample(i, yaw, smile):
    return Sample(i, None, np.array([smile]), (yaw, 0.0, 0.0))


def test_pivots_cover_distinct_poses_and_expressions():
    samples = ([_sample(i, 0.0, 0.0) for i in range(20)] + [_sample(20 + i, 30.0, 0.0) for i in range(20)]
               + [_sample(40 + i, 0.0, 1.0) for i in range(5)])
    picked = choose(samples, k=3)
    kinds = {(s.pose[0], float(s.code[0])) for s in picked}
    assert kinds == {(0.0, 0.0), (30.0, 0.0), (0.0, 1.0)}
    assert [s.index for s in picked] == sorted(s.index for s in picked)
    assert choose(samples, k=3) == picked  # deterministic


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(1, 8))
def test_fade_weight_is_the_distance_to_the_nearest_unusable_frame(usable, fade):
    w = fade_weights(usable, fade)
    bad = [i for i, ok in enumerate(usable) if not ok]
    for i in range(len(usable)):
        dist = min((abs(i - j) for j in bad), default=10**6)
        assert w[i] == pytest.approx(min(1.0, dist / fade))


def test_window_is_cut_at_the_ends_of_the_clip():
    values = [Expression({"12": float(i)}) for i in range(5)]
    assert smooth_at(values, [0] * 5, 4, 2, average_codes).values["12"] == pytest.approx(
        (0.25 * 2 + 0.75 * 3 + 1.0 * 4) / 2.0)
    assert smooth_at(values, [0] * 5, 0, 0, average_codes) is values[0]
    with pytest.raises(ValueError):
        hanning_weights(-1)


def test_fewer_samples_than_pivots_gives_every_sample():
    samples = [_sample(i, float(i), 0.0) for i in range(4)]
    assert choose(samples, k=16) == samples
    assert choose([], k=3) == []


def _open_sample(i, gap, yaw, crop=True):
    from mien import mesh
    from mien.face import Face

    verts, _ = mesh.canonical()
    lm = np.zeros((478, 3), np.float32)
    lm[:468] = verts[:468] * np.array([40, -40, -40])
    lm[:, :2] += 300
    lm[468:, :2] = lm[[33] * 10, :2]
    lm[14, :2] = lm[13, :2] + [0, gap * np.linalg.norm(lm[33, :2] - lm[263, :2])]  # inner lips gap IOD apart
    face = Face(0, lm, (0, 0, 600, 600), 1.0, (600, 600))
    return Sample(i, face, np.zeros(1), (yaw, 0.0, 0.0), np.zeros((4, 4, 3), np.uint8) if crop else None,
                  face if crop else None)


def test_mouth_frame_is_open_and_near_the_usual_pose():
    from mien.pivots import mouth_source

    closed = [_open_sample(i, 0.0, 0.0) for i in range(10)]
    wide_turned = _open_sample(20, 0.14, 40.0)
    open_front = _open_sample(21, 0.12, 2.0)
    no_crop = _open_sample(22, 0.15, 0.0, crop=False)
    samples = closed + [wide_turned, open_front, no_crop]
    assert mouth_source(samples, samples) is open_front
    assert mouth_source(samples, closed) is open_front  # no open pivot: any open sample
    assert mouth_source(closed, closed) is None
