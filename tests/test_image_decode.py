"""Image decoding: every mode as the picture a viewer shows, a pixel limit instead of a
crash, and broken bytes skipped with a reason."""

from __future__ import annotations

import struct
import time
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import transferkit
from transferkit._errors import TransferKitError
from transferkit._hashing import digest_text
from transferkit.backbones._base import BackboneConfig
from transferkit.backbones._vision import LITE0, _ImageFiles, open_image
from transferkit.data._images import (
    DECODER_VERSION,
    ImageDecodeError,
    check_image_header,
    decode_image,
    max_image_pixels,
)

LIMIT_HINT = "(raise it with --max-image-pixels or TRANSFERKIT_MAX_IMAGE_PIXELS)"
BIG_REASON = (
    "image too large: 15000x12000 = 180,000,000 pixels, over the limit of 89,478,485 " + LIMIT_HINT
)
WHITE, RED, BLUE = (255, 255, 255), (255, 0, 0), (0, 0, 255)


@pytest.fixture(autouse=True)
def _default_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRANSFERKIT_MAX_IMAGE_PIXELS", raising=False)


@contextmanager
def _no_bomb_warnings() -> Iterator[None]:
    """Pillow's decompression-bomb warning, if it is raised inside, fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(
    path: Path, size: tuple[int, int], depth: int, colour: int, rows: bytes | None, extra=b""
) -> Path:
    """A PNG written by hand (Pillow does not write 16-bit colour): `rows` are the raw
    samples, filter bytes added here; None gives a header with no pixel data at all;
    `extra` are chunks to put after the header."""
    width, height = size
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    data = b""
    if rows is not None:
        stride = len(rows) // height
        data = b"".join(b"\0" + rows[y * stride : (y + 1) * stride] for y in range(height))
    pixels = _chunk(b"IDAT", zlib.compress(data))
    chunks = _chunk(b"IHDR", header) + extra + pixels + _chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


def _huge_png(path: Path) -> Path:
    """A PNG whose header claims 15000 x 12000 pixels (180 megapixels) and holds none."""
    return _png(path, (15000, 12000), 8, 2, None)


def _save(path: Path, image: Image.Image, **options) -> Path:
    image.save(path, **options)
    return path


# Each case: a small file with known pixels, and the RGB a viewer shows for them.


def _one_bit(d):
    return _save(d / "a.png", Image.fromarray(np.array([[0, 1]], bool))), [[0, 0, 0], WHITE]


def _grey_l(d):
    image = Image.fromarray(np.array([[10, 200]], np.uint8))
    return _save(d / "a.png", image), [[10] * 3, [200] * 3]


def _grey16(suffix, dtype):
    def build(d):
        samples = np.array([[0, 32768, 65535]], dtype)
        return _save(d / f"a.{suffix}", Image.fromarray(samples)), [[0] * 3, [128] * 3, WHITE]

    return build


def _int32_16bit_values(d):
    image = Image.fromarray(np.array([[0, 32768, 65535]], np.int32))  # mode I
    return _save(d / "a.tif", image), [[0] * 3, [128] * 3, WHITE]


def _int32_wide(d):
    image = Image.fromarray(np.array([[0, 100000, 200000]], np.int32))
    return _save(d / "a.tif", image), [[0] * 3, [128] * 3, WHITE]


def _rgb16(d):
    rows = struct.pack(">6H", 65535, 32768, 0, 0, 0, 65535)
    return _png(d / "a.png", (2, 1), 16, 2, rows), [[255, 128, 0], BLUE]


def _rgb16_transparent_colour(d):
    rows = struct.pack(">6H", 65535, 32768, 0, 0, 0, 65535)
    blue = _chunk(b"tRNS", struct.pack(">3H", 0, 0, 65535))
    return _png(d / "a.png", (2, 1), 16, 2, rows, blue), [[255, 128, 0], WHITE]


def _rgba16(d):
    rows = struct.pack(">12H", 65535, 0, 0, 65535, 0, 0, 65535, 0, 0, 0, 0, 32768)
    return _png(d / "a.png", (3, 1), 16, 6, rows), [RED, WHITE, [127] * 3]


def _palette(transparent):
    def build(d):
        image = Image.fromarray(np.array([[0, 1]], np.uint8), mode="L").convert("P")
        image.putpalette([*RED, *BLUE])
        options = {"transparency": 1} if transparent else {}
        return _save(d / "a.png", image, **options), [RED, WHITE if transparent else BLUE]

    return build


def _palette_alpha(d):
    image = Image.new("PA", (2, 1))
    image.putpalette([*RED, *BLUE])
    image.putpixel((0, 0), (0, 255))
    image.putpixel((1, 0), (1, 0))
    return _save(d / "a.tif", image), [RED, WHITE]


def _grey_alpha(d):
    image = Image.new("LA", (2, 1))
    image.putdata([(50, 255), (50, 0)])
    return _save(d / "a.png", image), [[50] * 3, WHITE]


def _rgba(d):
    image = Image.new("RGBA", (3, 1))
    image.putdata([(255, 0, 0, 255), (0, 0, 255, 0), (0, 0, 0, 128)])
    return _save(d / "a.png", image), [RED, WHITE, [127] * 3]


def _rgb_transparent_colour(d):
    image = Image.new("RGB", (2, 1))
    image.putdata([RED, BLUE])
    return _save(d / "a.png", image, transparency=BLUE), [RED, WHITE]


def _cmyk_jpeg(d):
    image = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # full magenta and yellow: red
    return _save(d / "a.jpg", image, quality=100), [RED] * 16


def _float(values, expected):
    def build(d):
        image = Image.fromarray(np.array([values], np.float32))  # mode F
        return _save(d / "a.tif", image), expected

    return build


def _first_frame(suffix):
    def build(d):
        red, blue = Image.new("RGB", (2, 1), RED), Image.new("RGB", (2, 1), BLUE)
        return _save(d / f"a.{suffix}", red, save_all=True, append_images=[blue]), [RED] * 2

    return build


def _wrong_suffix(d):
    image = Image.fromarray(np.array([[10, 200]], np.uint8))
    return _save(d / "a.jpg", image, format="PNG"), [[10] * 3, [200] * 3]


MODES = {
    "1-bit": _one_bit,
    "L": _grey_l,
    "I;16 png": _grey16("png", np.uint16),
    "I;16 tiff": _grey16("tif", np.uint16),
    "I;16B tiff": _grey16("tif", ">u2"),
    "I tiff, 16-bit values": _int32_16bit_values,
    "I tiff, 32-bit values": _int32_wide,
    "16-bit RGB png": _rgb16,
    "16-bit RGB png with a transparent colour": _rgb16_transparent_colour,
    "16-bit RGBA png": _rgba16,
    "P": _palette(transparent=False),
    "P with transparency": _palette(transparent=True),
    "PA": _palette_alpha,
    "LA": _grey_alpha,
    "RGBA": _rgba,
    "RGB with a transparent colour": _rgb_transparent_colour,
    "CMYK jpeg": _cmyk_jpeg,
    "F within [0, 1]": _float([0.0, 0.5, 1.0], [[0] * 3, [128] * 3, WHITE]),
    "F outside [0, 1]": _float([-1.0, 0.0, 3.0], [[0] * 3, [64] * 3, WHITE]),
    "F with NaN": _float([float("nan"), 0.25, 0.5], [[0] * 3, [64] * 3, [128] * 3]),
    "gif: first frame": _first_frame("gif"),
    "tiff: first frame": _first_frame("tif"),
    "png bytes named .jpg": _wrong_suffix,
}


@pytest.mark.parametrize("build", MODES.values(), ids=MODES.keys())
def test_every_mode_decodes_to_what_a_viewer_shows(build, tmp_path):
    path, expected = build(tmp_path)
    assert check_image_header(path) is None
    image = open_image(path)  # what fit, predict and export read through
    assert image.mode == "RGB"
    first_row = np.asarray(image, dtype=int)[0]
    assert np.abs(first_row - np.array(expected)).max() <= 2, first_row.tolist()


def test_sixteen_bit_grey_is_not_almost_all_white(tmp_path):
    """The reported failure: a 16-bit grey gradient used to decode 99.8 % white."""
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = _save(tmp_path / "ramp.png", Image.fromarray(ramp))
    decoded = np.asarray(decode_image(path))[..., 0]
    assert (decoded == 255).mean() < 0.01
    assert abs(int(decoded[32, 0]) - 128) <= 1  # the middle row holds values near 32768


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16] = RED
    pixels[:, 16:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: rotate 90 degrees clockwise to show
    path = tmp_path / "turned.jpg"
    Image.fromarray(pixels).save(path, quality=100, subsampling=0, exif=exif)
    shown = np.asarray(decode_image(path), dtype=int)
    assert shown.shape == (32, 16, 3)  # shown upright: taller than wide
    assert np.abs(shown[4, 8] - RED).max() <= 2 and np.abs(shown[28, 8] - BLUE).max() <= 2


def test_a_large_jpeg_is_still_drafted_down(tmp_path):
    path = _save(tmp_path / "big.jpg", Image.new("RGB", (1024, 768), RED), quality=95)
    image = decode_image(path, draft_size=256)
    assert image.size == (512, 384) and image.mode == "RGB"  # 1/4 would be below 256
    assert max(open_image(path, 256).size) < 1024


def test_an_image_over_the_limit_is_skipped_with_its_size_and_the_fix(tmp_path):
    root = tmp_path / "data"
    for name, colour in {"red": RED, "blue": BLUE}.items():
        (root / name).mkdir(parents=True)
        for i in range(6):
            _save(root / name / f"{i}.png", Image.new("RGB", (8, 8), colour))
    huge = _huge_png(root / "red" / "huge.png")
    with _no_bomb_warnings():
        splits = transferkit.read_data(root)
    assert [(s.item, s.reason) for s in splits.skipped] == [(str(huge), BIG_REASON)]
    assert len(splits.train) + len(splits.val) == 12


def test_decoding_an_image_over_the_limit_raises_before_decoding(tmp_path):
    huge = _huge_png(tmp_path / "huge.png")
    start = time.perf_counter()
    with _no_bomb_warnings(), pytest.raises(ImageDecodeError) as caught:
        decode_image(huge)
    assert time.perf_counter() - start < 1.0  # 540 MB were never allocated
    assert isinstance(caught.value, TransferKitError)
    assert caught.value.reason == BIG_REASON
    assert str(caught.value) == f"{huge}: {BIG_REASON}"
    _, tensor, reason = _ImageFiles([str(huge)], np.asarray, 256)[0]
    assert tensor is None and reason == BIG_REASON  # an error row in fit and predict


def test_the_environment_variable_raises_and_lowers_the_limit(tmp_path, monkeypatch):
    huge = _huge_png(tmp_path / "huge.png")
    small = _save(tmp_path / "small.png", Image.new("RGB", (40, 40), RED))
    assert max_image_pixels() == Image.MAX_IMAGE_PIXELS == 89_478_485
    monkeypatch.setenv("TRANSFERKIT_MAX_IMAGE_PIXELS", "200000000")
    with _no_bomb_warnings():
        assert check_image_header(huge) is None  # above Pillow's own limit, yet allowed
    monkeypatch.setenv("TRANSFERKIT_MAX_IMAGE_PIXELS", "0")
    assert max_image_pixels() is None and check_image_header(huge) is None
    monkeypatch.setenv("TRANSFERKIT_MAX_IMAGE_PIXELS", "1000")
    lowered = f"image too large: 40x40 = 1,600 pixels, over the limit of 1,000 {LIMIT_HINT}"
    assert check_image_header(small) == lowered
    with pytest.raises(ImageDecodeError, match="over the limit of 1,000"):
        decode_image(small)
    monkeypatch.setenv("TRANSFERKIT_MAX_IMAGE_PIXELS", "1600")
    assert check_image_header(small) is None and decode_image(small).size == (40, 40)


@pytest.mark.parametrize("value", ["lots", "-5", "1e9"])
def test_a_bad_limit_setting_says_what_is_expected(value, monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_MAX_IMAGE_PIXELS", value)
    with pytest.raises(TransferKitError, match=r"must be a whole number of pixels, 0 for no"):
        max_image_pixels()


def test_pillows_own_limit_never_escapes_and_is_left_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # e.g. set by the user's own code
    path = _save(tmp_path / "a.png", Image.new("RGB", (40, 40), RED))  # over twice that
    with _no_bomb_warnings():
        assert check_image_header(path) is None
        assert decode_image(path).size == (40, 40)
    assert Image.MAX_IMAGE_PIXELS == 100


def _corrupt_bmp(d):
    """A BMP whose width byte is damaged: its header now claims about a billion pixels."""
    path = _save(d / "a.bmp", Image.new("RGB", (20, 20), RED))
    data = bytearray(path.read_bytes())
    data[21] = 0x3C  # the top byte of the width
    path.write_bytes(bytes(data))
    return path


def _cut(suffix, fraction):
    def build(d):
        rng = np.random.default_rng(0)
        pixels = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        path = _save(d / f"a.{suffix}", Image.fromarray(pixels))
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
        return path

    return build


def _write(suffix, data):
    def build(d):
        path = d / f"a.{suffix}"
        path.write_bytes(data)
        return path

    return build


NOT_AN_IMAGE = "unreadable image: not an image file"
# (file, what the header check says, what decoding says); None: the header reads fine
BROKEN = {
    "truncated png": (_cut("png", 0.6), None, "unreadable image (OSError"),
    "truncated jpeg": (_cut("jpg", 0.6), None, "unreadable image (OSError"),
    "random bytes named .png": (
        _write("png", bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8))),
        "not an image file",
        NOT_AN_IMAGE,
    ),
    "zero bytes": (_write("jpg", b""), "empty file (0 bytes)", "unreadable image: empty file"),
    "text named .jpg": (_write("jpg", b"not a picture"), "not an image file", NOT_AN_IMAGE),
    "bmp with a damaged header": (_corrupt_bmp, "image too large: 1006", "image too large"),
}


@pytest.mark.parametrize(("build", "header", "decoded"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_bytes_are_skipped_with_a_reason_never_a_crash(build, header, decoded, tmp_path):
    path = build(tmp_path)
    with _no_bomb_warnings():
        reason = check_image_header(path)
        assert reason is None if header is None else reason.startswith(header), reason
        _, tensor, row_reason = _ImageFiles([str(path)], np.asarray, 256)[0]
    assert tensor is None and row_reason.startswith(decoded)
    with pytest.raises(ImageDecodeError, match=f"^{path}: "):
        decode_image(path)


def test_image_backbones_name_the_decoder_in_their_cache_identity():
    assert LITE0.preprocessing()["decoder"] == DECODER_VERSION == "transferkit-rgb-2"
    text = BackboneConfig("t", "text", 8, "mit", "none", max_length=16, pooling="mean")
    assert "decoder" not in text.preprocessing()
    backbone = transferkit.create_backbone("efficientnet_lite0")
    old = {k: v for k, v in backbone.preprocessing().items() if k != "decoder"}
    old_identity = digest_text(f"{LITE0.name}|{backbone.weights_digest}|{sorted(old.items())}")
    assert backbone.identity != old_identity  # embeddings of the old decoding are not reused
