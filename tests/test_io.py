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


# --- Metadata, alpha and bit depth through every lossless-capable output -----------------
#
# Source files below are built with Pillow, OpenCV and tifffile directly (never with
# mien's own encoder), so a broken encoder cannot also produce a matching input.

_MAKE, _SOFTWARE, _ORIENTATION, _EXIF_IFD, _GPS_IFD = 0x010F, 0x0131, 0x0112, 0x8769, 0x8825
_DATE_TAKEN = 0x9003  # DateTimeOriginal, in the Exif sub-IFD


def _camera_exif(orientation: int = 1, byteorder: str = "<") -> bytes:
    """EXIF as a camera writes it: IFD0 tags, an Exif sub-IFD and a GPS sub-IFD."""
    exif = Image.Exif()
    exif[_MAKE] = "CameraMaker"
    exif[_ORIENTATION] = orientation
    exif.get_ifd(_EXIF_IFD)[_DATE_TAKEN] = "2024:05:06 07:08:09"
    exif.get_ifd(_GPS_IFD)[1] = "N"
    exif.endian = byteorder
    return exif.tobytes()


def _assert_camera_exif(exif: Image.Exif, what: str) -> None:
    assert exif.get(_MAKE) == "CameraMaker", what
    assert exif.get(_SOFTWARE) == EDIT_NOTE, what
    assert exif.get(_ORIENTATION) == 1, what
    assert exif.get_ifd(_EXIF_IFD).get(_DATE_TAKEN) == "2024:05:06 07:08:09", what
    assert exif.get_ifd(_GPS_IFD).get(1) == "N", what


def _png_with_chunks(png: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    import struct
    import zlib

    extra = b"".join(struct.pack(">I", len(body)) + kind + body
                     + struct.pack(">I", zlib.crc32(kind + body)) for kind, body in chunks)
    return png[:33] + extra + png[33:]  # right after the signature and IHDR


def _smooth16(h=48, w=64) -> np.ndarray:
    """A smooth 16-bit RGBA gradient: thousands of levels, almost none a multiple of 257."""
    ramp = np.arange(h * w, dtype=np.float64).reshape(h, w) / (h * w - 1)
    channels = [ramp, ramp[::-1], ramp[:, ::-1], 0.25 + 0.5 * ramp.T.reshape(h, w)]
    return np.dstack([np.round(1000 + c * 64000) for c in channels]).astype(np.uint16)


def _deep_png(path, rgba16: np.ndarray, icc: bytes, exif: bytes) -> None:
    import cv2
    import zlib

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgba16, cv2.COLOR_RGBA2BGRA))
    assert ok
    body = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    path.write_bytes(_png_with_chunks(
        buf.tobytes(), [(b"iCCP", b"icc\x00\x00" + zlib.compress(icc)), (b"eXIf", body)]))


def _is_16bit_on_disk(path) -> bool:
    if path.suffix == ".png":
        return path.read_bytes()[24] == 16  # IHDR bit depth
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return tif.pages[0].dtype == np.uint16


def test_smooth16_is_a_real_16bit_signal():
    deep = _smooth16()
    assert len(np.unique(deep[:, :, 0])) > 256 and np.mean(deep % 257 != 0) > 0.95


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_output_keeps_exif_icc_alpha_and_every_level(tmp_path, ext, byteorder):
    icc = _srgb_icc()
    rgba = _smooth16()
    src = tmp_path / "deep.png"
    _deep_png(src, rgba, icc, _camera_exif(orientation=6, byteorder=byteorder))
    photo = read_photo(src)
    upright = np.rot90(rgba, -1)  # orientation 6: turn 90 degrees clockwise to display
    assert photo.pixels.dtype == np.uint16 and np.array_equal(photo.pixels, upright[:, :, :3])
    assert np.array_equal(photo.alpha, upright[:, :, 3])

    out = write_photo(tmp_path / f"out.{ext}", photo.pixels, like=photo)
    assert _is_16bit_on_disk(out)
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == icc
        _assert_camera_exif(im.getexif(), ext)
    back = read_photo(out)
    assert back.pixels.dtype == np.uint16 and back.alpha is not None and back.alpha.dtype == np.uint16
    assert np.array_equal(back.pixels, upright[:, :, :3])  # exact: not a single level lost
    assert np.array_equal(back.alpha, upright[:, :, 3])
    assert len(np.unique(back.pixels[:, :, 0])) > 256
    assert back.size == photo.size  # orientation reset to 1: read back unrotated
    assert back.icc_profile == icc
    # Written again from the re-read file, nothing is lost or duplicated.
    again = write_photo(tmp_path / f"again.{ext}", back.pixels, like=back)
    with Image.open(again) as im:
        assert im.info.get("icc_profile") == icc
        _assert_camera_exif(im.getexif(), f"{ext} twice")
    assert np.array_equal(read_photo(again).pixels, upright[:, :, :3])


