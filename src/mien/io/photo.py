"""Decode and encode photos: the first and last stage of the pipeline.

Reading applies the EXIF orientation, so ``Photo.pixels`` is upright as a person sees it.
What each kind of input becomes, deliberately:

=================  ==========================================  ===========================
input              ``Photo.pixels``                             written back as
=================  ==========================================  ===========================
8-bit RGB          ``uint8`` RGB                                the same
greyscale (L, 1)   ``uint8`` RGB, grey repeated                 greyscale
16-bit grey/RGB    ``uint16`` RGB (PNG, TIFF)                   16-bit PNG/TIFF; 8-bit for
                                                                JPEG/WebP/HEIF outputs
palette (P)        ``uint8`` RGB (+ alpha if transparent)       RGB(A): no re-quantising
RGBA / LA / PA     RGB + ``Photo.alpha``                        alpha kept untouched
                                                                (dropped only by JPEG)
CMYK               sRGB through its ICC profile if it has one    sRGB RGB; no ICC attached
=================  ==========================================  ===========================

Writing keeps the input's ICC profile and EXIF (orientation reset to 1, since the pixels
are already upright), records ``Software = mien <version> (facial expression edited)``,
is atomic (a temporary file in the same folder, then a rename) and refuses to replace any
file the caller names as an input.
"""

from __future__ import annotations

import io as _io
import os
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .. import __version__
from ..errors import InputError
from ..image import as_rgb, from_float, to_float

try:  # HEIC/HEIF support registers itself as a Pillow plugin.
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a core dependency
    pillow_heif = None

#: Largest photo mien decodes, in pixels. 100-megapixel photos are fine; this stops
#: decompression bombs before they allocate memory.
MAX_PIXELS = 250_000_000

EDIT_NOTE = f"mien {__version__} (facial expression edited)"

_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".heic": "HEIF",
    ".heif": "HEIF",
}
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF", "HEIF"}
_EXIF_ORIENTATION = 0x0112
_EXIF_SOFTWARE = 0x0131
_EXIF_ICC = 0x8773
#: TIFF tags that describe how a file stores its pixels, not the photo. Pillow's
#: ``getexif()`` on a TIFF returns them with the metadata; they are dropped from
#: ``Photo.exif`` (their offsets point into the source file) and never written as EXIF.
_LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284,
    317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347, 400, 513, 514, 530,
    532, 32997, 32998, _EXIF_ICC, 37724,
})


@dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo and what is needed to write an edit of it back faithfully.

    Attributes:
        pixels: ``(H, W, 3)`` RGB, ``uint8`` or ``uint16``, sRGB encoded, upright.
        alpha: ``(H, W)`` alpha of the same dtype as ``pixels``, or ``None``.
        format: Pillow's format name of the source (``"JPEG"``, ``"PNG"``, ...).
        mode: the source's pixel mode (``"RGB"``, ``"L"``, ``"CMYK"``, ``"RGB;16"``, ...).
        icc_profile: the embedded ICC profile, or ``None`` (and for converted CMYK).
        exif: EXIF bytes with the orientation reset to 1, or ``None``.
        path: where it was read from, if it came from a file.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    format: str = "PNG"
    mode: str = "RGB"
    icc_profile: bytes | None = None
    exif: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(h, w)`` in pixels."""
        return self.pixels.shape[0], self.pixels.shape[1]

    @property
    def is_greyscale(self) -> bool:
        return self.mode in ("L", "LA", "1", "I;16", "I;16B", "I;16L", "I", "L;16")


def read_photo(path: str | os.PathLike) -> Photo:
    """Decode an image file into an upright RGB :class:`Photo`.

    Raises:
        InputError: the path does not exist, is not an image, is truncated or corrupt,
            or has more than :data:`MAX_PIXELS` pixels.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the path of a photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise InputError(
                        f"{path}: {w}x{h} is {w * h / 1e6:.0f} megapixels, more than mien "
                        f"decodes ({MAX_PIXELS / 1e6:.0f}); downscale it first"
                    )
                # Pillow's TIFF load() applies the orientation and deletes the tag; the
                # 16-bit decoder (tifffile) does not, so read it first.
                orientation = im.tag_v2.get(_EXIF_ORIENTATION, 1) if im.format == "TIFF" else None
                im.load()
                return _photo_from_pillow(im, path, orientation)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(
            f"{path}: not an image mien can read; use JPEG, PNG, WebP, TIFF or HEIC"
        ) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise InputError(
            f"{path}: the file is truncated or corrupt ({exc}); export it again"
        ) from None


