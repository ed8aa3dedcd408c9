"""Losses for time-contrastive networks (TCN) and contrastive self-supervised methods.

Every loss is a small typed function on plain tensors, usable outside tempssl's trainer, with a thin
`nn.Module` wrapper that holds its hyper-parameters. One module per loss family; every public name
is re-exported here (`from tempssl.losses import info_nce`):

* `tempssl.losses.triplet`: `triplet_semihard_loss` / `TripletSemiHardLoss` (FaceNet, TF
  semantics), `singleview_tcn_loss`, and their semi-hard mining (`pairwise_distance`,
  `semihard_negatives`, `semihard_negatives_masked`).
* `tempssl.losses.npairs`: `npairs_loss` / `NPairsLoss` (Sohn's N-pair loss, TF semantics).
* `tempssl.losses.contrastive`: `info_nce` / `InfoNCELoss` (MoCo) and `nt_xent` / `NTXentLoss`
  (SimCLR).
* `tempssl.losses.predictive`: `cpc_loss` and `dpc_loss` (CPC's and DPC's InfoNCE).
* `tempssl.losses.regression`: `normalized_mse` (BYOL); `normalize_patches`, `masked_mse` (MAE,
  VideoMAE).
* `tempssl.losses.gather`: `gather_with_grad` / `gather_no_grad`, what `gather=True` does in every
  loss, and the gradient-scaling convention of multi-process training.
* `tempssl.losses._checks`: input checks the losses share (private).
"""

from tempssl.losses.contrastive import InfoNCELoss, NTXentLoss, info_nce, nt_xent
from tempssl.losses.gather import gather_no_grad, gather_with_grad
from tempssl.losses.npairs import NPairsLoss, npairs_loss
from tempssl.losses.predictive import cpc_loss, dpc_loss
from tempssl.losses.regression import masked_mse, normalize_patches, normalized_mse
from tempssl.losses.triplet import (
    TripletSemiHardLoss,
    pairwise_distance,
    semihard_negatives,
    semihard_negatives_masked,
    singleview_tcn_loss,
    triplet_semihard_loss,
)

__all__ = [
    "InfoNCELoss",
    "NPairsLoss",
    "NTXentLoss",
    "TripletSemiHardLoss",
    "cpc_loss",
    "dpc_loss",
    "gather_no_grad",
    "gather_with_grad",
    "info_nce",
    "masked_mse",
    "normalize_patches",
    "normalized_mse",
    "npairs_loss",
    "nt_xent",
    "pairwise_distance",
    "semihard_negatives",
    "semihard_negatives_masked",
    "singleview_tcn_loss",
    "triplet_semihard_loss",
]
