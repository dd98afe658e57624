"""One image becomes its three WebP variants: a pure function of the source bytes.

Decoded once, upright (EXIF orientation), in sRGB (CMYK and ICC-tagged sources converted), alpha
kept, metadata stripped, never upscaled, resized step by step: full size, then 800 px from it,
then 200 px from the 800.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Nothing else reaches a decoder: no EPS (Ghostscript), no PSD, no formats of fortune.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF")
VARIANT_SIZES: tuple[tuple[str, int | None], ...] = (("original", None), ("800", 800), ("200", 200))
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's own limit
# Pillow first shrinks by a whole factor while the image stays this many times the target, then
# resamples with Lanczos: 2.0 is as sharp as 3.0 to the eye and measurably faster (README).
REDUCING_GAP = 2.0
SRGB = ImageCms.createProfile("sRGB")


class Refused(Exception):
    """A source that cannot be converted, with the reason a person reads in the summary."""


@dataclass(frozen=True, slots=True)
class Settings:
    quality: int = 80
    method: int = 4
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    data: bytes
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Converted:
    width: int
    height: int
    source_format: str
    variants: tuple[Variant, ...]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_image(data: bytes, settings: Settings) -> Image.Image:
    """Open (not yet decode) an allowed, still image within the size limits."""
    if settings.max_bytes is not None and len(data) > settings.max_bytes:
        raise Refused(f"{len(data):,} bytes is over --max-bytes {settings.max_bytes:,}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise Refused("not an image capplan converts (JPEG, PNG, WebP, GIF, TIFF)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused("decompression bomb: too many pixels for Pillow's limit") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise Refused(f"corrupt image: {error}") from None
    width, height = image.size
    if width * height > settings.max_pixels:
        raise Refused(
            f"{width}x{height} = {width * height:,} pixels is over --max-pixels "
            f"{settings.max_pixels:,} (a decompression bomb?)"
        )
    if getattr(image, "n_frames", 1) > 1:
        frames = getattr(image, "n_frames", 1)
        raise Refused(f"animated {image.format} ({frames} frames)")
    return image


def probe(data: bytes, settings: Settings) -> tuple[int, int]:
    """Whether `convert` would refuse this source, without decoding it in full: the header
    checks of `open_image`, then a JPEG read through at 1/8 scale and a PNG's chunks checked,
    so that a truncated file shows. Returns the width and height."""
    image = open_image(data, settings)
    size = image.size
    try:
        if image.format == "JPEG":
            image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
            image.load()
        elif image.format == "PNG":
            image.verify()
    except (OSError, SyntaxError, ValueError) as error:
        raise Refused(f"corrupt or truncated: {error}") from None
    return size


def _decode(image: Image.Image) -> Image.Image:
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise Refused(f"corrupt or truncated: {error}") from None
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    )


def to_srgb(image: Image.Image) -> Image.Image:
    """RGB or RGBA in sRGB: colour profiles applied, palette, grey and 16-bit modes widened."""
    profile = image.info.get("icc_profile")
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    alpha = _has_alpha(image)
    target = "RGBA" if alpha else "RGB"
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            if image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
                image = image.convert(target)
            mode = target if image.mode != "CMYK" else "RGB"
            converted = ImageCms.profileToProfile(
                image, source, SRGB, outputMode=mode, renderingIntent=ImageCms.Intent.PERCEPTUAL
            )
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unusable profile: fall back to Pillow's own conversion
    if image.mode != target:
        image = image.convert(target)
    return image


def _fit(image: Image.Image, box: int) -> Image.Image:
    """Within box x box, aspect kept, never enlarged; Pillow reduces by whole factors first."""
    width, height = image.size
    if max(width, height) <= box:
        return image
    scale = box / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def encode(image: Image.Image, settings: Settings) -> bytes:
    buffer = io.BytesIO()
    # Pillow's WebP writer adds EXIF, ICC or XMP only when asked to: none is asked for.
    image.save(buffer, "WEBP", quality=settings.quality, method=settings.method)
    return buffer.getvalue()


def convert(data: bytes, settings: Settings = Settings()) -> Converted:
    """The three variants of one source image; raises Refused with the reason."""
    image = open_image(data, settings)
    source_format = image.format or "?"
    image = _decode(image)
    ImageOps.exif_transpose(image, in_place=True)  # no copy when nothing is to be turned
    image = to_srgb(image)
    image.info = {}  # strip every piece of metadata: EXIF (GPS is private), XMP, comments
    variants = []
    current = image
    for name, box in VARIANT_SIZES:
        if box is not None:
            current = _fit(current, box)
        variants.append(Variant(name, encode(current, settings), *current.size))
    return Converted(image.width, image.height, source_format, tuple(variants))