def test_16bit_tiff_input_keeps_exif_without_its_layout_tags(tmp_path):
    import tifffile

    icc = _srgb_icc()
    rgba = _smooth16()
    src = tmp_path / "deep.tif"
    tifffile.imwrite(src, rgba, photometric="rgb", extrasamples=("unassalpha",), iccprofile=icc,
                     extratags=[(_MAKE, "s", 0, "CameraMaker", True), (_ORIENTATION, "H", 1, 8, True)])
    photo = read_photo(src)
    assert np.array_equal(photo.pixels, np.rot90(rgba, 1)[:, :, :3])  # orientation 8
    stored = Image.Exif()
    stored.load(photo.exif)
    assert stored[_MAKE] == "CameraMaker" and stored[_ORIENTATION] == 1
    # Strip offsets, bit depth, the ICC profile...: how the source stored pixels, not EXIF.
    assert not {256, 257, 258, 259, 273, 277, 279, 0x8773} & set(stored)
    for ext in ("tif", "png", "jpg"):
        out = write_photo(tmp_path / f"out.{ext}", photo.pixels, like=photo)
        with Image.open(out) as im:
            exif = im.getexif()
            assert exif.get(_MAKE) == "CameraMaker" and exif.get(_SOFTWARE) == EDIT_NOTE, ext
            assert exif.get(_ORIENTATION) == 1, ext
            assert im.info.get("icc_profile") == icc, ext
        back = read_photo(out)
        if ext != "jpg":
            assert np.array_equal(back.pixels, photo.pixels) and np.array_equal(back.alpha, photo.alpha)


def test_16bit_grey_output_keeps_exif_and_icc(tmp_path):
    import tifffile

    grey = _smooth16()[:, :, 0]
    gray_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # any profile
    src = tmp_path / "g16.tif"
    tifffile.imwrite(src, grey, photometric="minisblack", iccprofile=gray_icc,
                     extratags=[(_MAKE, "s", 0, "CameraMaker", True)])
    photo = read_photo(src)
    assert photo.is_greyscale and photo.pixels.dtype == np.uint16
    for ext in ("png", "tif"):
        out = write_photo(tmp_path / f"out.{ext}", photo.pixels, like=photo)
        assert _is_16bit_on_disk(out)
        with Image.open(out) as im:
            assert im.getexif().get(_MAKE) == "CameraMaker" and im.info.get("icc_profile") == gray_icc
        assert np.array_equal(read_photo(out).pixels[:, :, 0], grey)


