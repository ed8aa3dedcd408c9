"""Every config trains on a user's own footage with only `data.root=<folder>` added.

Two kinds of footage: folders written here (a plain folder of single-camera videos in several
formats, and two long recordings of four synchronized cameras each), and, when they have been
downloaded, the real sample videos of `../shared/data/dev_videos.sh` (`$TEMPSSL_DEV_VIDEOS`, or
its default folder). Runs are cut to a few optimizer steps: what is tested is that the data path,
the layout guess and the plans-per-epoch rule let every config start on such data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tempssl.config import load_config
from tempssl.engine.trainer import train
from tempssl.schema import TrainConfig
from tempssl.video.synthetic import pack_bframes, write_coded_video

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
SINGLE_VIEW = [c for c in CONFIGS if c.name != "tcn.yaml"]
DEV_VIDEOS = Path(os.environ.get("TEMPSSL_DEV_VIDEOS") or Path.home() / ".cache" / "tempssl-dev-videos")


@pytest.fixture(scope="module")
def own_footage(tmp_path_factory) -> Path:
    """A plain folder: 320x240 H.264 at 30 fps, a packed-B-frame XviD-style AVI, an animated GIF."""
    root = tmp_path_factory.mktemp("my_videos")
    write_coded_video(root / "kitchen.mp4", 150, height=240, width=320, fps=30, options={"g": "30"})
    source = write_coded_video(root / "tmp.avi", 100, codec="mpeg4", b_frames=1, options={"g": "12"})
    pack_bframes(source, root / "garden.avi")
    source.unlink()
    write_coded_video(root / "street.gif", 60, codec="gif", pix_fmt="rgb8", b_frames=None, fps=20)
    return root


@pytest.fixture(scope="module")
def long_scenes(tmp_path_factory) -> Path:
    """Two recordings of four synchronized cameras, 300 frames (10 s) each: root/<scene>/<view>."""
    root = tmp_path_factory.mktemp("my_scenes")
    for scene in range(2):
        for camera in range(4):
            path = root / f"take{scene}" / f"cam{camera}.mp4"
            path.parent.mkdir(exist_ok=True)
            write_coded_video(path, 300, fps=30, seed=10 * scene + camera, options={"g": "30"})
    return root


def _train(config: Path, root: Path, out: Path) -> dict:
    overrides = [f"data.root={root}", f"trainer.output_dir={out}", "trainer.progress=false"]
    cfg = load_config(TrainConfig, config, [*overrides, "trainer.max_steps=2"])
    return train(cfg, run_name=config.stem)


@pytest.mark.parametrize("config", SINGLE_VIEW, ids=lambda p: p.name)
def test_single_view_configs_train_on_a_plain_folder(config, own_footage, tmp_path):
    summary = _train(config, own_footage, tmp_path)
    assert summary["steps"] == 2 and summary["skipped_plans"] == 0


def test_multiview_config_trains_on_two_long_recordings(long_scenes, tmp_path):
    summary = _train(CONFIGS[[c.name for c in CONFIGS].index("tcn.yaml")], long_scenes, tmp_path)
    # one block of 16 moments (one batch) per 10 s scene: two batches, each of one scene
    assert summary["steps"] == 2 and summary["global_batch"] == 16


@pytest.fixture(scope="module")
def dev_videos() -> Path:
    if not (DEV_VIDEOS / ".complete").is_file():
        pytest.skip("real sample videos not downloaded: run ../shared/data/dev_videos.sh")
    return DEV_VIDEOS


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_config_trains_on_the_real_sample_videos(config, dev_videos, tmp_path):
    root = dev_videos
    if config.name == "tcn.yaml":  # scenes made of them (not synchronized: the data path is tested)
        root = tmp_path / "scenes"
        videos = sorted(p for p in dev_videos.iterdir() if not p.name.startswith("."))
        for i, video in enumerate(videos):
            scene = root / f"scene{i // 2}"
            scene.mkdir(parents=True, exist_ok=True)
            (scene / f"view{i % 2}{video.suffix}").symlink_to(video)
    summary = _train(config, root, tmp_path / "runs")
    assert summary["steps"] == 2 and summary["skipped_plans"] == 0
