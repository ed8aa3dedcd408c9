"""One training step on a fixed global batch, under `accelerate launch` with N processes: TCN
(`npairs` or `triplet` loss, gathering embeddings), CPC (`cpc`, gathering block latents), or a
two-view method (`simclr`, `moco_v3`: gathering projections / keys; `moco_v2`: keys encoded in
an order shuffled across processes, queue-only negatives; `byol`: a per-sample loss).

Each process takes its contiguous share of the batch; the script writes the mean loss and the
parameter gradients (averaged over processes by DDP) to the JSON file given as argument.
"""

from __future__ import annotations

import json
import sys

import torch
from accelerate import Accelerator

from tempssl.methods import build_method
from tempssl.models import build_backbone


def main(out: str) -> None:
    accelerator = Accelerator()
    torch.manual_seed(0)
    backbone = build_backbone("small_cnn", width=4)
    if sys.argv[2] == "cpc":
        model = build_method("cpc", backbone, pred_steps=2, context_dim=8, gather=True)
        shape, key = (8, 4, 2, 3, 32, 32), "clip"  # 4 blocks of 2 frames
    elif sys.argv[2] in ("simclr", "moco_v3", "byol", "moco_v2"):
        widths = {
            "simclr": {"proj_hidden_dim": 16, "proj_dim": 8},
            "moco_v2": {"dim": 8, "queue_size": 16},  # keys shuffled across processes, gathered
        }.get(sys.argv[2], {"hidden_dim": 16})
        name = "moco" if sys.argv[2] == "moco_v2" else sys.argv[2]
        model = build_method(name, backbone, **widths)
        shape, key = (8, 2, 3, 32, 32), "views"  # two views of one frame each
    else:
        model = build_method("tcn", backbone, loss=sys.argv[2], gather=True)
        shape, key = (8, 2, 3, 32, 32), "views"
    # BatchNorm with batch statistics differs per process by design (no SyncBN on CPU); running
    # statistics make the step comparable while every other part (gather, DDP averaging) is real.
    # float64: semi-hard mining compares distances, and near-ties at random init must not flip
    # between a batch of 8 and two batches of 4 (different kernel blocking in float32).
    model.eval().double()
    data = torch.rand(*shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = accelerator.prepare(model)
    share = len(data) // accelerator.num_processes
    local = data[accelerator.process_index * share : (accelerator.process_index + 1) * share]
    loss = model({key: local.to(accelerator.device)})["loss"]
    accelerator.backward(loss)
    mean_loss = accelerator.reduce(loss.detach(), "mean").item()
    grads = {
        n: p.grad.flatten()[:50].tolist()
        for n, p in accelerator.unwrap_model(model).named_parameters()
        if p.grad is not None
    }
    if accelerator.is_main_process:
        with open(out, "w") as handle:
            json.dump(
                {"processes": accelerator.num_processes, "loss": mean_loss, "grads": grads}, handle
            )


if __name__ == "__main__":
    main(sys.argv[1])