@pytest.mark.parametrize("ext", ["webp", "tif", "png"])
def test_8bit_alpha_formats_keep_icc_alpha_and_exif(tmp_path, ext):
    icc = _srgb_icc()
    rgb = _gradient()
    alpha = np.linspace(0, 255, 60).round().astype(np.uint8)[None].repeat(40, 0)
    alpha[:10] = 255 - alpha[:10]
    src = tmp_path / "in.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(
        src, icc_profile=icc, exif=_camera_exif(orientation=3))
    photo = read_photo(src)
    assert np.array_equal(photo.pixels, rgb[::-1, ::-1]) and np.array_equal(photo.alpha, alpha[::-1, ::-1])

    out = write_photo(tmp_path / f"out.{ext}", photo.pixels, like=photo)
    with Image.open(out) as im:
        assert im.mode == "RGBA", ext
        assert im.info.get("icc_profile") == icc, ext
        _assert_camera_exif(im.getexif(), ext)
    back = read_photo(out)
    assert back.alpha is not None and back.alpha.dtype == np.uint8
    assert np.array_equal(back.alpha, photo.alpha), ext  # alpha is lossless even in WebP
    if ext == "webp":
        assert np.abs(back.pixels.astype(int) - photo.pixels).mean() < 3
    else:
        assert np.array_equal(back.pixels, photo.pixels)


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "tif", "heic"])
def test_write_like_carries_the_inputs_metadata(tmp_path, ext):
    """`like=photo` is how every file helper keeps the input's ICC, EXIF and alpha."""
    icc = _srgb_icc()
    src = tmp_path / "in.png"
    rgba = np.dstack([_gradient(), np.full((40, 60), 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(src, icc_profile=icc, exif=_camera_exif())
    photo = read_photo(src)
    edited = 255 - photo.pixels  # an "edit": the metadata must follow the photo, not the pixels

    out = write_photo(tmp_path / f"out.{ext}", edited, like=photo)
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == icc
        _assert_camera_exif(im.getexif(), ext)
        assert (im.mode == "RGBA") == (ext != "jpg")  # JPEG has no alpha
    if ext != "jpg":
        assert np.array_equal(read_photo(out).alpha, photo.alpha)

    plain = write_photo(tmp_path / f"plain.{ext}", edited)  # no like: plain sRGB, only the note
    with Image.open(plain) as im:
        assert im.info.get("icc_profile") is None and im.mode == "RGB"
        assert _MAKE not in im.getexif() and im.getexif().get(_SOFTWARE) == EDIT_NOTE


def test_8bit_result_of_a_16bit_photo_keeps_its_alpha(tmp_path):
    """A stage may hand back uint8 pixels for a 16-bit photo: alpha follows the pixels' depth."""
    rgba = _smooth16()
    src = tmp_path / "deep.png"
    _deep_png(src, rgba, _srgb_icc(), _camera_exif())
    photo = read_photo(src)
    eight = (photo.pixels.astype(np.uint32) * 255 + 32767) // 65535
    for ext in ("png", "webp", "tif"):
        out = write_photo(tmp_path / f"out.{ext}", eight.astype(np.uint8), like=photo)
        back = read_photo(out)
        assert back.alpha.dtype == np.uint8, ext
        expected = (rgba[:, :, 3].astype(np.uint32) * 255 + 32767) // 65535
        assert np.abs(back.alpha.astype(int) - expected).max() <= 1, ext
    deep_to_8 = write_photo(tmp_path / "deep.webp", photo.pixels, like=photo)  # 16 -> 8-bit format
    with Image.open(deep_to_8) as im:
        assert im.mode == "RGBA" and im.getexif().get(_MAKE) == "CameraMaker"


@pytest.mark.parametrize("ext", ["jpg", "png", "tif"])
def test_write_resets_orientation_of_a_callers_photo(tmp_path, ext):
    """A Photo built by hand may still carry a rotation; written pixels are upright."""
    photo = mien.io.photo.Photo(_gradient(), exif=_camera_exif(orientation=6))
    out = write_photo(tmp_path / f"out.{ext}", photo.pixels, like=photo)
    with Image.open(out) as im:
        _assert_camera_exif(im.getexif(), ext)
    assert read_photo(out).size == (40, 60)
    deep = mien.io.photo.Photo(_smooth16()[:, :, :3], exif=_camera_exif(orientation=6))
    if ext != "jpg":
        out16 = write_photo(tmp_path / f"out16.{ext}", deep.pixels, like=deep)
        with Image.open(out16) as im:
            _assert_camera_exif(im.getexif(), f"16-bit {ext}")


def test_outputs_get_the_usual_file_permissions(tmp_path):
    """Written through a private temporary file, the output still gets 0666 minus the umask."""
    import os
    import stat

    out = tmp_path / "out.png"
    write_photo(out, np.zeros((64, 64, 3), np.uint8))
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
