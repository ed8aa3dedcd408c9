"""Per-video embeddings from a trained network: windows sampled uniformly across each video,
embedded one by one, pooled over time, written to an embedding folder (`tempssl.eval.store`).

A window is W frames at a stride, evenly spaced over the video (the first starts at frame 0, the
last ends at the last frame). What embeds it (`ExtractSettings.features`):

- "backbone" with a frame backbone: single frames (W = 1), `(C, H, W) -> (D,)`;
- "backbone" with a clip backbone (`tempssl.models.input_kind`): clips `(C, W, H, W) -> (D,)`,
  by default the clips or blocks the run trained on (`default_windows`);
- "context": CPC's aggregated context after a sequence of blocks (`CPC.context_embedding`),
  by default the run's sequence (N blocks of L frames);
- "embedding": the method's own per-frame embedding (`frame_embedding`, e.g. TCN's 32-d output of
  its spatial-softmax head, which the paper aligns videos with), single frames `(C, H, W) -> (E,)`.

Large sets are processed in chunks of videos; each finished chunk is saved at once, so an
interrupted extraction resumes where it stopped (same settings) instead of starting over. Videos
that cannot be decoded are reported, listed in the sidecar and left out; they never stop the run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from tempssl.build import initial_model
from tempssl.data.color import backbone_input
from tempssl.data.sampling import SAMPLERS
from tempssl.data.sources import VideoSource, load_source, unreadable_error
from tempssl.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_transform
from tempssl.eval.checkpoints import load_method
from tempssl.eval.store import Embeddings, load_embeddings, save_embeddings
from tempssl.models import input_kind
from tempssl.models.backbones import input_channels
from tempssl.video import VideoError, open_video

log = logging.getLogger(__name__)

POOLINGS = ("mean", "max", "concat", "none")
FEATURES = ("backbone", "context", "embedding")
METHOD_FEATURES = ("context", "embedding")  # computed by the method, not its backbone


@dataclass(frozen=True)
class ExtractSettings:
    """How frames are chosen and pooled.

    Attributes:
        frames_per_video: T windows (single frames unless `window_frames` > 1), evenly spaced.
        pooling: "mean" / "max" over the T windows -> `(D,)`; "concat" -> `(T*D,)` in time order;
            "none" -> the first window's vector as `embeddings` and all in `frame_embeddings`.
        save_frames: also store every window's vector, time and frame index (`frame_embeddings`,
            `frame_times`, `frame_indices`: a window's time and index are its middle frame's, a
            context's its last frame's).
        size: frames are resized (short side) and centre-cropped to `size` x `size`.
        mean, std: the normalization after scaling to [0, 1], the run's
            (`TransformConfig.normalization`); both None: none.
        decode_size: resize at decode time (short side; None = native), for speed on big videos.
        window_frames: W frames per window (1 for frame backbones).
        window_stride: frame step inside a window.
        features: "backbone", "context" or "embedding" (see the module docstring).
        block_len: "context" only: frames per block (the window holds W / block_len blocks).
    """

    frames_per_video: int = 8
    pooling: str = "mean"
    save_frames: bool = False
    size: int = 64
    mean: Sequence[float] | None = IMAGENET_MEAN
    std: Sequence[float] | None = IMAGENET_STD
    decode_size: int | None = None
    backend: str = "auto"
    window_frames: int = 1
    window_stride: int = 1
    features: str = "backbone"
    block_len: int = 1

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {', '.join(FEATURES)}, got {self.features!r}")
        for name in ("frames_per_video", "window_frames", "window_stride", "block_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.window_frames % self.block_len:
            raise ValueError(
                f"window_frames ({self.window_frames}) must be a multiple of block_len "
                f"({self.block_len}): a context window is whole blocks"
            )


def default_windows(
    cfg,
    features: str,
    backbone: nn.Module,
    clip_len: int | None = None,
    clip_stride: int | None = None,
) -> dict:
    """The windows a run's network embeds, from its training sampler: ExtractSettings fields.

    Frame backbones embed single frames. A clip backbone embeds the clips (`clips` sampler:
    `num_frames` at `stride`) or blocks (`sequences` sampler: `block_len` at `stride`) it trained
    on, unless `clip_len` / `clip_stride` say otherwise; "context" embeds the whole training
    sequence (`num_blocks` blocks of `block_len`).

    Raises:
        ValueError: the run's sampler does not say which clips and `clip_len` is not given, or
            `clip_len` / `clip_stride` with "context" (a context is the run's own sequence).
    """
    name = cfg.sampler.name
    args = {**_defaults(SAMPLERS.get(name)), **cfg.sampler.args}
    given = clip_len is not None or clip_stride is not None
    if features == "context":
        if given:
            raise ValueError(
                "--clip-len/--clip-stride choose clips for clip backbones; --features context "
                "embeds the run's own sequences (sampler.args num_blocks, block_len, stride)"
            )
        if name != "sequences":
            raise ValueError(f"features 'context' needs a run trained on sequences, not {name!r}")
        length = args["num_blocks"] * args["block_len"]
        return {"window_frames": length, "window_stride": args["stride"], "block_len": args["block_len"]}
    if features == "embedding":
        if given:
            raise ValueError(
                "--features embedding embeds single frames: leave out --clip-len/--clip-stride"
            )
        return {"window_frames": 1, "window_stride": 1, "block_len": 1}
    if input_kind(backbone) != "clip":
        trained = (1, 1)  # frames per window, stride
    elif name == "sequences":
        trained = (args["block_len"], args["stride"])
    elif name == "clips":
        trained = (args["num_frames"], args["stride"])
    elif clip_len is not None:  # the run's sampler says nothing of clips: only what is given
        trained = (1, 1)
    else:
        raise ValueError(
            f"a clip backbone trained with the {name!r} sampler: give the clip length and stride "
            "(tools/extract.py --clip-len L --clip-stride S)"
        )
    return {
        "window_frames": trained[0] if clip_len is None else clip_len,
        "window_stride": trained[1] if clip_stride is None else clip_stride,
        "block_len": 1,
    }


def _defaults(cls) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def extract_embeddings(
    model: nn.Module,
    source: VideoSource,
    out: str | Path,
    settings: ExtractSettings,
    info: dict | None = None,
    batch_size: int = 16,
    num_workers: int = 2,
    device: torch.device | str = "cpu",
    chunk_videos: int = 256,
    progress: bool = True,
    accelerator=None,
) -> Embeddings:
    """Embed every video of `source` and write the embedding folder `out`.

    `model`: the backbone (features "backbone"), or the method ("context", "embedding").

    Re-running with the same videos and settings reuses the finished result and finished chunks.
    With an `accelerate.Accelerator` of N processes (`accelerate launch tools/extract.py ...`),
    process r embeds chunks r, r+N, ... on its own device and the main process writes the result.

    Returns:
        The embeddings written (readable back with `tempssl.eval.store.load_embeddings`).
    """
    out = Path(out)
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    device = accelerator.device if accelerator else device
    key = _settings_key(source, settings, info or {})
    if (out / "embeddings.json").is_file():
        done = load_embeddings(out)
        if done.info.get("settings_key") == key:
            log.info("%s: already extracted with these settings, nothing to do", out)
            return done
    partial = out / ".partial"
    key_file = partial / "key"
    if rank == 0:
        if partial.is_dir() and (not key_file.is_file() or key_file.read_text() != key):
            shutil.rmtree(partial)  # leftovers of an extraction with other videos or settings
        partial.mkdir(parents=True, exist_ok=True)
        key_file.write_text(key)
    _barrier(accelerator)

    chunks = [range(i, min(i + chunk_videos, len(source))) for i in range(0, len(source), chunk_videos)]
    mine = [(number, videos) for number, videos in enumerate(chunks) if number % world == rank]
    total = sum(len(videos) for _, videos in mine)
    bar = tqdm(total=total, desc="extracting", unit="video", disable=not progress or rank != 0)
    for number, videos in mine:
        chunk_file = partial / f"chunk_{number:05d}.npz"
        if chunk_file.is_file():
            bar.update(len(videos))
            continue
        features, times, indices, ok = embed_windows(
            model, source, list(videos), settings, batch_size, num_workers, device, bar
        )
        _save_chunk(chunk_file, features, times, indices, ok, list(videos))
    bar.close()
    _barrier(accelerator)
    if rank == 0:
        done_info = {**(info or {}), "settings_key": key, "processes": world}
        result = _combine(source, partial, len(chunks), settings, done_info)
        save_embeddings(out, result)
        shutil.rmtree(partial, ignore_errors=True)
    _barrier(accelerator)
    return load_embeddings(out)


def _barrier(accelerator) -> None:
    if accelerator is not None:
        accelerator.wait_for_everyone()


@torch.no_grad()
def embed_windows(
    model: nn.Module,
    source: VideoSource,
    ids: list[int],
    settings: ExtractSettings,
    batch_size: int = 16,
    num_workers: int = 0,
    device: torch.device | str = "cpu",
    bar: tqdm | None = None,
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[int, np.ndarray], dict[int, str | None]]:
    """Embed `settings.frames_per_video` evenly spaced windows of each video `ids[i]`.

    `model`: the backbone, or for features "context" and "embedding" the method.

    Returns, keyed by position `i` in `ids`: window vectors `(T, D)`, window times `(T,)` in
    seconds, the frame index `(T,)` int64 each window's time is taken from, and None for a decoded
    video or the problem of an unreadable one (left out of the first three).
    """
    embed = window_embedder(model, settings)
    transform = build_transform("clip_eval", size=settings.size, mean=settings.mean, std=settings.std)
    dataset = _UniformWindows(source, ids, settings, transform)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=list)
    was_training = model.training
    model = model.to(device).eval()
    features, times, indices, ok = {}, {}, {}, {}
    for items in loader:
        good = [item for item in items if item[1] is not None]
        for index, _, _, _, problem, _ in items:
            ok[index] = problem
        if good:
            # each distinct window once (an image, or a video shorter than the windows, repeats)
            distinct = [item[1] for item in good]  # (U_i, W, C, H, W) each
            out = embed(torch.cat(distinct).to(device)).float().cpu()
            out = out.split([len(d) for d in distinct])
            for (index, _, t, at, _, inverse), vectors in zip(good, out, strict=True):
                features[index] = vectors[inverse].numpy()  # (T, D)
                times[index], indices[index] = t.numpy(), at
        if bar is not None:
            bar.update(len(items))
    model.train(was_training)
    return features, times, indices, ok


def window_embedder(model: nn.Module, settings: ExtractSettings):
    """`windows float (B, W, C, H, W) -> (B, D)` for `model` and `settings` (module docstring).

    Raises:
        ValueError: windows the model cannot take (several frames for a frame backbone, or
            "context" features of a model without `context_embedding`).
    """
    if settings.features == "context":
        if not callable(getattr(model, "context_embedding", None)):
            raise ValueError(
                f"features 'context' needs a method with an aggregated context (cpc, dpc), got "
                f"{type(model).__name__}"
            )
        blocks = settings.window_frames // settings.block_len
        return lambda x: model.context_embedding(x.unflatten(1, (blocks, settings.block_len)))
    if settings.features == "embedding":
        if not callable(getattr(model, "frame_embedding", None)):
            raise ValueError(
                f"features 'embedding' needs a method with its own per-frame embedding (tcn), got "
                f"{type(model).__name__}"
            )
        return lambda x: model.frame_embedding(x[:, 0])
    if input_kind(model) == "clip":
        return lambda x: model(x.transpose(1, 2))  # (B, C, W, H, W)
    if settings.window_frames != 1:
        raise ValueError(
            f"a frame backbone embeds single frames, not windows of {settings.window_frames}: "
            "leave the clip length at 1"
        )
    channels = input_channels(model)
    if channels != 3:  # e.g. colorization's lightness-only backbone
        return lambda x: model(backbone_input(x[:, 0], channels, settings.mean, settings.std))
    return lambda x: model(x[:, 0])


class _UniformWindows(Dataset):
    """Item i: `(i, windows float (U, W, C, H, W), times (T,), frame indices (T,), None, inverse
    (T,))` of one video: its U distinct windows of the T (window t is `windows[inverse[t]]`), or
    `(i, None, None, None, problem, None)` if unreadable."""

    def __init__(self, source: VideoSource, ids: list[int], settings: ExtractSettings, transform):
        self.source, self.ids, self.settings, self.transform = source, ids, settings, transform

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        video = self.source.videos[self.ids[i]]
        s = self.settings
        try:
            with open_video(video.path, backend=s.backend, size=s.decode_size) as reader:
                indices = uniform_windows(reader.num_frames, s)  # (T, W)
                frames = reader.get_frames(indices.ravel())  # each distinct frame decoded once
                # a clip's time is its middle frame's; a context summarizes up to its last frame
                at = indices[:, -1] if s.features == "context" else indices[:, indices.shape[1] // 2]
                times = reader.timestamps[at] + video.offset  # scene clock (multi-view)
        except VideoError as error:
            log.warning("skipping unreadable video: %s", error)
            return i, None, None, None, str(error.problem), None
        _, first, inverse = np.unique(indices, axis=0, return_index=True, return_inverse=True)
        distinct = frames.unflatten(0, indices.shape)[torch.from_numpy(first)]  # (U, W, H, W, 3)
        windows = self.transform(distinct.flatten(0, 1)).unflatten(0, distinct.shape[:2])
        return i, windows, torch.from_numpy(times), at.astype(np.int64), None, inverse.ravel()


def uniform_windows(num_frames: int, settings: ExtractSettings) -> np.ndarray:
    """Frame indices `(T, W)` of T windows of W frames at the settings' stride, evenly spaced:
    the first starts at frame 0, the last ends at the last frame (frames past the end of a short
    video repeat its last frame)."""
    span = (settings.window_frames - 1) * settings.window_stride + 1
    starts = np.linspace(0, max(num_frames - span, 0), settings.frames_per_video).round()
    offsets = np.arange(settings.window_frames) * settings.window_stride
    return np.minimum(starts.astype(np.int64)[:, None] + offsets, num_frames - 1)


def _save_chunk(path: Path, features, times, indices, ok, ids) -> None:
    good = [i for i in range(len(ids)) if ok[i] is None]
    arrays = {
        "ids": np.array([ids[i] for i in good], dtype=np.int64),
        "bad_ids": np.array([ids[i] for i in range(len(ids)) if ok[i] is not None], dtype=np.int64),
        "bad_reasons": np.array([ok[i] for i in range(len(ids)) if ok[i] is not None], dtype=str),
    }
    if good:
        arrays["features"] = np.stack([features[i] for i in good])
        arrays["times"] = np.stack([times[i] for i in good])
        arrays["indices"] = np.stack([indices[i] for i in good])
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _combine(
    source, partial: Path, num_chunks: int, settings: ExtractSettings, info: dict
) -> Embeddings:
    ids, features, times, indices, bad = [], [], [], [], []
    for number in range(num_chunks):
        with np.load(partial / f"chunk_{number:05d}.npz") as chunk:
            ids += chunk["ids"].tolist()
            bad += [
                {"path": source.videos[i].path, "problem": str(p)}
                for i, p in zip(chunk["bad_ids"], chunk["bad_reasons"], strict=True)
            ]
            if "features" in chunk.files:
                features.append(chunk["features"])
                times.append(chunk["times"])
                indices.append(chunk["indices"])
    if not ids:
        raise unreadable_error(source.root, len(source), [(b["path"], b["problem"]) for b in bad])
    frame_features = np.concatenate(features)  # (N, T, D)
    pooled = {
        "mean": lambda x: x.mean(axis=1),
        "max": lambda x: x.max(axis=1),
        "concat": lambda x: x.reshape(len(x), -1),
        "none": lambda x: x[:, 0],
    }[settings.pooling](frame_features)
    videos = [source.videos[i] for i in ids]
    keep_frames = settings.save_frames or settings.pooling == "none"
    if bad:
        log.warning("%d of %d videos could not be decoded and are left out", len(bad), len(source))
    return Embeddings(
        embeddings=pooled.astype(np.float32),
        paths=np.array([v.path for v in videos], dtype=str),
        labels=np.array([v.label for v in videos], dtype=np.int64),
        classes=np.array(source.classes, dtype=str),
        groups=np.array([v.group or "" for v in videos], dtype=str),
        views=np.array([v.view or "" for v in videos], dtype=str),
        frame_embeddings=frame_features.astype(np.float32) if keep_frames else None,
        frame_times=np.concatenate(times) if keep_frames else None,
        frame_indices=np.concatenate(indices).astype(np.int64) if keep_frames else None,
        info={**info, "settings": settings.__dict__, "num_videos": len(videos), "unreadable": bad},
    )


# what an extraction writes: a new format makes earlier folders and chunks be extracted again
# (2: frame indices)
_FORMAT = 2


def _settings_key(source: VideoSource, settings: ExtractSettings, info: dict) -> str:
    payload = json.dumps(
        {
            "format": _FORMAT,
            "videos": [v.path for v in source.videos],
            # labels too: the same files read as another layout or label column are another job
            "labels": [v.label for v in source.videos],
            "classes": list(source.classes),
            "settings": settings.__dict__,
            "info": info,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(payload.encode()).hexdigest()


def random_init_baseline(folder: str | Path, progress: bool = True) -> Path:
    """The same videos as embedding folder `folder`, embedded by its run's network before training.

    Reads the checkpoint, videos and settings from `folder`'s sidecar, rebuilds the network with the
    run's seed (no trained weights), and extracts into `<folder>/random_init/` (reused when done).
    """
    done = load_embeddings(folder)
    info = done.info
    missing = [k for k in ("checkpoint", "videos", "settings") if k not in info]
    if missing:
        raise ValueError(
            f"{folder}: its embeddings.json lacks {', '.join(missing)}, so the random-init baseline "
            "cannot be rebuilt; extract one with `tools/extract.py --random-init` and pass its folder"
        )
    _, cfg, _ = load_method(info["checkpoint"])
    model = initial_model(cfg)
    source = load_source(
        info["videos"], info.get("layout", "auto"), info.get("label_column", "label"), progress=False
    )
    settings = ExtractSettings(**info["settings"])
    out = Path(folder) / "random_init"
    baseline_info = {
        k: v for k, v in info.items() if k not in ("settings", "unreadable", "settings_key")
    }
    baseline_info["weights"] = "random init"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    network = model if settings.features in METHOD_FEATURES else model.backbone
    extract_embeddings(
        network, source, out, settings, info=baseline_info, device=device, progress=progress
    )
    return out
