"""Losses; the code lives in `tempssl.losses.triplet` while this package is split into modules."""

from tempssl.losses.triplet import (
    InfoNCELoss,
    NPairsLoss,
    NTXentLoss,
    TripletSemiHardLoss,
    cpc_loss,
    dpc_loss,
    gather_no_grad,
    gather_with_grad,
    info_nce,
    npairs_loss,
    nt_xent,
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
    "npairs_loss",
    "nt_xent",
    "pairwise_distance",
    "semihard_negatives",
    "semihard_negatives_masked",
    "singleview_tcn_loss",
    "triplet_semihard_loss",
]
