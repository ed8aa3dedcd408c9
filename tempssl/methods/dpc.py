"""Dense Predictive Coding (Han, Xie, Zisserman 2019, "Video Representation Learning by Dense
Predictive Coding"), checked against the authors' code (TengdaHan/DPC: dpc/model_3d.py,
backbone/convrnn.py).

A sequence of N blocks of L frames (`tempssl.data.sampling.SequenceSampler`; DPC: 8 blocks of 5)
is encoded block by block into feature maps, `z_i = f(x_i)`, `(D, h, w)`: the clip backbone's map
before global pooling (`forward_features`), averaged over its time axis. A convolutional GRU
aggregates the first N - K blocks into a context map, `c_t = g(ReLU(z_1), ..., ReLU(z_t))` (paper
Eq. 1), and a two-layer 1x1-conv head predicts the next block's map, `z_hat_{t+1} = phi(c_t)`
(Eq. 2). For the K predicted blocks (DPC: 3) the prediction is fed back into the GRU,
`c_{t+1} = g(c_t, ReLU(z_hat_{t+1}))` (Eq. 3), so later steps build on earlier predictions rather
than on the real blocks, which the model never sees.

Loss (Eq. 4, `tempssl.losses.dpc_loss`): each predicted feature at (sequence b, step k, location l)
must pick the real feature at (b, k, l) among all (b', k', l') of the batch, scored by dot products.
Targets are pre-activation: the backbone's map before its final ReLU (`forward_features(...,
pre_activation=True)`; for the video ResNets the last residual sum of `layer4`, which the reference
gets by building its last block without the ReLU), so a prediction can match negative values too;
the aggregator takes the rectified map, as in the reference.

Logged: `prediction_accuracy`, top-1 over all B x K x h x w candidates (the reference's number), and
`own_prediction_accuracy`, top-1 among the sequence's own K x h x w candidates (chance 1 / (K h w)):
other videos are most of the candidates, so the first rewards telling videos apart, the second shows
prediction.

The sequence's representation (`context_embedding`, what `tools/extract.py --features context`
extracts) is the reference's for its linear probe (eval/model_3d_lc.py): the GRU's state after all
N real blocks, averaged over space, `(B, D)`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tempssl.losses import dpc_loss
from tempssl.methods.base import METHODS, Method


class ConvGRU(nn.Module):
    """A one-layer convolutional GRU over feature maps (Ballas et al. 2016; DPC's aggregator).

    `h' = (1 - u) * h + u * tanh(W_c [x, r * h])` with gates `r, u = sigmoid(W_{r,u} [x, h])`, each
    W a `kernel_size` convolution (DPC: 1x1, hidden size = input size); the state is dropped out
    after every step (DPC: p = 0.1). Weights are orthogonal, biases zero, as in the reference.

    Args:
        input_dim: channels of the input maps.
        hidden_dim: channels of the state.
        kernel_size: odd convolution size (padded to keep h, w).
        dropout: dropout on the state after each step.
    """

    def __init__(self, input_dim: int, hidden_dim: int, kernel_size: int = 1, dropout: float = 0.1):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"dpc kernel_size must be an odd int >= 1, got {kernel_size}")
        self.hidden_dim = hidden_dim
        padding = kernel_size // 2
        self.gates = nn.Conv2d(input_dim + hidden_dim, 2 * hidden_dim, kernel_size, padding=padding)
        self.candidate = nn.Conv2d(input_dim + hidden_dim, hidden_dim, kernel_size, padding=padding)
        self.dropout = nn.Dropout(dropout)
        for conv in (self.gates, self.candidate):
            nn.init.orthogonal_(conv.weight)
            nn.init.zeros_(conv.bias)

    def step(self, x: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """One step: input `(B, input_dim, h, w)`, state `(B, hidden_dim, h, w)` (None: zeros)."""
        if state is None:
            state = x.new_zeros(x.shape[0], self.hidden_dim, *x.shape[2:])
        reset, update = torch.sigmoid(self.gates(torch.cat([x, state], dim=1))).chunk(2, dim=1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * state], dim=1)))
        return self.dropout(state + update * (candidate - state))

    def forward(self, xs: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """The state after the whole sequence `(B, T, input_dim, h, w)`: `(B, hidden_dim, h, w)`."""
        for t in range(xs.shape[1]):
            state = self.step(xs[:, t], state)
        return state


@METHODS.register("dpc")
class DPC(Method):
    """Dense Predictive Coding over block sequences.

    Batches (sampler `sequences`): `clip (B, N, L, C, H, W)`: N blocks of L frames, N > pred_steps.

    Args:
        backbone: a clip backbone with `forward_features(x, pre_activation)`: `(B, C, L, H, W) ->
            (B, D, t, h, w)`, and `out_dim` = D (e.g. `r3d_18`, as DPC's 3D ResNet-18, or
            `small_3dcnn`).
        pred_steps: K, the last blocks predicted (DPC: 3).
        kernel_size: the ConvGRU's convolution size (DPC: 1).
        dropout: the ConvGRU's dropout on its state (DPC: 0.1).
        gather: score predictions against the targets of every process (with gradients).
    """

    sampler_kind = "sequences"
    backbone_kinds = ("clip",)

    def __init__(
        self,
        backbone: nn.Module,
        pred_steps: int = 3,
        kernel_size: int = 1,
        dropout: float = 0.1,
        gather: bool = True,
    ):
        super().__init__(backbone)
        if not callable(getattr(backbone, "forward_features", None)):
            raise ValueError(
                f"dpc needs a backbone with forward_features (a feature map), got "
                f"{type(backbone).__name__}: choose r3d_18, r2plus1d_18, mc3_18 or small_3dcnn"
            )
        if pred_steps < 1:
            raise ValueError(f"dpc pred_steps must be >= 1, got {pred_steps}")
        self.pred_steps, self.gather = pred_steps, gather
        dim = backbone.out_dim
        self.aggregator = ConvGRU(dim, dim, kernel_size, dropout)
        self.predictor = nn.Sequential(
            nn.Conv2d(dim, dim, 1), nn.ReLU(inplace=True), nn.Conv2d(dim, dim, 1)
        )
        for conv in (self.predictor[0], self.predictor[2]):
            nn.init.orthogonal_(conv.weight)
            nn.init.zeros_(conv.bias)

    def encode_blocks(self, clip: torch.Tensor) -> torch.Tensor:
        """Pre-activation block maps `z`: `(B, N, L, C, H, W) -> (B, N, D, h, w)`, the backbone's
        map before its last ReLU, averaged over the block's time."""
        maps = self.backbone.forward_features(clip.flatten(0, 1).transpose(1, 2), pre_activation=True)
        return maps.mean(dim=2).unflatten(0, clip.shape[:2])

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """Predicted maps of the last K blocks from the first N - K: `(B, N, D, h, w) -> (B, K, D,
        h, w)`. Each prediction is fed back into the aggregator for the next step."""
        state = self.aggregator(F.relu(z[:, : z.shape[1] - self.pred_steps]))
        predictions = []
        for _ in range(self.pred_steps):
            predictions.append(self.predictor(state))
            state = self.aggregator.step(F.relu(predictions[-1]), state)
        return torch.stack(predictions, dim=1)

    @torch.no_grad()
    def context_embedding(self, clip: torch.Tensor) -> torch.Tensor:
        """The aggregated context after all N blocks, averaged over space: `(B, N, L, C, H, W) ->
        (B, D)` (what `tools/extract.py --features context` extracts)."""
        return self.aggregator(F.relu(self.encode_blocks(clip))).mean(dim=(2, 3))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        clip = batch["clip"]
        if clip.shape[1] <= self.pred_steps:
            raise ValueError(
                f"dpc: sequences of {clip.shape[1]} blocks leave no context for pred_steps = "
                f"{self.pred_steps}; raise sampler.args.num_blocks above it"
            )
        z = self.encode_blocks(clip)  # (B, N, D, h, w)
        predictions = self.predict(z)
        loss, accuracy, own_accuracy = dpc_loss(
            predictions, z[:, -self.pred_steps :], gather=self.gather
        )
        return {
            "loss": loss,
            "prediction_accuracy": accuracy,
            "own_prediction_accuracy": own_accuracy,
        }