def _photo_from_pillow(im: Image.Image, path: Path, orientation: int | None = None) -> Photo:
    fmt = im.format or "PNG"
    mode = im.mode
    icc = im.info.get("icc_profile") or None
    source_exif = im.getexif()
    if orientation is None:
        orientation = source_exif.get(_EXIF_ORIENTATION, 1)
    exif_bytes = None
    if len(source_exif):
        # A copy: Pillow's own Exif object must keep the orientation for exif_transpose.
        exif = Image.Exif()
        exif.load(source_exif.tobytes())
        if fmt == "TIFF":
            for tag in _LAYOUT_TAGS.intersection(exif):
                del exif[tag]
        exif[_EXIF_ORIENTATION] = 1
        exif_bytes = exif.tobytes()

    if _is_16bit_colour(im, path):
        pixels, alpha = _read_16bit_colour(path)
        pixels = _orient(pixels, orientation)
        alpha = None if alpha is None else _orient(alpha, orientation)
        return Photo(pixels, alpha, fmt, "RGB;16", icc, exif_bytes, path)

    im = ImageOps.exif_transpose(im)
    alpha = None
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = np.asarray(im, dtype=np.uint32 if mode == "I" else None)
        grey = np.clip(grey, 0, 65535).astype(np.uint16)
        pixels = np.repeat(grey[:, :, None], 3, axis=2)
        return Photo(pixels, None, fmt, mode, icc, exif_bytes, path)
    if mode == "CMYK":
        rgb = _cmyk_to_srgb(im, icc)
        return Photo(np.asarray(rgb), None, fmt, mode, None, exif_bytes, path)
    if mode in ("P", "PA"):
        im = im.convert("RGBA") if ("transparency" in im.info or mode == "PA") else im.convert("RGB")
    elif mode in ("LA", "La"):
        im = im.convert("RGBA")
    elif mode in ("1", "L"):
        im = im.convert("RGB")
    elif mode not in ("RGB", "RGBA"):
        im = im.convert("RGB")
    arr = np.asarray(im)
    if arr.shape[2] == 4:
        alpha = np.ascontiguousarray(arr[:, :, 3])
        arr = arr[:, :, :3]
    return Photo(np.ascontiguousarray(arr), alpha, fmt, mode, icc, exif_bytes, path)


def _is_16bit_colour(im: Image.Image, path: Path) -> bool:
    """Pillow decodes 16-bit-per-channel colour PNG/TIFF to 8 bits; spot them first."""
    if im.format == "PNG":
        with open(path, "rb") as fh:
            header = fh.read(26)
        # IHDR: bit depth at byte 24, colour type at byte 25 (2 = RGB, 6 = RGBA).
        return len(header) == 26 and header[24] == 16 and header[25] in (2, 6)
    if im.format == "TIFF":
        bits = im.tag_v2.get(258)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return bits[0] == 16 and im.tag_v2.get(277, 1) >= 3
    return False


