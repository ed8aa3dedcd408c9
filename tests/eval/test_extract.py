"""Embedding extraction: uniform frames, pooling, resume after interruption, unreadable videos."""

from __future__ import annotations

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
    loaded = load_embeddings(tmp_path / "emb")
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
