"""Online evaluation during training: kNN accuracy of per-video embeddings on labelled videos,
next to the same number for the randomly initialized network (measured in the same run)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tempssl.config import ConfigError
from tempssl.data import sources
from tempssl.eval.extract import ExtractSettings, embed_frames
from tempssl.eval.knn import knn_accuracy
from tempssl.schema import TrainConfig

log = logging.getLogger(__name__)

BASELINE_FILE = "knn_random_init.json"


class OnlineKNN:
    """kNN top-1 accuracy (Wu et al. 2018: cosine, k=20, T=0.07) for each configured label set.

    The bank and the queries are the toy dataset's `eval.bank_split` / `eval.query_split` (when
    `data.root` is null) or the manifests `eval.bank_manifest` / `eval.query_manifest`.
    """

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.baseline: dict[str, float] | None = None
        self.bank, self.query = (
            self._labelled(cfg.eval.bank_split, cfg.eval.bank_manifest),
            self._labelled(cfg.eval.query_split, cfg.eval.query_manifest),
        )

    def set_baseline(self, run_dir: Path, backbone: nn.Module) -> None:
        """kNN accuracy of the network before any training (kept in the run folder for resumes)."""
        path = run_dir / BASELINE_FILE
        if path.is_file():
            self.baseline = json.loads(path.read_text())
            return
        self.baseline = self.evaluate(backbone)
        path.write_text(json.dumps(self.baseline))

    @torch.no_grad()
    def evaluate(self, backbone: nn.Module) -> dict[str, float]:
        """`{"knn_<labels>_<pooling>": accuracy}` for every label set and pooling.

        Poolings: `mean` (of all frames) and `segments` (means of `eval.segments` consecutive
        groups of frames, concatenated in time order: keeps the direction of a motion).
        """
        e = self.cfg.eval
        settings = ExtractSettings(
            frames_per_video=e.frames_per_video,
            size=self.cfg.transforms.size,
            decode_size=self.cfg.data.decode_size,
            backend=self.cfg.data.backend,
        )
        segmented = []
        for source in (self.bank[0], self.query[0]):
            ids = list(range(len(source)))
            features, _, ok = embed_frames(backbone, source, ids, settings, device=self.device)
            bad = {source.videos[i].path: problem for i, problem in ok.items() if problem}
            if bad:
                raise ValueError(f"unreadable videos in the evaluation set: {bad}")
            frames = torch.from_numpy(np.stack([features[i] for i in ids]))  # (N, T, D)
            segmented.append(frames.unflatten(1, (e.segments, -1)).mean(dim=2).flatten(1))
        pooled = {
            "mean": [x.unflatten(1, (e.segments, -1)).mean(dim=1) for x in segmented],
            "segments": segmented,
        }
        results = {}
        for i, name in enumerate(e.labels):
            bank_labels = torch.tensor([v.label for v in self.bank[i].videos])
            query_labels = torch.tensor([v.label for v in self.query[i].videos])
            for pooling, (bank, query) in pooled.items():
                results[f"knn_{name}_{pooling}"] = knn_accuracy(
                    bank, bank_labels, query, query_labels, e.k, e.temperature
                )
        return results

    def _labelled(self, split: str, manifest: str | None) -> list[sources.VideoSource]:
        """One source per label set (same videos, same order, different labels)."""
        if manifest is None:
            if self.cfg.data.root is not None:
                raise ConfigError(
                    "config key 'eval.bank_manifest': online kNN evaluation needs labelled videos: "
                    "set eval.bank_manifest and eval.query_manifest (CSV path,label), or "
                    "eval.enabled=false",
                    key="eval.bank_manifest",
                )
            from tempssl.engine.build import toy_dataset

            manifest = str(toy_dataset(progress=False) / f"{split}.csv")
        return [
            sources.manifest(manifest, label_column=name, progress=False)
            for name in self.cfg.eval.labels
        ]
