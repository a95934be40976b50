"""Image folders (one sub-folder per class, optionally under train/ val/ test/), and the
one function that decodes an image file into the 8-bit RGB picture a viewer shows."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from transferkit._errors import TransferKitError
from transferkit.data._dataset import Skipped
from transferkit.data._walk import list_folder, on_path, walk_files

# Part of every image backbone's preprocessing, so of its cache identity: bump it whenever
# `decode_image` gives different pixels for some file, so no embedding of the old pixels
# is reused.
DECODER_VERSION = "transferkit-rgb-2"

# Pillow's own default (1024 * 1024 * 1024 // 4 // 3), about 268 MB decoded as RGB.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
MAX_PIXELS_VARIABLE = "TRANSFERKIT_MAX_IMAGE_PIXELS"

_TRANSPARENT_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
# Pillow's bomb limit is one process-wide setting; see `_pillow_check_off`.
_PILLOW_LIMIT_LOCK = threading.Lock()

SPLIT_NAMES = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation", "dev"),
    "test": ("test", "testing"),
}


def find_split_dirs(root: Path) -> dict[str, Path]:
    """The split folders under `root`, or {} when its folders are classes.

    Split layout only when every visible sub-folder has a split name and a
    `train` one is among them: a class that happens to be called `train`
    (bus/ car/ train/) stays a class.
    """
    folders, _, _ = list_folder(root, on_path(root))  # a link back up is no split folder
    children = {p.name.lower(): p for p, _ in folders if _visible(p)}
    by_name = {name: split for split, names in SPLIT_NAMES.items() for name in names}
    if not children or any(name not in by_name for name in children):
        return {}
    found = {by_name[name]: path for name, path in sorted(children.items())}
    return found if "train" in found and len(found) == len(children) else {}


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


class ImageDecodeError(TransferKitError):
    """An image file that cannot be decoded: `reason` says why without naming the file (for
    a skipped-inputs row), the message says it with the file's name."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def max_image_pixels() -> int | None:
    """The most pixels (width x height) an image may have to be read, or None for no limit.

    Read from the environment variable TRANSFERKIT_MAX_IMAGE_PIXELS at each call (so a
    setting made after import, e.g. by `--max-image-pixels`, reaches DataLoader workers
    too): a whole number, 0 for no limit; unset, Pillow's default of 89,478,485 pixels.
    """
    raw = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise TransferKitError(
            f"{MAX_PIXELS_VARIABLE} must be a whole number of pixels, 0 for no limit."
            f" Got {raw!r}: set it to e.g. 200000000, or unset it for the default"
            f" {DEFAULT_MAX_IMAGE_PIXELS:,}."
        )
    return value or None


def _too_large(size: tuple[int, int], limit: int | None) -> str | None:
    width, height = size
    if limit is None or width * height <= limit:
        return None
    return (
        f"image too large: {width}x{height} = {width * height:,} pixels, over the limit of"
        f" {limit:,} (raise it with --max-image-pixels or {MAX_PIXELS_VARIABLE})"
    )


@contextmanager
def _pillow_check_off() -> Iterator[None]:
    """Pillow's decompression-bomb check off while a file is opened and decoded here.

    Ours runs on the header before any pixel is decoded, with the user's limit; Pillow's
    (a warning above its limit, an error above twice that) would refuse what a raised
    limit allows and warn about what ours already rejects with a clearer message. Its
    setting is process-wide, hence the lock, and it is put back afterwards.
    """
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def decode_image(path: str | Path, draft_size: int | None = None) -> Image.Image:
    """The image in file `path` as the 8-bit RGB picture a viewer shows.

    - the first frame of a multi-frame GIF, TIFF or animated PNG;
    - EXIF orientation applied, as viewers do;
    - transparency (RGBA, LA, PA, a palette or colour transparency entry) composited
      over white, as viewers and browsers show it on a white page;
    - 16-bit samples (I;16, I;16B, 16-bit RGB and RGBA) scaled to 0-255 (by 1/257);
    - 32-bit integers (mode I): values within [0, 65535] are taken as 16-bit samples
      (what 16-bit PNG and TIFF files can give) and scale by 1/257; otherwise min-max
      to 0-255;
    - floats (mode F): values within [0, 1] scale by 255; otherwise min-max to 0-255;
      NaN is black, infinities the extremes;
    - min-max of a constant image (nothing to stretch) gives black;
    - CMYK (e.g. CMYK JPEG) converted without a colour profile, as Pillow does.

    A JPEG larger than `draft_size` is decoded at a reduced scale, never below
    `draft_size` on either side. Raises ImageDecodeError (a TransferKitError) for an
    empty, unreadable or truncated file, and, before decoding anything, for an image
    over `max_image_pixels()`.
    """
    limit = max_image_pixels()
    # All the bytes first: one read, and no file handle left open by lazy decoding.
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise ImageDecodeError(path, "unreadable image: empty file (0 bytes)")
    with _pillow_check_off():
        image = _open_checked(path, data, limit)
        try:
            if draft_size and image.format == "JPEG":
                # DCT-domain downscaling: never below the size the resize needs.
                image.draft("RGB", (draft_size, draft_size))
            image.load()  # the first frame only
        except Exception as exc:  # a truncated or corrupt file fails in many ways
            raise ImageDecodeError(path, _unreadable(exc)) from exc
    _apply_orientation(image)
    try:
        return _to_rgb(image)
    except ValueError as exc:  # a mode Pillow cannot convert (e.g. LAB)
        reason = f"unreadable image: unsupported image mode {image.mode}"
        raise ImageDecodeError(path, reason) from exc


