"""Per-video embeddings: frames sampled uniformly across each video, embedded, mean-pooled."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from tempssl.data.dataset import PlanDataset
from tempssl.data.sampling import ClipSampler
from tempssl.data.sources import VideoSource


@torch.no_grad()
def video_embeddings(
    backbone: nn.Module,
    source: VideoSource,
    transform,
    frames_per_video: int = 8,
    batch_size: int = 16,
    num_workers: int = 0,
    device: torch.device | str = "cpu",
    decode_size: int | None = None,
    segments: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings `(N, segments * D)` and labels `(N,)` of every video of `source`, in source order.

    Each video contributes `frames_per_video` frames spread uniformly over its length; the
    backbone embeds each frame `(C, H, W) -> (D,)`. The frames are split into `segments` equal
    consecutive groups, averaged within each group, and the group means concatenated in time order
    (`segments=1`: plain mean pooling, which cannot tell a motion from its reverse).
    """
    if frames_per_video % segments:
        raise ValueError(
            f"frames_per_video={frames_per_video} must be a multiple of segments={segments}"
        )
    # One single-frame clip per plan, evenly spaced from the first frame to the last.
    sampler = ClipSampler(
        source.videos, num_frames=1, stride=1, mode="uniform", clips_per_video=frames_per_video
    )
    dataset = PlanDataset(source, sampler, transform=transform, decode_size=decode_size)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    was_training = backbone.training
    backbone.eval()
    # Uniform plans come in video order, frames_per_video per video, in time order.
    per_plan = []
    for batch in loader:
        frames = batch["clip"][:, :, 0].to(device)  # (B, C, H, W)
        per_plan.append(backbone(frames).float().cpu())  # (B, D)
    backbone.train(was_training)
    features = torch.cat(per_plan).unflatten(0, (len(source.videos), frames_per_video))  # (N, T, D)
    pooled = features.unflatten(1, (segments, frames_per_video // segments)).mean(dim=2)  # (N, S, D)
    labels = torch.tensor([video.label for video in source.videos])
    return pooled.flatten(1), labels
