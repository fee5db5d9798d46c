"""Interpolation between two photos of one person (seed 001 Algorithm 2; issue 10)."""

from pathlib import Path

import numpy as np
import pytest

from mien.controls.interpolate import Interpolator, between, check_t, interpolate, interpolate_files
from mien.errors import FaceMismatchError, InputError
from mien.io import read_photo

DATA = Path(__file__).parent / "data" / "london"


@pytest.fixture(scope="module")
def pair():
    a = read_photo(DATA / "020" / "neutral.jpg").pixels
    b = read_photo(DATA / "020" / "happy.jpg").pixels
    return a, b


@pytest.fixture(scope="module")
def engine(pair):
    return Interpolator(*pair)


def test_endpoints_bit_identical(engine, pair):
    a, b = pair
    out0, out1 = engine(0.0), engine(1)
    assert out0.dtype == a.dtype and np.array_equal(out0, a)
    assert np.array_equal(out1, b)
    assert out0 is not a  # a copy, not the caller's array


def test_geometry_endpoints_and_middle(engine):
    a, b = engine.a, engine.b
    assert np.allclose(between(a, b, 0.0), a.face.landmarks)
    assert np.allclose(between(a, b, 1.0), b.face.landmarks)
    mid = between(a, b, 0.5)
    mean = (a.face.landmarks + b.face.landmarks) / 2
    # Interpolated in the pose-free frame, then placed: close to the plain mean for two
    # near-frontal shots (it differs only by the pose fit's nonlinearity).
    assert np.abs(mid[:, :2] - mean[:, :2]).mean() < 0.2 * np.abs(a.face.landmarks[:, :2] - b.face.landmarks[:, :2]).mean() + 0.5


def test_middle_lies_between(engine):
    from mien.detect import analyze

    a, b = engine.a.face.landmarks[:, :2], engine.b.face.landmarks[:, :2]
    mid = engine(0.5)
    assert mid.shape == engine.sa.pixels.shape and mid.dtype == np.uint8
    found = analyze(mid)
    assert found
    got = found[0].landmarks[:, :2]
    spread = np.abs(a - b).mean()
    err = np.abs(got - (a + b) / 2).mean()
    assert spread > 3  # the pair really differs (a smile)
    assert err < 0.35 * spread, (err, spread)
    # The mouth corners (a smile widens the mouth) lie between A's and B's.
    width = lambda p: np.linalg.norm(p[61] - p[291])  # noqa: E731
    assert min(width(a), width(b)) - 2 < width(got) < max(width(a), width(b)) + 2
    # The image itself is between: closer to each end than the ends are to each other.
    pa, pb, pm = (x.astype(np.float64) for x in (engine.sa.pixels, engine.sb.pixels, mid))
    d_ab = np.abs(pa - pb).mean()
    assert np.abs(pm - pa).mean() < d_ab and np.abs(pm - pb).mean() < d_ab


def test_confidence_prefers_the_unstretched_side(engine):
    bl, _, _ = engine.blend(0.5)
    assert bl.alpha.shape == tuple(bl.grid.size)
    assert 0.0 <= bl.alpha.min() and bl.alpha.max() <= 1.0
    # Where A's warp magnifies (the closed lips opened toward the smile) B's weight rises.
    mouth = (bl.target[13, :2] + bl.target[14, :2]) / 2
    x, y = np.round(bl.grid.to_work(mouth)).astype(int)
    assert bl.confidence_a[y, x] < bl.confidence_b[y, x]
    assert bl.alpha[y, x] > 0.55 > np.median(bl.alpha) - 0.02
    # Off the face (outside both warps) the blend is the plain cross-fade weight t.
    assert bl.alpha[0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "half", None])
def test_bad_t_refused(engine, bad):
    with pytest.raises(InputError) as info:
        engine(bad)
    assert info.value.param == "t"
    with pytest.raises(InputError):
        check_t(bad)


def test_stranger_refused_and_force(pair):
    a, _ = pair
    stranger = read_photo(DATA / "036" / "neutral.jpg").pixels
    with pytest.raises(FaceMismatchError, match="different person"):
        interpolate(a, stranger, 0.5)
    assert Interpolator(a, stranger, force=True).distance is None