def _open_checked(path: str | Path, data: bytes, limit: int | None) -> Image.Image:
    """The image opened from `data`, header only, after the pixel limit is checked."""
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(path, "unreadable image: not an image file") from exc
    except Exception as exc:  # crafted headers fail in many ways
        raise ImageDecodeError(path, f"unreadable image header ({_describe(exc)})") from exc
    reason = _too_large(image.size, limit)
    if reason:
        raise ImageDecodeError(path, reason)
    return image


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:100]}"


def _unreadable(exc: Exception) -> str:
    why = "the file is cut short or corrupt: re-save or remove it"
    return f"unreadable image ({_describe(exc)}); {why}"


def _apply_orientation(image: Image.Image) -> None:
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:  # viewers show a file whose EXIF block is broken unrotated
        return


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _grey_to_8bit(image).convert("RGB")
    if mode in _TRANSPARENT_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if mode == "RGB" else image.convert("RGB")


def _grey_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grey as 8-bit grey (rules in `decode_image`)."""
    import numpy as np

    values = np.asarray(image).astype(np.float64)
    missing = np.isnan(values)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    if image.mode == "F" and low >= 0.0 and high <= 1.0:
        scaled = values * 255.0
    elif image.mode != "F" and low >= 0.0 and high <= 65535.0:
        scaled = values / 257.0
    elif high > low:
        scaled = (values - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(values)
    scaled[missing] = 0.0
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def check_image_header(path: Path) -> str | None:
    """A reason to skip the file, or None when its header reads as an image (cheap).

    Only the header is parsed, so a file cut short after its header passes here and
    fails later, when `decode_image` reads its pixels.
    """
    limit = max_image_pixels()  # read first: a bad setting is an error, not a skip
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with _pillow_check_off(), Image.open(path) as image:
            size = image.size
    except UnidentifiedImageError:
        return "not an image file"
    except Exception as exc:  # crafted headers fail in many ways; each is a skip, not a crash
        return f"unreadable image header ({type(exc).__name__}: {str(exc)[:80]})"
    return _too_large(size, limit)


def read_class_folders(
    root: Path, split: str, check: Callable[[Path], str | None] | None = None
) -> tuple[list[str], list[str], list[Skipped]]:
    """(paths, labels, skipped) for `root/CLASS/FILE`, recursing into nested folders.

    Linked class folders, sub-folders and files are read like real ones; a link back to a
    folder on its own path (a loop) and a link to nothing are skipped, with why. `check`
    gives a reason to skip a file (default: `check_image_header`).
    """
    paths: list[str] = []
    labels: list[str] = []
    ancestors = on_path(root)
    class_dirs, _, problems = list_folder(root, ancestors)
    skipped = _link_skips(problems, split)
    for class_dir, ident in class_dirs:
        if not _visible(class_dir):
            continue
        files, problems = walk_files(class_dir, {**ancestors, ident: str(class_dir)})
        skipped += _link_skips(problems, split)
        found, bad = checked_images(files, split, check)
        paths += found
        labels += [class_dir.name] * len(found)
        skipped += bad
    return paths, labels, skipped


def checked_images(
    files: list[Path], split: str, check: Callable[[Path], str | None] | None = None
) -> tuple[list[str], list[Skipped]]:
    """(the visible files whose header reads as an image (or passes `check`), the others
    skipped with why)."""
    check = check or check_image_header
    paths: list[str] = []
    skipped: list[Skipped] = []
    for path in files:
        if not _visible(path):
            continue
        reason = check(path)
        if reason is None:
            paths.append(str(path))
        else:
            skipped.append(Skipped(item=str(path), reason=reason, split=split))
    return paths, skipped


def folder_link_skips(root: Path, split: str = "") -> list[Skipped]:
    """The links in `root` itself that are skipped (a loop, a link to nothing), with why."""
    return _link_skips(list_folder(root, on_path(root))[2], split)


def _link_skips(problems: list[tuple[Path, str]], split: str) -> list[Skipped]:
    # A hidden link is left out unread, as hidden files are, and not reported.
    return [Skipped(item=str(p), reason=why, split=split) for p, why in problems if _visible(p)]


def looks_like_image_folder(root: Path) -> bool:
    """True when some sub-folder holds a file that is not a table (a stray CSV is ignored)."""
    tables = {".csv", ".tsv", ".txt", ".parquet"}
    files, _ = walk_files(root, on_path(root))
    return any(
        _visible(path) and path.parent != root and path.suffix.lower() not in tables
        for path in files
    )
