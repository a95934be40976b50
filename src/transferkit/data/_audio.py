"""Audio files: what counts as one, the check that skips a bad one when the folder is read,
and the one function that decodes a file into mono samples at a backbone's rate.

Decoding is soundfile's (libsndfile: WAV, FLAC, OGG/Vorbis, AIFF, MP3), resampling
torchaudio's. A file is skipped, with why, when it is empty, not audio, holds no samples,
or is a WAV whose data ends before its header says (cut short in a copy).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from transferkit._errors import TransferKitError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3")
# Part of every audio backbone's preprocessing, so of its cache identity: bump it whenever
# `decode_audio` gives other samples for some file.
AUDIO_DECODER_VERSION = "transferkit-audio-3"


class AudioDecodeError(TransferKitError):
    """An audio file that cannot be decoded; `reason` says why without naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{str(path)!r}: {reason}")
        self.reason = reason


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def check_audio_header(path: Path) -> str | None:
    """A reason to skip the file, or None when it reads as audio with samples (cheap: the
    header, and for a WAV the size its data chunk declares)."""
    import soundfile

    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        info = soundfile.info(str(path))
    except Exception as exc:  # libsndfile's errors: not audio, damaged header
        return f"not an audio file ({str(exc).split(':')[-1].strip()[:80] or type(exc).__name__})"
    if info.frames <= 0:
        return "zero-length audio (no samples)"
    return _wav_cut_short(path)


def _wav_cut_short(path: Path) -> str | None:
    """Why a RIFF/WAV file is truncated (its data chunk declares more bytes than follow),
    or None. libsndfile reads such a file up to where it ends, silently."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = path.stat().st_size
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"data":
                    left = size - f.tell()
                    if length > left and length != 0xFFFFFFFF:  # streaming writers use ~0
                        return f"truncated WAV (data chunk declares {length} bytes, {left} follow)"
                    return None
                f.seek(length + (length & 1), 1)
    except OSError as exc:
        return f"unreadable file ({type(exc).__name__})"


def decode_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """The file's samples as float32 in [-1, 1], mixed down to mono, at `sample_rate`."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises its own error types
        raise AudioDecodeError(path, f"unreadable audio ({str(exc)[:100]})") from exc
    if data.shape[0] == 0:
        raise AudioDecodeError(path, "zero-length audio (no samples)")
    wave = data.mean(axis=1)
    if not np.isfinite(wave).all():
        raise AudioDecodeError(path, "audio with non-finite samples")
    if rate != sample_rate:
        wave = resample(wave, int(rate), sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32)


def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """torchaudio's band-limited (windowed sinc) resampling."""
    import torch
    import torchaudio.functional as F

    out = F.resample(torch.from_numpy(np.asarray(wave, np.float32)), rate, target)
    return np.asarray(out.numpy())


def fixed_length(wave: np.ndarray, n: int) -> np.ndarray:
    """The first `n` samples, zero-padded at the end when the clip is shorter."""
    if len(wave) >= n:
        return wave[:n]
    return np.pad(wave, (0, n - len(wave)))
