"""Decode and encode: photos now (:mod:`mien.io.photo`), video next."""

from .photo import Photo, check_output_path, output_format, read_photo, write_photo

__all__ = ["Photo", "read_photo", "write_photo", "check_output_path", "output_format"]
