"""One image to its variants, the pure function alone."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from capplan.images.convert import Converted, Refused, Settings, convert

from . import images


def decoded(result: Converted, variant: str) -> Image.Image:
    data = next(v.data for v in result.variants if v.name == variant)
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_three_webp_variants_step_by_step() -> None:
    result = convert(images.jpeg(images.photo(1600, 1200)))
    assert [v.name for v in result.variants] == ["original", "800", "200"]
    assert [(v.width, v.height) for v in result.variants] == [(1600, 1200), (800, 600), (200, 150)]
    for variant in result.variants:
        assert Image.open(io.BytesIO(variant.data)).format == "WEBP"


def test_exif_rotated_jpeg_comes_out_upright() -> None:
    result = convert(images.rotated_jpeg())
    image = decoded(result, "original").convert("RGB")
    assert image.size == (100, 200)
    red, blue = image.getpixel((50, 20)), image.getpixel((50, 180))
    assert isinstance(red, tuple) and isinstance(blue, tuple)
    assert red[0] > 200 and red[2] < 60  # what was the left is now the top
    assert blue[2] > 200 and blue[0] < 60


def test_cmyk_jpeg_comes_out_srgb_with_its_colours() -> None:
    image = decoded(convert(images.cmyk_jpeg()), "original")
    assert image.mode == "RGB"
    pixel = image.getpixel((10, 10))
    assert isinstance(pixel, tuple)
    red, green, blue = pixel[:3]
    assert red < 40 and green > 215 and blue > 215  # cyan


def test_icc_tagged_image_is_converted_and_the_profile_dropped() -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = images.png(Image.new("RGB", (40, 40), (200, 120, 40)), icc_profile=profile)
    image = decoded(convert(source), "original")
    assert "icc_profile" not in image.info
    pixel = image.getpixel((20, 20))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 6 for a, b in zip(pixel[:3], (200, 120, 40), strict=True))


def test_small_png_keeps_alpha_and_is_not_enlarged() -> None:
    result = convert(images.alpha_png())
    assert [(v.width, v.height) for v in result.variants] == [(120, 80)] * 3
    image = decoded(result, "800")
    assert image.mode == "RGBA"
    transparent, opaque = image.getpixel((10, 40)), image.getpixel((110, 40))
    assert isinstance(transparent, tuple) and isinstance(opaque, tuple)
    assert transparent[3] == 0 and opaque[3] == 255


def test_palette_image_with_transparency_converts() -> None:
    image = decoded(convert(images.palette_png()), "original")
    assert image.mode == "RGBA" and image.size == (300, 200)
    clear, red = image.getpixel((50, 100)), image.getpixel((250, 100))
    assert isinstance(clear, tuple) and isinstance(red, tuple)
    assert clear[3] == 0 and red[3] == 255 and red[0] > 180 and red[1] < 40


def test_sixteen_bit_image_converts_with_its_levels() -> None:
    image = decoded(convert(images.sixteen_bit_png()), "original").convert("L")
    bright, dark = image.getpixel((50, 50)), image.getpixel((300, 50))
    assert isinstance(bright, int) and isinstance(dark, int)
    assert 140 <= bright <= 170  # 40000 / 65535 of white, not clipped to 255
    assert dark <= 10


def test_gps_and_every_other_metadata_are_stripped() -> None:
    source = images.gps_jpeg()
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(0x8825)  # the source has GPS
    for variant in convert(source).variants:
        image = Image.open(io.BytesIO(variant.data))
        assert not image.getexif()
        assert not {"exif", "icc_profile", "xmp"} & set(image.info)
        assert b"Exif" not in variant.data and b"CameraMaker" not in variant.data


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated.jpg", "truncated"),
        ("bomb.png", "decompression bomb"),
        ("notes.jpg", "not an image capplan converts"),
        ("drawing.eps", "not an image capplan converts"),
        ("animated.gif", "animated GIF (2 frames)"),
    ],
)
def test_bad_sources_are_refused_with_a_reason(name: str, reason: str) -> None:
    data = {
        "truncated.jpg": images.jpeg(images.photo(300, 200))[:1500],
        "bomb.png": images.bomb_png(),
        "notes.jpg": b"plain text",
        "drawing.eps": images.EPS,
        "animated.gif": images.animated_gif(),
    }[name]
    with pytest.raises(Refused, match=re.escape(reason)):
        convert(data)


def test_limits_of_pixels_and_bytes() -> None:
    data = images.jpeg(images.photo(400, 300))
    with pytest.raises(Refused, match="over --max-pixels 1,000"):
        convert(data, Settings(max_pixels=1000))
    with pytest.raises(Refused, match="over --max-bytes 100"):
        convert(data, Settings(max_bytes=100))


def test_quality_changes_the_size() -> None:
    data = images.jpeg(images.photo(800, 600))
    low = convert(data, Settings(quality=30)).variants[0].data
    high = convert(data, Settings(quality=95)).variants[0].data
    assert len(low) < len(high)


def test_same_source_same_output() -> None:
    data = images.jpeg(images.photo(500, 400, seed=5))
    assert convert(data) == convert(data)
