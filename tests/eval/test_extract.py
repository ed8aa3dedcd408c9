"""Embedding extraction: uniform frames, pooling, resume after interruption, unreadable videos."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from tempssl.data.sources import unlabeled_folder
from tempssl.eval.extract import ExtractSettings, extract_embeddings
from tempssl.eval.store import load_embeddings
from tempssl.video.synthetic import write_coded_video


class _MeanColour(nn.Module):
    """Per-frame mean of each channel: `(B, 3, H, W) -> (B, 3)`; counts the frames it sees."""

    def __init__(self):
        super().__init__()
        self.frames_seen = 0

    def forward(self, x):
        self.frames_seen += len(x)
        return x.mean(dim=(2, 3))


@pytest.fixture
def source(tmp_path):
    (tmp_path / "videos").mkdir()
    for i, n in enumerate((20, 33, 12)):
        write_coded_video(tmp_path / "videos" / f"v{i}.mp4", n, seed=i)
    return unlabeled_folder(tmp_path / "videos", progress=False)


def _settings(**kwargs):
    return ExtractSettings(size=32, **{"frames_per_video": 5, **kwargs})


def test_frames_are_uniform_and_pooling_is_right(source, tmp_path):
    result = extract_embeddings(
        _MeanColour(),
        source,
        tmp_path / "emb",
        _settings(save_frames=True),
        num_workers=0,
        progress=False,
    )
    assert result.frame_embeddings.shape == (3, 5, 3) and result.embeddings.shape == (3, 3)
    np.testing.assert_allclose(result.embeddings, result.frame_embeddings.mean(axis=1), rtol=1e-6)
    # 33 frames at 25 fps: frames 0, 8, 16, 24, 32 -> times k * 8 / 25
    np.testing.assert_allclose(result.frame_times[1], np.array([0, 8, 16, 24, 32]) / 25)
    np.testing.assert_array_equal(result.frame_indices[1], [0, 8, 16, 24, 32])
    loaded = load_embeddings(tmp_path / "emb")
    np.testing.assert_array_equal(loaded.frame_indices, result.frame_indices)
    assert [p.split("/")[-1] for p in loaded.paths] == ["v0.mp4", "v1.mp4", "v2.mp4"]
    assert loaded.info["settings"]["pooling"] == "mean" and (loaded.labels == -1).all()
    for pooling, dims in (("max", 3), ("concat", 15), ("none", 3)):
        out = extract_embeddings(
            _MeanColour(),
            source,
            tmp_path / pooling,
            _settings(pooling=pooling),
            num_workers=0,
            progress=False,
        )
        assert out.embeddings.shape == (3, dims)
    concat = load_embeddings(tmp_path / "concat").embeddings
    np.testing.assert_allclose(concat.reshape(3, 5, 3), result.frame_embeddings, rtol=1e-6)


def test_rerun_reuses_the_result(source, tmp_path):
    extract_embeddings(
        _MeanColour(), source, tmp_path / "emb", _settings(), num_workers=0, progress=False
    )
    again = _MeanColour()
    extract_embeddings(again, source, tmp_path / "emb", _settings(), num_workers=0, progress=False)
    assert again.frames_seen == 0
    changed = _MeanColour()
    extract_embeddings(
        changed, source, tmp_path / "emb", _settings(frames_per_video=3), num_workers=0, progress=False
    )
    assert changed.frames_seen == 9  # other settings: recomputed


def test_interrupted_extraction_resumes_without_recomputing(source, tmp_path):
    class _Crash(_MeanColour):
        def forward(self, x):
            if self.frames_seen >= 5:
                raise KeyboardInterrupt
            return super().forward(x)

    with pytest.raises(KeyboardInterrupt):
        extract_embeddings(
            _Crash(),
            source,
            tmp_path / "emb",
            _settings(),
            num_workers=0,
            chunk_videos=1,
            batch_size=1,
            progress=False,
        )
    assert not (tmp_path / "emb" / "embeddings.npz").exists()
    resumed = _MeanColour()
    result = extract_embeddings(
        resumed,
        source,
        tmp_path / "emb",
        _settings(),
        num_workers=0,
        chunk_videos=1,
        batch_size=1,
        progress=False,
    )
    assert resumed.frames_seen == 10  # only the 2 videos not done before
    reference = extract_embeddings(
        _MeanColour(), source, tmp_path / "ref", _settings(), num_workers=0, progress=False
    )
    np.testing.assert_allclose(result.embeddings, reference.embeddings)
    assert not (tmp_path / "emb" / ".partial").exists()


def test_the_same_files_with_labels_are_extracted_again(source, tmp_path):
    out = tmp_path / "emb"
    extract_embeddings(_MeanColour(), source, out, _settings(), num_workers=0, progress=False)
    # the same files, now read as a labelled layout
    videos = [dataclasses.replace(v, label=i % 2) for i, v in enumerate(source.videos)]
    source = dataclasses.replace(source, videos=videos, classes=["a", "b"])
    again = _MeanColour()
    result = extract_embeddings(again, source, out, _settings(), num_workers=0, progress=False)
    assert again.frames_seen == 15 and result.labels.tolist() == [0, 1, 0]


def test_unreadable_videos_are_reported_and_skipped(source, tmp_path, caplog):
    (tmp_path / "videos" / "v1.mp4").write_bytes(b"damaged after indexing")
    result = extract_embeddings(
        _MeanColour(), source, tmp_path / "emb", _settings(), num_workers=0, progress=False
    )
    assert [p.split("/")[-1] for p in result.paths] == ["v0.mp4", "v2.mp4"]
    (bad,) = result.info["unreadable"]
    assert bad["path"].endswith("v1.mp4") and "not a readable video" in bad["problem"]
    assert "skipping unreadable video" in caplog.text


def test_bad_settings():
    with pytest.raises(ValueError, match="pooling must be one of mean, max, concat, none"):
        ExtractSettings(pooling="avg")
    with pytest.raises(ValueError, match="frames_per_video must be >= 1"):
        ExtractSettings(frames_per_video=0)


def test_workers_give_the_same_embeddings(source, tmp_path):
    one = extract_embeddings(
        _MeanColour(), source, tmp_path / "a", _settings(), num_workers=0, progress=False
    )
    two = extract_embeddings(
        _MeanColour(), source, tmp_path / "b", _settings(), num_workers=2, progress=False
    )
    np.testing.assert_allclose(one.embeddings, two.embeddings)
    assert torch.is_tensor(torch.from_numpy(two.embeddings))


class _FrameCodes(nn.Module):
    """A clip "backbone" that reads the frame index drawn in each frame of a clip (undoing the
    transform's normalization): `(B, 3, W, H, W) -> (B, W)`. Windows are checked by their content."""

    input_kind = "clip"

    def forward(self, clips):
        from tempssl.video.synthetic import read_frame_codes

        mean = torch.tensor([0.485, 0.456, 0.406])[None, :, None, None, None]
        std = torch.tensor([0.229, 0.224, 0.225])[None, :, None, None, None]
        pixels = ((clips * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)
        codes = [read_frame_codes(clip.permute(1, 2, 3, 0)) for clip in pixels]  # (W, H, W, C)
        return torch.tensor(codes, dtype=torch.float32)


@pytest.fixture
def square(tmp_path):
    """Videos of 20 and 33 frames whose codes survive the centre crop (square frames)."""
    (tmp_path / "square").mkdir()
    for i, n in enumerate((20, 33)):
        write_coded_video(tmp_path / "square" / f"v{i}.mp4", n, height=64, width=64, seed=i)
    return unlabeled_folder(tmp_path / "square", progress=False)


def test_uniform_windows_by_hand():
    from tempssl.eval.extract import uniform_windows

    # 3 windows of 4 frames at stride 2 (span 7) in 20 frames: starts 0, 6.5 -> 6 (half to even), 13
    windows = uniform_windows(20, _settings(frames_per_video=3, window_frames=4, window_stride=2))
    np.testing.assert_array_equal(windows, [[0, 2, 4, 6], [6, 8, 10, 12], [13, 15, 17, 19]])
    # a video shorter than a window repeats its last frame; single frames are np.linspace's
    short = uniform_windows(5, _settings(frames_per_video=2, window_frames=4, window_stride=2))
    np.testing.assert_array_equal(short, [[0, 2, 4, 4], [0, 2, 4, 4]])
    frames = uniform_windows(33, _settings(frames_per_video=5))
    np.testing.assert_array_equal(frames[:, 0], [0, 8, 16, 24, 32])


def test_clip_windows_hold_the_frames_asked_for(square, tmp_path):
    settings = ExtractSettings(
        size=64, frames_per_video=3, window_frames=4, window_stride=2, save_frames=True
    )
    result = extract_embeddings(_FrameCodes(), square, tmp_path / "clips", settings, num_workers=0)
    # v1 has 33 frames: starts 0, 13, 26; each clip's "features" are its frames' indices
    np.testing.assert_array_equal(
        result.frame_embeddings[1], [[0, 2, 4, 6], [13, 15, 17, 19], [26, 28, 30, 32]]
    )
    np.testing.assert_allclose(result.frame_times[1], np.array([4, 17, 30]) / 25)  # middle frames
    np.testing.assert_array_equal(result.frame_indices[1], [4, 17, 30])


def test_context_windows_are_blocks_of_the_sequence(square, tmp_path):
    class _Context(nn.Module):
        """Stands in for a CPC method: the context is the first frame index of every block."""

        codes = _FrameCodes()

        def context_embedding(self, clip):  # (B, N, L, C, H, W)
            first_frames = clip[:, :, 0].transpose(1, 2)  # (B, C, N, H, W)
            return self.codes(first_frames)

    settings = ExtractSettings(
        size=64, frames_per_video=2, window_frames=6, window_stride=1, block_len=2,
        features="context", save_frames=True,
    )  # fmt: skip
    result = extract_embeddings(_Context(), square, tmp_path / "ctx", settings, num_workers=0)
    # v0 has 20 frames: sequences start at 0 and 14; blocks of 2 frames start every 2 frames
    np.testing.assert_array_equal(result.frame_embeddings[0], [[0, 2, 4], [14, 16, 18]])


def test_embedding_features_are_the_methods_own_per_frame_embedding(square, tmp_path):
    class _Embedding(nn.Module):
        """Stands in for a TCN: its embedding is twice the backbone's features."""

        backbone = _FrameCodes()

        def frame_embedding(self, frames):  # (B, C, H, W)
            return 2 * self.backbone(frames[:, :, None])

    settings = ExtractSettings(size=64, frames_per_video=3, features="embedding", save_frames=True)
    result = extract_embeddings(_Embedding(), square, tmp_path / "emb", settings, num_workers=0)
    plain = extract_embeddings(
        _FrameCodes(), square, tmp_path / "plain",
        ExtractSettings(size=64, frames_per_video=3, save_frames=True), num_workers=0,
    )  # fmt: skip
    np.testing.assert_allclose(result.frame_embeddings, 2 * plain.frame_embeddings)
    with pytest.raises(ValueError, match=r"needs a method with its own per-frame embedding \(tcn\)"):
        from tempssl.eval.extract import window_embedder

        window_embedder(_MeanColour(), _settings(features="embedding"))


def test_windows_a_model_cannot_take_are_refused():
    from tempssl.eval.extract import window_embedder

    with pytest.raises(ValueError, match="a frame backbone embeds single frames"):
        window_embedder(_MeanColour(), _settings(window_frames=4))
    with pytest.raises(ValueError, match=r"needs a method with an aggregated context \(cpc, dpc\)"):
        window_embedder(_MeanColour(), _settings(features="context"))
    with pytest.raises(ValueError, match="multiple of block_len"):
        _settings(window_frames=5, block_len=2, features="context")


def test_default_windows_follow_the_training_sampler():
    from tempssl.config import load_config
    from tempssl.eval.extract import default_windows
    from tempssl.models import build_backbone
    from tempssl.schema import TrainConfig

    root = __import__("pathlib").Path(__file__).parents[2] / "configs"
    cpc = load_config(TrainConfig, root / "cpc.yaml")  # 5 blocks of 4 frames at stride 2
    clip_backbone, frame_backbone = build_backbone("small_3dcnn", width=4), build_backbone("small_cnn")
    assert default_windows(cpc, "backbone", clip_backbone) == {
        "window_frames": 4, "window_stride": 2, "block_len": 1,
    }  # fmt: skip
    assert default_windows(cpc, "context", clip_backbone) == {
        "window_frames": 20, "window_stride": 2, "block_len": 4,
    }  # fmt: skip
    assert default_windows(cpc, "backbone", frame_backbone)["window_frames"] == 1
    tcn = load_config(TrainConfig, root / "tcn.yaml")
    assert default_windows(tcn, "embedding", frame_backbone) == {
        "window_frames": 1, "window_stride": 1, "block_len": 1,
    }  # fmt: skip
    with pytest.raises(ValueError, match="embeds single frames"):
        default_windows(tcn, "embedding", frame_backbone, clip_len=4)
    with pytest.raises(ValueError, match="needs a run trained on sequences"):
        default_windows(tcn, "context", frame_backbone)
    with pytest.raises(ValueError, match="--clip-len"):
        default_windows(tcn, "backbone", clip_backbone)
    # given clip lengths and strides replace the run's, even where the run's sampler has none
    assert default_windows(cpc, "backbone", clip_backbone, clip_len=8) == {
        "window_frames": 8, "window_stride": 2, "block_len": 1,
    }  # fmt: skip
    assert default_windows(tcn, "backbone", clip_backbone, clip_len=16, clip_stride=4) == {
        "window_frames": 16, "window_stride": 4, "block_len": 1,
    }  # fmt: skip
    with pytest.raises(ValueError, match="embeds the run's own sequences"):
        default_windows(cpc, "context", clip_backbone, clip_len=8)


def test_frames_are_normalized_as_the_run_was(source, tmp_path):
    """Channel means are linear: ImageNet-normalized embeddings = (raw [0, 1] ones - mean) / std."""
    from tempssl.data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from tempssl.schema import TransformConfig

    raw_settings = _settings(**TransformConfig(args={"mean": None, "std": None}).normalization())
    raw = extract_embeddings(_MeanColour(), source, tmp_path / "raw", raw_settings, num_workers=0)
    normalized = extract_embeddings(
        _MeanColour(), source, tmp_path / "imagenet", _settings(), num_workers=0
    )
    assert TransformConfig().normalization() == {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    assert raw.embeddings.min() >= 0 and raw.embeddings.max() <= 1
    expected = (raw.embeddings - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(normalized.embeddings, expected, rtol=1e-4, atol=1e-5)


def test_repeated_windows_are_embedded_once(tmp_path):
    # an image is a 1-frame video: its 5 windows are the same frame, embedded once and repeated;
    # a 3-frame video has 3 distinct windows of 5
    from PIL import Image

    from tempssl.data.sources import image_folder

    (tmp_path / "images" / "cat").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
            tmp_path / "images" / "cat" / f"{i}.png"
        )
    model = _MeanColour()
    result = extract_embeddings(
        model, image_folder(tmp_path / "images", progress=False), tmp_path / "emb",
        _settings(save_frames=True), num_workers=0, progress=False,
    )  # fmt: skip
    assert model.frames_seen == 4 and result.frame_embeddings.shape == (4, 5, 3)
    assert (result.frame_embeddings == result.frame_embeddings[:, :1]).all()
    (tmp_path / "short").mkdir()
    write_coded_video(tmp_path / "short" / "v.mp4", 3, seed=0)
    model = _MeanColour()
    short = extract_embeddings(
        model, unlabeled_folder(tmp_path / "short", progress=False), tmp_path / "emb_short",
        _settings(save_frames=True), num_workers=0, progress=False,
    )  # fmt: skip
    assert model.frames_seen == 3
    np.testing.assert_array_equal(short.frame_indices[0], [0, 0, 1, 2, 2])  # linspace(0, 2, 5) rounded
    np.testing.assert_array_equal(short.frame_embeddings[0][0], short.frame_embeddings[0][1])


def test_a_lightness_backbone_embeds_the_lightness_of_the_frames():
    """Colorization's backbone takes L alone: extraction feeds it `(L - 50) / 50` of the frames
    (after undoing the run's normalization), never the RGB frames."""
    from tempssl.data.color import backbone_input
    from tempssl.eval.extract import window_embedder
    from tempssl.models import build_backbone

    backbone = build_backbone("small_cnn", width=4, in_chans=1).eval()
    windows = torch.rand(2, 1, 3, 32, 32)
    for mean, std in [(None, None), ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))]:
        embed = window_embedder(backbone, ExtractSettings(size=32, mean=mean, std=std))
        expected = backbone(backbone_input(windows[:, 0], 1, mean, std))
        torch.testing.assert_close(embed(windows), expected)
