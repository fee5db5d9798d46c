"""Decode and encode: photos now (:mod:`mien.io.photo`), video next."""

from .photo import Photo, check_output_path, output_format, read_photo, write_photo
from .video import VideoFrame, VideoInfo, VideoReader, VideoWriter, read_video  # video: needs mien[video] (PyAV) at call time

__all__ = ["Photo", "read_photo", "write_photo", "check_output_path", "output_format"]
__all__ += ["VideoFrame", "VideoInfo", "VideoReader", "VideoWriter", "read_video"]  # video