def test_different_sizes_refused(pair):
    a, b = pair
    with pytest.raises(InputError, match="same size"):
        Interpolator(a, b[:-10])


def test_animated_webp_has_n_frames(tmp_path, pair):
    from PIL import Image

    out = tmp_path / "morph.webp"
    interpolate_files(DATA / "020" / "neutral.jpg", DATA / "020" / "happy.jpg", out, frames=4, fps=12)
    with Image.open(out) as im:
        assert im.n_frames == 4
        im.seek(0)
        first = np.asarray(im.convert("RGB"))
    assert first.shape == pair[0].shape


def test_single_photo_and_png_sequence(tmp_path):
    a, b = DATA / "020" / "neutral.jpg", DATA / "020" / "happy.jpg"
    one = interpolate_files(a, b, tmp_path / "mid.png", at=0.0)
    assert np.array_equal(read_photo(one).pixels, read_photo(a).pixels)
    seq = tmp_path / "seq"
    seen = []
    interpolate_files(a, b, seq, frames=3, frame_done=lambda done, total: seen.append(done))
    assert seen == [1, 2, 3]
    names = sorted(p.name for p in seq.iterdir())
    assert names == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    assert np.array_equal(read_photo(seq / "frame_0002.png").pixels, read_photo(b).pixels)
    with pytest.raises(InputError):
        interpolate_files(a, b, tmp_path / "x.png", frames=3)
    with pytest.raises(InputError):
        interpolate_files(a, b, tmp_path / "y.png", at=2.0)


def test_cli_interpolate(tmp_path):
    from typer.testing import CliRunner

    from mien.cli import app

    a, b = str(DATA / "020" / "neutral.jpg"), str(DATA / "020" / "happy.jpg")
    runner = CliRunner()
    res = runner.invoke(app, ["interpolate", a, b, "-o", str(tmp_path / "one.png"), "--at", "1"])
    assert res.exit_code == 0, res.output
    assert np.array_equal(read_photo(tmp_path / "one.png").pixels, read_photo(b).pixels)
    res = runner.invoke(app, ["interpolate", a, b, "-o", str(tmp_path / "one.png"), "--at", "1.5"])
    assert res.exit_code == 2 and "between 0" in res.output
    res = runner.invoke(app, ["interpolate", a, str(DATA / "036" / "happy.jpg"), "-o", str(tmp_path / "s.png"),
                              "--at", "0.5"])
    assert res.exit_code == 2 and "different person" in res.output
    res = runner.invoke(app, ["interpolate", a, b, "-o", str(tmp_path / "no" / "x.mp4")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_control_scene(engine):
    from mien.controls.interpolate import Interpolation

    a, b = engine.a, engine.b
    assert Interpolation(a, b, 0.0).scene(a).changes_nothing
    scene = Interpolation(a, b, 0.5).scene(a)
    assert scene.face is a.face and np.allclose(scene.target, between(a, b, 0.5))
    with pytest.raises(InputError):
        Interpolation(a, b, 2.0)


def test_mp4_sequence_streams_every_frame_and_limits_are_checked_first(tmp_path, monkeypatch):
    import av

    from mien.controls import interpolate as module

    a, b = DATA / "020" / "neutral.jpg", DATA / "020" / "happy.jpg"
    seen = []
    out = interpolate_files(a, b, tmp_path / "morph.mp4", frames=3, fps=10,
                            frame_done=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 3
    end = read_photo(b).pixels[: frames[-1].shape[0], : frames[-1].shape[1]]
    assert np.abs(frames[-1].astype(int) - end).mean() < 3  # the last frame is B (through H.264)
    with pytest.raises(InputError, match="at most 14400"):
        interpolate_files(a, b, tmp_path / "long.mp4", frames=module.MAX_FRAMES + 1)
    monkeypatch.setattr(module, "MAX_ANIMATION_BYTES", 4 * 1350 * 1350 * 3)
    with pytest.raises(InputError, match="too many for an animated WEBP"):
        interpolate_files(a, b, tmp_path / "big.webp", frames=5)
    assert not (tmp_path / "long.mp4").exists() and not (tmp_path / "big.webp").exists()