def _read_16bit_colour(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        arr = tifffile.imread(path)
        if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
            arr = np.moveaxis(arr, 0, 2)
    else:
        import cv2

        arr = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise InputError(f"{path}: the 16-bit image is truncated or corrupt; export it again")
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    arr = arr.astype(np.uint16)
    alpha = np.ascontiguousarray(arr[:, :, 3]) if arr.shape[2] == 4 else None
    return np.ascontiguousarray(arr[:, :, :3]), alpha


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an ``(H, W, ...)`` array."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 1)[::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return arr if op is None else np.ascontiguousarray(op(arr))


def _cmyk_to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(_io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass
    return im.convert("RGB")


def output_format(path: str | os.PathLike) -> str:
    """The format an output path asks for, from its extension."""
    suffix = Path(path).suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        valid = ", ".join(sorted(_FORMATS))
        raise InputError(f"{path}: unknown output type {suffix or '(none)'}; use one of {valid}")
    return fmt


def check_output_path(out: str | os.PathLike, inputs: list[str | os.PathLike] = ()) -> Path:
    """Validate an output path before any work: known type, folder exists, not an input."""
    output_format(out)
    return check_writable(out, inputs, "edited.jpg")


def check_writable(out: str | os.PathLike, inputs: list[str | os.PathLike] = (), example: str = "edited.jpg") -> Path:
    """An output path whose folder exists, that is not a folder and is none of ``inputs``.

    Raises:
        InputError: with ``param="output"``; the message says what to do.
    """
    out = Path(out)
    if not out.parent.exists():
        raise InputError(f"{out.parent}: folder does not exist; create it or choose another -o", param="output")
    if out.is_dir():
        raise InputError(f"{out} is a folder; give a file name such as {out / example}", param="output")
    for src in inputs:
        src = Path(src)
        same = out.resolve() == src.resolve()
        if not same and out.exists() and src.exists():
            same = os.path.samefile(out, src)
        if same:
            raise InputError(f"{out} is also an input; mien never overwrites an input, choose another -o",
                             param="output")
    return out


def write_photo(
    path: str | os.PathLike,
    pixels: np.ndarray,
    like: Photo | None = None,
    *,
    protect: list[str | os.PathLike] = (),
    quality: int = 95,
) -> Path:
    """Encode ``pixels`` to ``path`` atomically, keeping ``like``'s alpha and metadata.

    Args:
        path: output file; its extension chooses the format.
        pixels: ``(H, W, 3)`` ``uint8`` or ``uint16`` RGB.
        like: the photo this is an edit of: its alpha, ICC profile, EXIF and greyscale-ness
            are carried over. ``None`` writes plain sRGB.
        protect: input paths that must never be replaced.
        quality: JPEG/WebP/HEIF quality.

    Returns:
        The path written.
    """
    path = check_output_path(path, [*protect, *([like.path] if like and like.path else [])])
    fmt = output_format(path)
    pixels = as_rgb(pixels, "output")
    alpha = like.alpha if like is not None else None
    if alpha is not None and alpha.shape != pixels.shape[:2]:
        alpha = None
    if alpha is not None and alpha.dtype != pixels.dtype:  # e.g. 8-bit result of a 16-bit photo
        alpha = from_float(to_float(alpha), pixels.dtype)
    grey = like is not None and like.is_greyscale
    deep = pixels.dtype == np.uint16 and fmt in ("PNG", "TIFF")
    if pixels.dtype == np.uint16 and not deep:
        pixels = from_float(to_float(pixels), np.uint8)
        if alpha is not None:
            alpha = from_float(to_float(alpha), np.uint8)
    if fmt not in _ALPHA_FORMATS:
        alpha = None

    icc = like.icc_profile if like is not None else None
    exif_bytes = _edited_exif(like.exif if like is not None else None)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); an output gets the usual permissions.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        if deep:
            _write_16bit(Path(tmp), fmt, pixels, alpha, grey, icc, exif_bytes)
        else:
            _write_8bit(Path(tmp), fmt, pixels, alpha, grey, icc, exif_bytes, quality)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would set it for every
    thread for a moment); 0o022 where the system does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _edited_exif(exif_bytes: bytes | None) -> bytes:
    exif = Image.Exif()
    if exif_bytes:
        exif.load(exif_bytes)
    exif[_EXIF_ORIENTATION] = 1
    exif[_EXIF_SOFTWARE] = EDIT_NOTE
    return exif.tobytes()


def _write_8bit(tmp, fmt, pixels, alpha, grey, icc, exif_bytes, quality) -> None:
    if grey:
        im = Image.fromarray(np.ascontiguousarray(pixels[:, :, 1]), "L")
        if alpha is not None:
            im.putalpha(Image.fromarray(alpha, "L"))
    elif alpha is not None:
        im = Image.fromarray(np.dstack([pixels, alpha]), "RGBA")
    else:
        im = Image.fromarray(pixels, "RGB")
    # TIFF gets its EXIF afterwards: Pillow's libtiff writer fails on an Exif sub-IFD.
    kwargs: dict = {} if fmt == "TIFF" else {"exif": exif_bytes}
    if icc:
        kwargs["icc_profile"] = icc
    if fmt == "JPEG":
        kwargs.update(quality=quality, subsampling=0, optimize=False)
    elif fmt == "WEBP":
        kwargs.update(quality=quality, method=4)
    elif fmt == "HEIF":
        kwargs.update(quality=quality)
    elif fmt == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Software", EDIT_NOTE)
        kwargs.update(pnginfo=info, compress_level=6)
    elif fmt == "TIFF":
        kwargs.update(compression="tiff_deflate")
    im.save(tmp, format=fmt, **kwargs)
    if fmt == "TIFF":
        _tiff_add_exif(tmp, exif_bytes)


