"""Online evaluation during training: kNN accuracy of per-video embeddings on labelled videos,
next to the same number for the randomly initialized network (measured in the same run)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tempssl.build import toy_dataset
from tempssl.config import ConfigError
from tempssl.data import sources
from tempssl.eval.extract import ExtractSettings, default_windows, embed_windows
from tempssl.eval.knn import knn_accuracy
from tempssl.schema import TrainConfig

log = logging.getLogger(__name__)

BASELINE_FILE = "knn_random_init.json"


def online_eval_enabled(cfg: TrainConfig) -> bool:
    """Whether online kNN can run: on the toy dataset, or with both labelled manifests given."""
    e = cfg.eval
    if not e.enabled:
        return False
    if (e.bank_manifest is None) != (e.query_manifest is None):
        raise ConfigError(
            "config key 'eval.query_manifest': set both eval.bank_manifest and eval.query_manifest "
            "(labelled CSVs path,label) or neither",
            key="eval.query_manifest",
        )
    if cfg.data.root is not None and e.bank_manifest is None:
        log.info(
            "online kNN evaluation is off: data.root is your data; set eval.bank_manifest and "
            "eval.query_manifest (labelled CSVs path,label) to turn it on"
        )
        return False
    return True


class OnlineKNN:
    """kNN top-1 accuracy (Wu et al. 2018: cosine, k=20, T=0.07) for each configured label set.

    The bank and the queries are the toy dataset's `eval.bank_split` / `eval.query_split` (when
    `data.root` is null) or the manifests `eval.bank_manifest` / `eval.query_manifest`. Query labels
    are mapped to the bank's classes by name.
    """

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        toy = cfg.eval.bank_manifest is None
        self.labels = cfg.eval.labels or (["action", "object"] if toy else ["label"])
        self.baseline: dict[str, float] | None = None
        self.bank = self._labelled(cfg.eval.bank_split, cfg.eval.bank_manifest, "eval.bank_manifest")
        self.query = self._labelled(
            cfg.eval.query_split, cfg.eval.query_manifest, "eval.query_manifest", self.bank
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
        Unreadable videos are left out (with a warning).
        """
        e = self.cfg.eval
        settings = ExtractSettings(
            frames_per_video=e.frames_per_video,
            size=self.cfg.transforms.size,
            **self.cfg.transforms.normalization(),
            decode_size=self.cfg.decode_short_side(),
            backend=self.cfg.data.backend,
            **default_windows(self.cfg, "backbone", backbone),  # clips for clip backbones
        )
        segmented, kept = [], []
        for source in (self.bank[0], self.query[0]):
            features, _, _, problems = embed_windows(
                backbone, source, list(range(len(source))), settings, device=self.device
            )
            ids = sorted(features)  # decoded videos only
            if not ids:
                bad = [(source.videos[i].path, p) for i, p in sorted(problems.items()) if p]
                raise sources.unreadable_error(source.root, len(source), bad)
            frames = torch.from_numpy(np.stack([features[i] for i in ids]))  # (N, T, D)
            segmented.append(frames.unflatten(1, (e.segments, -1)).mean(dim=2).flatten(1))
            kept.append(ids)
        pooled = {
            "mean": [x.unflatten(1, (e.segments, -1)).mean(dim=1) for x in segmented],
            "segments": segmented,
        }
        results = {}
        for i, name in enumerate(self.labels):
            bank_labels = torch.tensor([self.bank[i].videos[j].label for j in kept[0]])
            query_labels = torch.tensor([self.query[i].videos[j].label for j in kept[1]])
            for pooling, (bank, query) in pooled.items():
                results[f"knn_{name}_{pooling}"] = knn_accuracy(
                    bank, bank_labels, query, query_labels, e.k, e.temperature
                )
        return results

    def _labelled(
        self, split: str, manifest: str | None, key: str, bank=None
    ) -> list[sources.VideoSource]:
        """One source per label set (same videos, same order, different labels)."""
        if manifest is None:
            manifest = str(toy_dataset(progress=False) / f"{split}.csv")
        result = []
        for i, name in enumerate(self.labels):
            classes = bank[i].classes if bank is not None else None
            try:
                result.append(
                    sources.manifest(manifest, label_column=name, classes=classes, progress=False)
                )
            except (FileNotFoundError, ValueError) as error:
                raise ConfigError(
                    f"config key '{key}' (labels {name!r} from eval.labels): {error}", key=key
                ) from error
        return result
