"""Sound as a modality: decoding, resampling, the log-mel front end, folders of audio files
(class folders or labels from file names), bad files skipped and counted, and `fit`,
`predict` and `rank` with the spectrogram CNN and CREPE."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("soundfile") is None or importlib.util.find_spec("torchaudio") is None:
    pytest.skip("audio needs soundfile and torchaudio", allow_module_level=True)

import soundfile

from transferkit._errors import TransferKitError
from transferkit.data._audio import check_audio_header, decode_audio
from transferkit.data._read import read_data


def tone(
    path: Path,
    hz: float,
    seconds: float = 0.5,
    rate: int = 8000,
    seed: int = 0,
    noise: float = 0.01,
) -> Path:
    """A sine at `hz` (silent when 0) with noise, written as 16-bit PCM."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * hz * t + rng.uniform(0, 6)) + noise * rng.normal(size=len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), wave.astype(np.float32), rate, subtype="PCM_16")
    return path


def _peak_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


def test_a_tone_is_decoded_resampled_and_peaks_in_its_mel_band(tmp_path):
    import torch
    import torchaudio

    from transferkit.backbones._audio import FRONT_END, LogMel

    path = tone(tmp_path / "a.wav", 1000.0, seconds=0.5, rate=8000)
    wave = decode_audio(path, 16000)
    assert wave.dtype == np.float32 and len(wave) == 8000  # 0.5 s at 16 kHz
    assert abs(_peak_hz(wave, 16000) - 1000.0) < 5  # the resampled tone keeps its pitch
    # a stereo file is mixed down to mono
    stereo = tmp_path / "stereo.flac"
    both = np.stack([np.zeros(4000), np.full(4000, 0.5)], axis=1).astype(np.float32)
    soundfile.write(str(stereo), both, 8000)
    assert np.allclose(decode_audio(stereo, 8000), 0.25, atol=1e-3)

    front = LogMel(FRONT_END, 224)
    db = front.decibels(torch.from_numpy(wave)[None])[0]  # (n_mels, frames)
    band = int(db.mean(dim=1).argmax())
    centres = torchaudio.functional.melscale_fbanks(
        FRONT_END["n_fft"] // 2 + 1,
        FRONT_END["f_min"],
        FRONT_END["f_max"],
        FRONT_END["n_mels"],
        FRONT_END["sample_rate"],
    )
    freqs = torch.linspace(0, FRONT_END["sample_rate"] / 2, FRONT_END["n_fft"] // 2 + 1)
    nearest = int((freqs[centres.argmax(0)] - 1000.0).abs().argmin())
    assert abs(band - nearest) <= 1
    picture = front(torch.from_numpy(wave)[None])
    assert picture.shape == (1, 3, 224, 224) and torch.isfinite(picture).all()


def _bad_files(folder: Path) -> dict[str, str]:
    """Files a reader must skip, each with the words its reason holds."""
    folder.mkdir(parents=True, exist_ok=True)
    good = tone(folder / "good.wav", 440.0).read_bytes()
    (folder / "empty.wav").write_bytes(b"")
    (folder / "junk.wav").write_bytes(b"not audio at all " * 20)
    (folder / "cut.wav").write_bytes(good[: len(good) // 2])  # truncated in a copy
    (folder / "header.wav").write_bytes(good[:44])  # a header and no samples
    return {
        "empty.wav": "empty file",
        "junk.wav": "not an audio file",
        "cut.wav": "truncated WAV",
        "header.wav": "zero-length",
    }


def test_bad_audio_files_are_skipped_with_why(tmp_path):
    expected = _bad_files(tmp_path / "bad")
    for name, words in expected.items():
        reason = check_audio_header(tmp_path / "bad" / name)
        assert reason is not None and words in reason, (name, reason)
    assert check_audio_header(tmp_path / "bad" / "good.wav") is None


def _tones(root: Path, per_class: int = 8) -> Path:
    """tone/ and hiss/ class folders of varied length: low tones, and white noise."""
    for i in range(per_class):
        tone(root / "tone" / f"t{i}.wav", 200 + 30 * i, seconds=0.3 + 0.05 * i, seed=i)
        tone(root / "hiss" / f"h{i}.wav", 0, seconds=0.3 + 0.05 * i, seed=50 + i, noise=0.3)
    return root


def test_class_folders_of_sounds_are_read_and_bad_files_counted(tmp_path):
    root = _tones(tmp_path / "sounds")
    expected = _bad_files(root / "tone")
    splits = read_data(root, seed=0)
    assert splits.modality == "audio" and splits.class_names == ["hiss", "tone"]
    assert len(splits.train) + len(splits.val) == 17  # 16 tones and good.wav
    reasons = {Path(s.item).name: s.reason for s in splits.skipped}
    for name, words in expected.items():
        assert words in reasons[name], reasons
    assert splits.detected.startswith("audio: class folders")


def test_labels_from_file_names(tmp_path):
    root = tmp_path / "fsdd"
    for digit in ("0", "1"):
        for speaker in ("jo", "lu"):
            for take in range(3):
                hz = 300 if digit == "0" else 1800
                tone(root / f"{digit}_{speaker}_{take}.wav", hz, seed=take)
    tone(root / "notes.wav", 440)  # its name does not match the pattern
    splits = read_data(root, label_pattern="{digit}_{speaker}_{take}.wav", label_column="digit")
    assert splits.class_names == ["0", "1"] and len(splits.train) + len(splits.val) == 12
    (skip,) = splits.skipped
    assert skip.item.endswith("notes.wav") and "does not match --label-pattern" in skip.reason
    speakers = read_data(root, label_pattern="{digit}_{speaker}_{take}.wav", label_column=1)
    assert speakers.class_names == ["jo", "lu"]
    with pytest.raises(TransferKitError, match=r"--label 'take2' is not a field.*digit, speaker"):
        read_data(root, label_pattern="{digit}_{speaker}_{take}.wav", label_column="take2")
    with pytest.raises(TransferKitError, match=r"has no \{field\}"):
        read_data(root, label_pattern="digits.wav")


def test_fit_predict_and_rank_on_sounds(tmp_path):
    import transferkit
    from transferkit.selection._rank import rank

    root = _tones(tmp_path / "sounds")
    _bad_files(root / "tone")  # its good.wav is a tone too
    result = transferkit.fit(
        root, out=tmp_path / "run", quiet=True, cache_dir=str(tmp_path / "cache"), seed=0
    )
    m = result.metrics
    assert m["n_skipped"] == 4 and m["backbone"] == "spectrogram:efficientnet_lite0"
    assert m["accuracy"] >= 0.99  # tones against white noise
    config = json.loads((result.run_dir / "model" / "model.json").read_text())
    assert config["backbone"]["modality"] == "audio"
    assert config["backbone"]["preprocessing"]["sample_rate"] == 16000
    model = transferkit.load(result.run_dir)
    fresh = [
        tone(tmp_path / "new" / "0.wav", 250, seed=99),
        tone(tmp_path / "new" / "1.wav", 0, seed=98, noise=0.3),
    ]
    assert list(model.predict([str(p) for p in fresh])) == ["tone", "hiss"]
    # CREPE, a pitch network, as a feature extractor: low tones against high ones
    pitches = tmp_path / "pitches"
    for i in range(8):
        tone(pitches / "low" / f"l{i}.wav", 200 + 20 * i, seconds=0.3 + 0.05 * i, seed=i)
        tone(pitches / "high" / f"h{i}.wav", 1500 + 60 * i, seconds=0.3 + 0.05 * i, seed=i)
    crepe = transferkit.fit(
        pitches, backbone="crepe-tiny", out=tmp_path / "crepe", quiet=True,
        cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    assert crepe.metrics["accuracy"] >= 0.99
    ranked = rank(
        root, ["spectrogram:efficientnet_lite0", "crepe-tiny"], cache_dir=tmp_path / "cache"
    )
    assert {c.name for c in ranked.ranked} == {"spectrogram:efficientnet_lite0", "crepe-tiny"}


def test_a_trained_strategy_on_sounds_with_augmentation(tmp_path):
    import torch

    import transferkit
    from transferkit.backbones import create_backbone

    root = _tones(tmp_path / "sounds", per_class=6)
    result = transferkit.fit(
        root, strategy="top:1", train={"epochs": 2, "batch_size": 8, "cached_views": 2},
        out=tmp_path / "run", quiet=True, cache_dir=str(tmp_path / "cache"), seed=0,
    )  # fmt: skip
    assert result.metrics["accuracy"] >= 0.8
    assert (result.run_dir / "model" / "backbone.safetensors").is_file()
    # SpecAugment draws from torch's generator: seeded, the same picture; else another
    transform = create_backbone("spectrogram:efficientnet_lite0").transform(train=True)
    path = str(next((root / "tone").iterdir()))
    torch.manual_seed(3)
    a = transform(path)
    torch.manual_seed(3)
    assert torch.equal(a, transform(path))
    assert not torch.equal(a, transform(path))


def test_cli_reads_a_label_pattern(tmp_path):
    root = tmp_path / "named"
    for i in range(6):
        tone(root / f"low_{i}.wav", 250, seed=i)
        tone(root / f"high_{i}.wav", 2600, seed=i)
    proc = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "fit", str(root), "--label-pattern",
         "{pitch}_{take}.wav", "--out", str(tmp_path / "run"), "--quiet",
         "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "labels from file names '{pitch}_{take}.wav'" in proc.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "fit", str(root), "--label-pattern",
         "{pitch}_{take}.wav", "--label", "speaker", "--out", str(tmp_path / "run2")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode != 0 and len(lines) == 1 and "pitch, take" in lines[0], lines


def test_audio_export_parity_and_predict_on_files(tmp_path):
    pytest.importorskip("onnxruntime")
    import transferkit
    from transferkit.runs._export import OnnxPredictor, export

    root = _tones(tmp_path / "sounds", per_class=6)
    result = transferkit.fit(
        root, out=tmp_path / "run", quiet=True, cache_dir=str(tmp_path / "cache"), seed=0
    )
    exported = export(result.run_dir, "onnx")
    assert exported.max_abs_diff <= 1e-4 and exported.n_checked >= 2
    sidecar = json.loads(exported.sidecar.read_text())
    assert sidecar["inputs"][0]["name"] == "spectrogram"
    assert (
        sidecar["preprocessing"]["n_mels"] == 128
        and "MelSpectrogram" in (sidecar["preprocessing"]["steps"])
    )
    # the ONNX predictor reproduces the front end from the sidecar: the same probabilities
    # as the PyTorch model, file by file (clips of several lengths), and an error row
    files = [str(p) for p in sorted(root.rglob("*.wav"))][::3]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00")
    onnx, errors = OnnxPredictor(result.run_dir).predict_rows([*files, str(broken)])
    torch_proba, _ = transferkit.load(result.run_dir).predict_rows(files)
    assert np.abs(onnx[: len(files)] - torch_proba).max() < 1e-4
    assert list(errors) == [len(files)]
    out = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "predict", str(result.run_dir),
         str(root / "tone"), "--engine", "onnx"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = out.stdout.strip().splitlines()[1:]
    assert len(rows) == 6 and all(r.split(",")[1] == "tone" for r in rows)


def test_a_mistaken_clip_gets_its_spectrogram_and_a_player_in_the_report(tmp_path):
    import base64
    import io

    from PIL import Image

    from transferkit.runs._report import _mistakes

    clip = tone(tmp_path / "clip.wav", 1000.0, seconds=0.5, rate=8000)
    rows = [
        {"input": str(clip), "label": "low", "predicted": "high", "confidence": "0.9"},
        {"input": str(tmp_path / "gone.wav"), "label": "low", "predicted": "high",
         "confidence": "0.8"},
    ]  # fmt: skip
    shown = _mistakes(rows, 12, None, from_inputs=True)
    assert shown[0]["thumbnail"].startswith("data:image/jpeg;base64,")
    picture = Image.open(io.BytesIO(base64.b64decode(shown[0]["thumbnail"].split(",", 1)[1])))
    assert picture.size == (160, 96)
    wav = base64.b64decode(shown[0]["audio"].split(",", 1)[1])
    wave, rate = soundfile.read(io.BytesIO(wav))
    assert rate == 16000 and len(wave) == 8000  # the clip itself, at the front end's rate
    assert abs(_peak_hz(wave, rate) - 1000.0) < 5
    assert shown[1]["thumbnail"] is None and shown[1]["audio"] is None  # a missing file


def _tiny_wav2vec2(folder: Path) -> Path:
    """A small random wav2vec 2.0 with its feature extractor, saved as a model folder (the
    layout `save_pretrained` writes: what a downloaded model looks like)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=True, feat_extract_norm="layer",
    )  # fmt: skip
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(folder)
    return folder


def test_a_hugging_face_audio_encoder_as_a_backbone(tmp_path):
    import torch

    import transferkit
    from transferkit.backbones import create_backbone
    from transferkit.backbones._hf_audio import HFAudioBackbone
    from transferkit.backbones._weights import HubUnavailableError

    folder = _tiny_wav2vec2(tmp_path / "w2v")
    backbone = create_backbone("hf:tiny-w2v", weights=folder)
    assert isinstance(backbone, HFAudioBackbone) and backbone.modality == "audio"
    assert backbone.feature_dim == 32 and [g for g, _ in backbone.layer_groups()] == [
        "front", "layer0", "layer1",
    ]  # fmt: skip
    # every parameter of a sub-module is in exactly one group (a strategy freezes and rates
    # by group); what is left is the pretraining mask embedding, held by the model itself
    grouped = [id(p) for _, mods in backbone.layer_groups() for m in mods for p in m.parameters()]
    named = dict(backbone.model.named_parameters())
    assert sorted(grouped) == sorted(id(p) for n, p in named.items() if "." in n)
    assert [n for n in named if "." not in n] == ["masked_spec_embed"]
    # the stable-layer-norm variant's final LayerNorm trains with the top layer
    assert backbone.model.encoder.layer_norm in backbone.layer_groups()[-1][1]
    # the wav2vec 2.0 normalisation: zero mean, unit variance per clip
    wave = torch.randn(2, 16000) * 3 + 1
    normal = backbone.model_inputs(wave)["input_values"]
    assert torch.allclose(normal.mean(1), torch.zeros(2), atol=1e-4)
    root = _tones(tmp_path / "sounds", per_class=6)
    result = transferkit.fit(
        root, backbone="hf:tiny-w2v", weights=str(folder), strategy="top:1",
        train={"epochs": 1, "batch_size": 8}, out=tmp_path / "run", quiet=True,
        cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    assert result.metrics["backbone"] == "hf:tiny-w2v"
    model = transferkit.load(result.run_dir)
    assert len(model.predict([str(next((root / "tone").iterdir()))])) == 1
    with pytest.raises(HubUnavailableError, match="model hub is unreachable"):
        create_backbone("hf:facebook/wav2vec2-base")


def test_clip_length_and_windows_of_long_files(tmp_path):
    import torch

    import transferkit
    from transferkit.backbones import create_backbone
    from transferkit.backbones._audio import split_clip_options

    assert split_clip_options("crepe-tiny[seconds=2.5,windows=3]") == (
        "crepe-tiny", {"seconds": 2.5, "windows": 3},
    )  # fmt: skip
    assert split_clip_options("spectrogram:efficientnet_lite0") == (
        "spectrogram:efficientnet_lite0", {},
    )  # fmt: skip
    with pytest.raises(TransferKitError, match="unknown option 'hop'"):
        split_clip_options("crepe-tiny[hop=2]")
    with pytest.raises(TransferKitError, match="reads image"):
        create_backbone("efficientnet_lite0[windows=2]")
    # a 3 s file: its three 1 s windows embedded one by one and averaged are what the
    # windowed backbone gives; a 1 s file's missing windows are left out of the mean
    long = tone(tmp_path / "long.wav", 440.0, seconds=3.0, rate=16000, seed=1)
    short = tone(tmp_path / "short.wav", 440.0, seconds=1.0, rate=16000, seed=2)
    wave = decode_audio(long, 16000)
    for i in range(3):
        soundfile.write(str(tmp_path / f"w{i}.wav"), wave[i * 16000 : (i + 1) * 16000], 16000)
    plain = create_backbone("crepe-tiny")
    windowed = create_backbone("crepe-tiny[windows=3]")
    assert windowed.windows == 3 and windowed.spec == "crepe-tiny[windows=3]"
    with torch.inference_mode():
        parts = torch.cat([b.inputs for b in plain.batches([str(tmp_path / f"w{i}.wav")
                                                             for i in range(3)], 3)])  # fmt: skip
        expected = plain.forward_features(parts).mean(0)
        batch = next(windowed.batches([str(long), str(short)], 2)).inputs
        assert batch.shape == (2, 3, 16000)
        got = windowed.forward_features(batch)
        alone = plain.forward_features(next(plain.batches([str(short)], 1)).inputs)[0]
    assert torch.allclose(got[0], expected, atol=1e-4)
    assert torch.allclose(got[1], alone, atol=1e-4)
    # the options travel with the run: a loaded run rebuilds the same backbone
    root = tmp_path / "sounds"
    for i in range(4):
        for cls, hz in (("low", 300.0), ("high", 2000.0)):
            tone(root / cls / f"{cls}{i}.wav", hz, seconds=2.5, seed=i)
    result = transferkit.fit(
        root, backbone="crepe-tiny", clip_seconds=2, windows=2, out=tmp_path / "run",
        quiet=True, val_size=0.5, cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    assert result.metrics["backbone"] == "crepe-tiny[seconds=2,windows=2]"
    loaded = transferkit.load(tmp_path / "run")
    assert loaded.backbone.audio_settings()["seconds"] == 2.0 and loaded.backbone.windows == 2