def _write_16bit(tmp: Path, fmt, pixels, alpha, grey, icc, exif_bytes: bytes) -> None:
    data = pixels[:, :, :1] if grey else pixels
    if alpha is not None:
        data = np.dstack([data, alpha])
    data = np.ascontiguousarray(data[:, :, 0] if data.shape[2] == 1 else data)
    if fmt == "TIFF":
        import tifffile

        photometric = "minisblack" if data.ndim == 2 or (grey and alpha is not None) else "rgb"
        # The byte order of the EXIF, so its opaque blobs (maker notes) stay readable.
        byteorder = ">" if exif_bytes[6:8] == b"MM" else "<"
        tifffile.imwrite(
            tmp, data, photometric=photometric, iccprofile=icc, software=EDIT_NOTE,
            compression="zlib", extrasamples=("unassalpha",) if alpha is not None else None,
            byteorder=byteorder, bigtiff=False, metadata=None,
        )
        _tiff_add_exif(tmp, exif_bytes)
        return
    import cv2

    if data.ndim == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGBA2BGRA if data.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", data)
    if not ok:  # pragma: no cover - OpenCV always encodes PNG
        raise InputError(f"could not encode a 16-bit PNG of shape {data.shape}")
    # eXIf holds the bare TIFF structure, without the "Exif\0\0" APP1 prefix.
    exif_body = exif_bytes[6:] if exif_bytes.startswith(b"Exif\x00\x00") else exif_bytes
    chunks = [(b"eXIf", exif_body), (b"tEXt", b"Software\x00" + EDIT_NOTE.encode("latin-1"))]
    if icc:
        chunks.insert(0, (b"iCCP", b"icc\x00\x00" + zlib.compress(icc)))
    tmp.write_bytes(_png_insert_chunks(buf.tobytes(), chunks))


def _tiff_add_exif(path: Path, exif_bytes: bytes) -> None:
    """Add EXIF to a one-page classic TIFF that tifffile or Pillow just wrote.

    Neither writes Exif sub-IFDs here: tifffile never does, and Pillow's libtiff writer
    (used for compressed TIFF) fails on them. So the photo's metadata tags and its Exif
    and GPS sub-IFDs are serialised by Pillow, as its own TIFF writer would, at the end
    of the file; then a new first IFD (the file's image-structure entries merged with the
    metadata entries, sorted) is appended and the header pointed at it. Every offset
    stays valid because nothing already written moves.
    """
    from PIL import TiffImagePlugin

    exif = Image.Exif()
    exif.load(exif_bytes)
    for tag in _LAYOUT_TAGS.intersection(exif):
        del exif[tag]
    with open(path, "r+b") as fh:
        head = fh.read(8)
        order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(head[:4])
        if order is None:  # pragma: no cover - both writers make classic TIFF here
            raise InputError(f"{path}: unexpected TIFF header {head[:4]!r}")
        (first,) = struct.unpack(order + "I", head[4:8])
        fh.seek(first)
        (count,) = struct.unpack(order + "H", fh.read(2))
        raw = fh.read(12 * count)
        entries = {struct.unpack(order + "H", raw[i:i + 2])[0]: raw[i:i + 12]
                   for i in range(0, len(raw), 12)}

        end = fh.seek(0, os.SEEK_END)
        if end % 2:
            fh.write(b"\x00")
            end += 1
        ifh = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
        ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=ifh)
        for tag, value in exif.items():
            if tag in (0x8769, 0x8825) and not isinstance(value, dict):
                value = exif.get_ifd(tag)
                if tag == 0x8769 and 0xA005 in value and not isinstance(value[0xA005], dict):
                    value = {**value, 0xA005: exif.get_ifd(0xA005)}
            ifd[tag] = value
        blob = ifd.tobytes(end)  # an IFD laid out to sit at offset `end`
        (n_meta,) = struct.unpack(order + "H", blob[:2])
        for i in range(n_meta):
            entry = blob[2 + 12 * i:14 + 12 * i]
            tag = struct.unpack(order + "H", entry[:2])[0]
            if tag not in _LAYOUT_TAGS:
                entries[tag] = entry
        fh.write(blob)
        if len(blob) % 2:
            fh.write(b"\x00")
        new_first = end + len(blob) + len(blob) % 2
        fh.write(struct.pack(order + "H", len(entries)))
        fh.write(b"".join(entries[tag] for tag in sorted(entries)))
        fh.write(struct.pack(order + "I", 0))
        fh.seek(4)
        fh.write(struct.pack(order + "I", new_first))


def _png_insert_chunks(png: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    """Insert ancillary chunks right after IHDR (8-byte signature + 25-byte IHDR)."""
    head, tail = png[:33], png[33:]
    extra = b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )
    return head + extra + tail
