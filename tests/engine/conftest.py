"""A tiny multi-view dataset and config so the trainer runs in seconds."""

from __future__ import annotations

import pytest

from tempssl.video.synthetic import write_coded_video


@pytest.fixture(scope="session")
def scenes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    for s in range(4):
        for v in range(2):
            (root / f"scene{s}").mkdir(exist_ok=True)
            write_coded_video(root / f"scene{s}" / f"view{v}.mp4", 16, seed=10 * s + v)
    # labelled manifests for online kNN: the view-0 videos, 2 classes
    rows = "".join(f"scene{s}/view0.mp4,{'ab'[s % 2]}\n" for s in range(4))
    (root / "labels.csv").write_text("path,label\n" + rows)
    return root


@pytest.fixture
def tiny(scenes_root, tmp_path) -> list[str]:
    """Overrides of configs/tcn.yaml for a run of a few seconds on `scenes_root`."""
    return [
        f"data.root={scenes_root}",
        "data.num_workers=0",
        "sampler.args={views: 2, moments_per_scene: 2, min_gap: 0.04}",
        "transforms.size=32",
        "model.args={width: 4}",
        "trainer.batch_size=4",
        "trainer.epochs=2",
        "trainer.log_every=1",
        "trainer.progress=false",
        f"trainer.output_dir={tmp_path}",
        "eval.enabled=false",
    ]
