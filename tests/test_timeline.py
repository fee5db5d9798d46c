"""Keyframes (controls/timeline.py) and the linear Edit they interpolate."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mien.controls.code import Edit, Request
from mien.controls.timeline import Timeline
from mien.errors import InputError
from mien.expression import Expression, emotion_code


def _amount(edit: Edit, name: str) -> float:
    return edit.code.values.get(name, 0.0)


def test_issue_example_interpolates_linearly_and_holds_at_the_ends():
    tl = Timeline.parse("0s:none, 4s:happy@0.6, 12s:happy@0.6, 13s:none")
    happy = emotion_code("happy", 0.6)
    name = max(happy.values, key=lambda k: abs(happy.values[k]))
    full = happy.values[name]
    assert tl.at(0.0, 25).is_empty
    assert _amount(tl.at(2.0, 25), name) == pytest.approx(full / 2)
    assert _amount(tl.at(4.0, 25), name) == pytest.approx(full)
    assert _amount(tl.at(8.0, 25), name) == pytest.approx(full)
    assert _amount(tl.at(12.5, 25), name) == pytest.approx(full / 2)
    assert tl.at(13.0, 25).is_empty and tl.at(100.0, 25).is_empty


def test_frame_numbers_and_minutes_seconds_resolve_with_the_clip_rate():
    tl = Timeline.parse("0f:none, 50f:smile=1")
    assert _amount(tl.at(1.0, 50), "smile") == pytest.approx(Request(sliders={"smile": 1}).code().values["smile"])
    assert _amount(tl.at(0.5, 50), "smile") == pytest.approx(_amount(tl.at(1.0, 50), "smile") / 2)
    t2 = Timeline.parse("0:00:none, 1:02.5:smile=1")
    assert t2.resolved(25)[1][0] == pytest.approx(62.5)


def test_every_kind_of_control_can_be_keyframed():
    tl = Timeline.parse("0s:none, 1s:happy@0.5+au12L=0.4+gaze-x=0.3+yaw=6+magnify=1.5, 2s:neutral")
    mid = tl.at(1.0, 25)
    assert _amount(mid, "12L") == pytest.approx(0.4)
    assert mid.rotation[0] == pytest.approx(6.0)
    assert mid.on_current == pytest.approx(0.5)
    # neutral removes the current expression: at 2 s the whole of it.
    assert tl.at(2.0, 25).on_current == pytest.approx(-1.0)
    assert tl.at(1.5, 25).on_current == pytest.approx(-0.25)
    assert tl.needs_current


def test_json_keyframes_match_the_text_form():
    data = {"keyframes": [{"time": 0}, {"time": "4s", "emotion": "happy", "intensity": 0.6},
                          {"frame": 300, "smile": 0.4, "au": {"12": 0.5}}]}
    tl = Timeline.from_json(json.dumps(data))
    text = Timeline.parse("0s:none, 4s:happy@0.6, 300f:smile=0.4+au12=0.5")
    for t in (0.0, 2.0, 4.0, 7.0, 12.0, 20.0):
        a, b = tl.at(t, 25), text.at(t, 25)
        assert a.code.values.keys() == b.code.values.keys()
        for k in a.code.values:
            assert a.code.values[k] == pytest.approx(b.code.values[k])


@pytest.mark.parametrize("text, word", [
    ("4s happy", "TIME:CONTROLS"), ("4:happy", "seconds"), ("4s:joyful", "not a control"),
    ("4s:smile=lots", "number"), ("4s:wiggle=1", "unknown control"), ("4s:happy@2", "intensity"),
    ("4s:smile=3", "smile"), ("1s:happy, 1s:sad", "same time"), ("", "at least one"),
    ("4s:happy+sad", "one emotion"), ("4s:au99=1", "Action Unit"),
])
def test_bad_keyframes_say_what_is_wrong(text, word):
    with pytest.raises(InputError, match=word) as err:
        Timeline.parse(text).resolved(25)
    assert err.value.param in ("keyframes", "intensity", "smile", "au")


@pytest.mark.parametrize("data, word", [
    ("not json", "not JSON"), ({"keys": []}, "keyframes"), ([{"emotion": "happy"}], "exactly one"),
    ([{"time": 1, "frame": 3}], "exactly one"), ([{"time": -1}], "0 or more"), ([{"frame": 1.5}], "whole"),
    ([{"time": 1, "colour": "red"}], "colour"),
])
def test_bad_keyframe_files_say_what_is_wrong(data, word):
    with pytest.raises(InputError, match=word):
        Timeline.from_json(data if isinstance(data, str) else json.dumps(data))


def test_missing_keyframe_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        Timeline.load(tmp_path / "nope.json")


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 1), st.floats(-1, 1), st.floats(0, 1.5), st.floats(-10, 10))
def test_edit_change_is_linear_in_the_current_code(t, smile, magnify, yaw):
    a = Request.from_controls(smile=smile, yaw=yaw).edit
    b = Request.from_controls(emotion="sad", intensity=0.7, magnify=magnify).edit
    current = Expression({"12": 0.3, "6": 0.2})
    canonical = np.zeros((478, 3))
    mixed = a.lerp(b, t).change(canonical, current)
    expect = a.change(canonical, current) * (1 - t) + b.change(canonical, current) * t
    for k in set(mixed.values) | set(expect.values):
        assert mixed.values.get(k, 0.0) == pytest.approx(expect.values.get(k, 0.0), abs=1e-9)
    assert a.lerp(b, t).rotation[0] == pytest.approx((1 - t) * yaw)


def test_request_edit_gives_the_same_change_as_before():
    current = Expression({"12": 0.4, "1": 0.2})
    saved = Expression({"4": 0.5})
    canonical = np.zeros((478, 3))
    for req in (Request.from_controls(emotion="happy", intensity=0.8), Request.from_controls(keep=0.3, smile=0.2),
                Request.from_controls(emotion="neutral"), Request.from_controls(expression=saved, brows=0.4)):
        change = req.edit.change(canonical, current if req.needs_current else None)
        expect = req.code() + (req.current_terms(current) if req.needs_current else Expression({}))
        for k in set(change.values) | set(expect.values):
            assert change.values.get(k, 0.0) == pytest.approx(expect.values.get(k, 0.0))


def test_neutralize_none_and_combinations():
    tl = Timeline.parse("1s:neutralize, 2s:none+smile=0.5, 3s:neutralise+au12=0.3")
    assert tl.at(0.0, 25).on_current == pytest.approx(-1.0)  # held before the first key
    assert tl.at(2.0, 25).on_current == 0 and _amount(tl.at(2.0, 25), "smile") > 0
    assert tl.at(3.0, 25).on_current == pytest.approx(-1.0) and _amount(tl.at(3.0, 25), "12") == pytest.approx(0.3)
    assert Timeline.constant(Request.from_controls(smile=0.5).edit).at(99.0, 25) == \
        Timeline.parse("0s:smile=0.5").at(1.0, 25)


@pytest.mark.parametrize("text, word", [
    ("4s:happy+", "empty control"), ("4s:intensity=0.5", "unknown control"), ("4s:au12=x", "number"),
    ("4s:happy@x", "number"),
])
def test_more_bad_controls(text, word):
    with pytest.raises(InputError, match=word) as err:
        Timeline.parse(text)
    assert err.value.param == "keyframes" and "4s:" in str(err.value)


@pytest.mark.parametrize("data, word", [
    ("[1", "not JSON"), ({"keys": []}, "keyframes"), ([3], "keyframe 0 must be an object"),
    ([{"time": "soon"}], "keyframe 0"), ([{"time": [1]}], "number of seconds"), ([{"time": -1}], "0 or more"),
    ([{"time": 0}, {"frame": True}], "keyframe 1: frame must be a whole number"),
    ([{"time": 1, "colour": "red"}], "keyframe 0"),
])
def test_bad_keyframe_files_name_the_key_and_the_parameter(data, word):
    with pytest.raises(InputError, match=word) as err:
        Timeline.from_json(data if isinstance(data, str) else json.dumps(data))
    assert err.value.param == "keyframes"


def test_keyframe_file_loads(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"time": 0}, {"time": 2, "smile": 1}]))
    assert _amount(Timeline.load(path).at(1.0, 25), "smile") == pytest.approx(
        _amount(Timeline.parse("2s:smile=1").at(2.0, 25), "smile") / 2)


def test_minutes_seconds_past_sixty_and_a_bad_au_object_are_refused():
    with pytest.raises(InputError, match="1:15"):
        Timeline.parse("0:75:happy")
    with pytest.raises(InputError, match="au must be an object"):
        Timeline.from_json([{"time": 0, "au": 5}])
    tl = Timeline.parse("0s:none, 2s:smile=1")
    assert tl.at(1.0, 25) == tl.at(1.0, 25) and _amount(tl.at(1.0, 50), "smile") == _amount(tl.at(1.0, 25), "smile")


def test_frame_keys_sit_at_their_frames_own_time_in_a_variable_rate_clip():
    """Frames 0-9 a fiftieth of a second apart, then a tenth: frame 10 is at 0.2 s, not at
    10 / average fps."""
    times = [i * 0.02 for i in range(10)] + [0.2 + i * 0.1 for i in range(10)]
    average = len(times) / (times[-1] + 0.1)
    line = Timeline.parse("0f:none, 10f:smile=1")
    full = line.at(1.0, average).code
    assert line.at(times[10], average, times).code == full  # the key's own frame: all of it
    assert line.at(times[10], average).code != full  # by average rate frame 10 would be later
    assert line.at(times[5], average, times).code == full * 0.5  # halfway between the keys' frames
    # A frame number beyond the known frames falls back to the average rate.
    assert Timeline.parse("0f:none, 99f:smile=1").resolved(average, times)[1][0] == 99 / average
