"""Images that the image tests make: photos, rotated, CMYK, alpha, palette, 16-bit, broken."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

from PIL import Image, ImageDraw


def photo(width: int = 1200, height: int = 900, seed: int = 0) -> Image.Image:
    """Something like a product photo: a gradient, shapes and a little noise."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x, y = rng.randrange(width), rng.randrange(height)
        size = rng.randrange(20, max(21, width // 4))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + size, y + size), fill=colour)
    noise = Image.effect_noise((width, height), 12).convert("RGB")
    return Image.blend(image, noise, 0.08)


def jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def png(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def rotated_jpeg() -> bytes:
    """Stored 200x100, left half red, right half blue; EXIF says: rotate 90 degrees clockwise."""
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg(image, exif=exif.tobytes())


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    return jpeg(photo(400, 300, seed=7), exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    """Pure cyan, in CMYK."""
    return jpeg(Image.new("CMYK", (64, 48), (255, 0, 0, 0)))


def alpha_png() -> bytes:
    image = Image.new("RGBA", (120, 80), (10, 200, 30, 255))
    image.paste((0, 0, 0, 0), (0, 0, 60, 80))  # left half fully transparent
    return png(image)


def palette_png() -> bytes:
    """Red on a transparent left third."""
    image = Image.new("P", (300, 200), 1)
    image.putpalette([255, 255, 255, 200, 0, 0] + [0] * 762)
    image.paste(0, (0, 0, 100, 200))
    return png(image, transparency=0)


def sixteen_bit_png() -> bytes:
    """16-bit grey: 40000 of 65535 on the left half, black on the right."""
    width, height = 320, 240
    row = struct.pack(">H", 40000) * (width // 2) + struct.pack(">H", 0) * (width // 2)
    return png(Image.frombytes("I;16B", (width, height), row * height))


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (50, 50), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def bomb_png() -> bytes:
    """A small file that decodes to 100 million pixels: over Pillow's limit."""
    return png(Image.new("1", (10_000, 10_000)))


EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
)


def write_sources(folder: Path, photos: int = 3) -> dict[str, Path]:
    """A source folder with good and bad files; returns them by name."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "rotated.jpg": rotated_jpeg(),
        "gps.jpg": gps_jpeg(),
        "cmyk.jpg": cmyk_jpeg(),
        "alpha.png": alpha_png(),
        "palette.png": palette_png(),
        "deep.png": sixteen_bit_png(),
        "truncated.jpg": jpeg(photo(300, 200, seed=3))[:1500],
        "bomb.png": bomb_png(),
        "notes.jpg": b"this is text, not a JPEG\n",
        "drawing.eps": EPS,
        "animated.gif": animated_gif(),
    }
    for n in range(photos):
        files[f"photo{n}.jpg"] = jpeg(photo(seed=n))
    paths = {}
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths[name] = path
    return paths


BAD = ("truncated.jpg", "bomb.png", "notes.jpg", "drawing.eps", "animated.gif")
