"""A video of a QR code for Chromium's fake camera, made in Python (qrcode + Pillow, no ffmpeg).

``chromium --use-fake-device-for-media-stream --use-file-for-fake-video-capture=<file>.y4m``
plays the file, looping, as the camera the page asks for. The format is YUV4MPEG2 with
4:2:0 chroma (``C420``): a text header, then for each frame ``FRAME\\n`` and the Y plane
(one byte a pixel), then the U and V planes at half width and half height. A QR is black and
white, so Y is the picture in grey and U and V are all 128 (no colour).
"""
from __future__ import annotations

from pathlib import Path

import qrcode
from PIL import Image, ImageOps
from qrcode.constants import ERROR_CORRECT_M

WIDTH, HEIGHT = 640, 480  # even sides: the chroma planes are exactly half of each


def qr_image(text: str, side: int = 360) -> Image.Image:
    """``text`` as the product draws it (rewards/qr.py: medium correction, quiet zone of 4)."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    image = qr.make_image(fill_color="black", back_color="white").get_image().convert("L")
    return image.resize((side, side), Image.Resampling.NEAREST)


def qr_y4m(text: str, path: Path, frames: int = 5, fps: int = 10) -> Path:
    """Write a short .y4m of ``text``'s QR in the middle of a light grey frame; returns ``path``."""
    picture = Image.new("L", (WIDTH, HEIGHT), 200)
    code = qr_image(text, min(WIDTH, HEIGHT) - 60)
    picture.paste(code, ((WIDTH - code.width) // 2, (HEIGHT - code.height) // 2))
    luma = ImageOps.autocontrast(picture).tobytes()
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))
    frame = b"FRAME\n" + luma + chroma + chroma
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420\n".encode("ascii"))
        for _ in range(frames):
            out.write(frame)
    return path


def first_frame(path: Path) -> Image.Image:
    """The luma of a .y4m's first frame as a picture (to check what the camera will show)."""
    data = path.read_bytes()
    header, _, rest = data.partition(b"\n")
    fields = {token[:1]: token[1:] for token in header.split()[1:]}
    width, height = int(fields[b"W"]), int(fields[b"H"])
    if not rest.startswith(b"FRAME\n"):
        raise ValueError(f"{path} has no frame")
    start = len(b"FRAME\n")
    return Image.frombytes("L", (width, height), rest[start : start + width * height])
