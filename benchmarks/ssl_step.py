"""Training-step time of SimCLR and MoCo v2 against lightly's equivalents, in the same run.

Both sides build the same torchvision ResNet-18 (classifier removed) and the same heads and
losses as their library provides them: ours `tempssl.methods` (`simclr`: 2-layer BN projector,
NT-Xent; `moco`: 2-layer MLP projector, momentum encoder, queue of 4096, shuffled keys) and
lightly's (`SimCLRProjectionHead` + `NTXentLoss`; `MoCoProjectionHead` + `NTXentLoss` with a
memory bank + `update_momentum`). A step is forward, backward, SGD step and the momentum update,
on the same in-memory two-view batch. Steps alternate between the two sides so that machine noise
hits both; the ratio ours / lightly (median step times) is printed, goal <= 1.0.

    pip install -e ".[benchmarks]"      # lightly
    python benchmarks/ssl_step.py                                      # 32 px, batch 64, CPU
    python benchmarks/ssl_step.py --size 224 --batch 256 --steps 30    # on a GPU
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

from tempssl.methods import build_method
from tempssl.models import build_backbone


def _lightly_simclr(backbone: nn.Module):
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead

    head = SimCLRProjectionHead(512, 2048, 128)
    loss_fn = NTXentLoss(temperature=0.5)
    model = nn.ModuleDict({"backbone": backbone, "head": head})

    def loss(x1, x2):
        z1, z2 = model["head"](model["backbone"](x1)), model["head"](model["backbone"](x2))
        return loss_fn(z1, z2)

    return model, loss, lambda: None


def _lightly_moco(backbone: nn.Module):
    from lightly.loss import NTXentLoss
    from lightly.models.modules import MoCoProjectionHead
    from lightly.models.utils import deactivate_requires_grad, update_momentum

    head = MoCoProjectionHead(512, 512, 128)
    key_backbone, key_head = copy.deepcopy(backbone), copy.deepcopy(head)
    deactivate_requires_grad(key_backbone)
    deactivate_requires_grad(key_head)
    loss_fn = NTXentLoss(temperature=0.2, memory_bank_size=(4096, 128))
    model = nn.ModuleDict({"backbone": backbone, "head": head, "kb": key_backbone, "kh": key_head})

    def loss(x_q, x_k):
        q = model["head"](model["backbone"](x_q))
        with torch.no_grad():
            k = model["kh"](model["kb"](x_k))
        return loss_fn(q, k)

    def momentum():
        update_momentum(model["backbone"], model["kb"], m=0.999)
        update_momentum(model["head"], model["kh"], m=0.999)

    return model, loss, momentum


def _ours(name: str, backbone: nn.Module):
    args = {"proj_hidden_dim": 2048} if name == "simclr" else {"queue_size": 4096, "bn_splits": 1}
    method = build_method(name, backbone, **args)
    total = 10**6

    def loss(x1, x2):
        views = torch.stack([x1, x2], dim=1)  # (B, 2, C, H, W): frame j's views at 2j, 2j + 1
        return method({"views": views})["loss"]

    return method, loss, lambda: method.on_step_end(0, total)


def _step_fn(model, loss_fn, after, device):
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9
    )

    def step(x1, x2) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = loss_fn(x1, x2)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        after()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per side")
    parser.add_argument("--methods", nargs="+", default=["simclr", "moco"])
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    generator = torch.Generator().manual_seed(0)
    x1, x2 = (
        torch.rand(args.batch, 3, args.size, args.size, generator=generator).to(device) for _ in range(2)
    )
    builders = {"simclr": _lightly_simclr, "moco": _lightly_moco}
    print(f"ResNet-18, {args.size} px, batch {args.batch}, {device}, {args.steps} steps per side")
    print("| method | tempssl s/step | lightly s/step | ratio tempssl / lightly |")
    print("|---|---:|---:|---:|")
    for name in args.methods:
        torch.manual_seed(0)
        ours_model, ours_loss, ours_after = _ours(name, build_backbone("resnet18"))
        theirs_model, theirs_loss, theirs_after = builders[name](build_backbone("resnet18"))
        ours_model.to(device).train()
        theirs_model.to(device).train()
        ours = _step_fn(ours_model, ours_loss, ours_after, device)
        theirs = _step_fn(theirs_model, theirs_loss, theirs_after, device)
        for _ in range(2):  # warm-up
            ours(x1, x2), theirs(x1, x2)
        times: dict[str, list[float]] = {"ours": [], "theirs": []}
        for _ in range(args.steps):  # interleaved
            times["ours"].append(ours(x1, x2))
            times["theirs"].append(theirs(x1, x2))
        a, b = statistics.median(times["ours"]), statistics.median(times["theirs"])
        print(f"| {name} | {a:.3f} | {b:.3f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
