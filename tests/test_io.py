"""Image I/O: orientation, colour modes, bit depth, metadata, atomic and safe writing."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageCms

import mien
import mien.io.photo
from mien.errors import InputError
from mien.io.photo import EDIT_NOTE, read_photo, write_photo


def _gradient(h=40, w=60):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4 % 256, y * 6 % 256, (x + y) * 3 % 256], -1).astype(np.uint8)


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_exif_orientation_is_applied_on_read_and_reset_on_write(tmp_path):
    img = _gradient()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    Image.fromarray(img).save(path, exif=exif.tobytes(), quality=100, subsampling=0)
    photo = read_photo(path)
    assert photo.size == (60, 40)
    upright = np.rot90(img, -1)
    assert np.abs(photo.pixels.astype(int) - upright).mean() < 3
    out = write_photo(tmp_path / "out.jpg", photo.pixels, like=photo)
    with Image.open(out) as im:
        assert im.size == (40, 60)
        assert im.getexif()[0x0112] == 1
        assert im.getexif()[0x0131] == EDIT_NOTE


def test_icc_profile_and_exif_survive(tmp_path):
    icc = _srgb_icc()
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    path = tmp_path / "in.jpg"
    Image.fromarray(_gradient()).save(path, icc_profile=icc, exif=exif.tobytes())
    photo = read_photo(path)
    for ext in ("jpg", "png", "webp", "tif", "heic"):
        out = write_photo(tmp_path / f"out.{ext}", photo.pixels, like=photo)
        with Image.open(out) as im:
            assert im.info.get("icc_profile") == icc, ext
            if ext != "png":
                assert im.getexif().get(0x010F) == "CameraMaker", ext


def test_png_records_the_edit(tmp_path):
    out = write_photo(tmp_path / "o.png", _gradient())
    with Image.open(out) as im:
        assert im.info["Software"] == EDIT_NOTE


def test_rgba_alpha_is_kept(tmp_path):
    rgba = np.dstack([_gradient(), np.linspace(0, 255, 60, dtype=np.uint8)[None].repeat(40, 0)])
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    photo = read_photo(path)
    assert photo.pixels.shape == (40, 60, 3) and photo.alpha is not None
    out = write_photo(tmp_path / "b.png", photo.pixels, like=photo)
    assert np.array_equal(np.asarray(Image.open(out)), rgba)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_colour_round_trips_exactly(tmp_path, ext, rng):
    deep = rng.integers(0, 65536, (30, 50, 3), dtype=np.uint16)
    path = tmp_path / f"deep.{ext}"
    if ext == "png":
        import cv2

        cv2.imwrite(str(path), deep[:, :, ::-1])
    else:
        import tifffile

        tifffile.imwrite(path, deep, photometric="rgb")
    photo = read_photo(path)
    assert photo.pixels.dtype == np.uint16
    assert np.array_equal(photo.pixels, deep)
    out = write_photo(tmp_path / f"out.{ext}", photo.pixels, like=photo)
    assert np.array_equal(read_photo(out).pixels, deep)


def test_16bit_grey_and_8bit_grey_stay_grey(tmp_path):
    grey16 = (np.arange(40 * 60).reshape(40, 60) * 27).astype(np.uint16)
    p16 = tmp_path / "g16.png"
    Image.fromarray(grey16).save(p16)
    photo = read_photo(p16)
    assert photo.pixels.dtype == np.uint16 and photo.is_greyscale
    assert np.array_equal(photo.pixels[:, :, 0], grey16)
    out = write_photo(tmp_path / "g16o.png", photo.pixels, like=photo)
    assert np.array_equal(read_photo(out).pixels[:, :, 0], grey16)

    p8 = tmp_path / "g8.jpg"
    Image.fromarray(_gradient()[:, :, 0]).save(p8)
    photo8 = read_photo(p8)
    out8 = write_photo(tmp_path / "g8o.jpg", photo8.pixels, like=photo8)
    assert Image.open(out8).mode == "L"


def test_cmyk_and_palette_become_rgb(tmp_path):
    rgb = Image.fromarray(_gradient())
    rgb.convert("CMYK").save(tmp_path / "c.jpg")
    photo = read_photo(tmp_path / "c.jpg")
    assert photo.pixels.shape == (40, 60, 3) and photo.mode == "CMYK"
    assert np.abs(photo.pixels.astype(int) - _gradient()).mean() < 12
    rgb.convert("P").save(tmp_path / "p.png")
    assert read_photo(tmp_path / "p.png").pixels.shape == (40, 60, 3)


def test_unreadable_inputs_get_clear_errors(tmp_path, data):
    with pytest.raises(InputError, match="no such file"):
        read_photo(tmp_path / "missing.jpg")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="not an image"):
        read_photo(tmp_path / "notes.txt")
    whole = (data / "london" / "020" / "neutral.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_photo(tmp_path / "cut.jpg")
    with pytest.raises(InputError, match="folder"):
        read_photo(tmp_path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    Image.fromarray(_gradient()).save(tmp_path / "big.png")
    monkeypatch.setattr(mien.io.photo, "MAX_PIXELS", 1000)
    with pytest.raises(InputError, match="megapixels"):
        read_photo(tmp_path / "big.png")


def test_writing_never_overwrites_an_input_and_is_atomic(tmp_path):
    src = tmp_path / "in.png"
    write_photo(src, _gradient())
    before = src.read_bytes()
    photo = read_photo(src)
    with pytest.raises(InputError, match="never overwrites"):
        write_photo(src, photo.pixels, like=photo)
    with pytest.raises(InputError, match="never overwrites"):
        write_photo(tmp_path / "." / "in.png", photo.pixels, protect=[src])
    assert src.read_bytes() == before
    with pytest.raises(InputError, match="unknown output type"):
        write_photo(tmp_path / "out.bmpx", photo.pixels)
    with pytest.raises(InputError, match="does not exist"):
        write_photo(tmp_path / "nowhere" / "out.png", photo.pixels)
    assert sorted(os.listdir(tmp_path)) == ["in.png"]  # no temporary files left behind


def test_failed_encode_leaves_nothing(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError):
        write_photo(tmp_path / "x.jpg", _gradient())
    assert os.listdir(tmp_path) == []
