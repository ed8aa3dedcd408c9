"""Tests of tempssl.losses against the math: hand-computed values, plain-loop references, invariances,
and a 2-process gloo run that checks `gather=True` against the 1-process loss on the global batch."""

from __future__ import annotations

import math
import socket
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from tempssl.losses import (
    InfoNCELoss,
    NPairsLoss,
    NTXentLoss,
    TripletSemiHardLoss,
    gather_no_grad,
    gather_with_grad,
    info_nce,
    npairs_loss,
    nt_xent,
    pairwise_distance,
    semihard_negatives,
    singleview_tcn_loss,
    triplet_semihard_loss,
)

D64 = torch.float64


def t64(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=D64)


# --------------------------------------------------------------------------------------------------
# Plain-loop references (written independently of the vectorised code)
# --------------------------------------------------------------------------------------------------


def triplet_reference(emb: torch.Tensor, labels: torch.Tensor, margin: float, squared: bool):
    """Loop over every (anchor, positive) pair and every negative; returns (loss, chosen (N, N))."""
    n = emb.shape[0]
    lab = labels.tolist()

    def d(i, j):
        s = ((emb[i] - emb[j]) ** 2).sum()
        return s if squared else s.sqrt()

    chosen = torch.full((n, n), -1, dtype=torch.long)
    terms = []
    for a in range(n):
        negatives = [j for j in range(n) if lab[j] != lab[a]]
        for p in range(n):
            if p == a or lab[p] != lab[a]:
                continue
            d_ap = d(a, p)
            if negatives:
                farther = [j for j in negatives if d(a, j).item() > d_ap.item()]
                if farther:
                    neg = min(farther, key=lambda j: d(a, j).item())
                else:
                    neg = max(negatives, key=lambda j: d(a, j).item())
                chosen[a, p] = neg
                d_an = d(a, neg)
            else:
                d_an = torch.zeros((), dtype=emb.dtype)
            terms.append(torch.clamp(d_ap - d_an + margin, min=0.0))
    return torch.stack(terms).mean(), chosen


def xent(logits: list[float], target: list[float]) -> float:
    """-sum_j target_j * log softmax(logits)_j, in plain Python floats."""
    log_z = math.log(sum(math.exp(v) for v in logits))
    return -sum(t * (v - log_z) for v, t in zip(logits, target, strict=True))


def nt_xent_loop(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> float:
    z = torch.cat([z1, z2]).to(D64)
    z = z / z.norm(dim=1, keepdim=True)
    n2 = z.shape[0]
    total = 0.0
    for i in range(n2):
        pos = (i + n2 // 2) % n2
        sims = {j: float(z[i] @ z[j]) / temperature for j in range(n2) if j != i}
        total += -sims[pos] + math.log(sum(math.exp(s) for s in sims.values()))
    return total / n2


def info_nce_loop(q: torch.Tensor, k: torch.Tensor, temperature: float, negatives=None) -> float:
    """Without a queue: query i vs. every key, positive key i. With one (MoCo v1/v2): query i vs.
    its own key (label 0) and the queue's keys, nothing else."""

    def unit(rows):
        return [[x / math.sqrt(sum(y * y for y in r)) for x in r] for r in rows.tolist()]

    qs, ks = unit(q), unit(k)
    total = 0.0
    for i, qi in enumerate(qs):
        if negatives is None:
            cands, target = ks, [1.0 if j == i else 0.0 for j in range(len(ks))]
        else:
            cands = [ks[i], *unit(negatives)]
            target = [1.0] + [0.0] * (len(cands) - 1)
        logits = [sum(a * b for a, b in zip(qi, c, strict=True)) / temperature for c in cands]
        total += xent(logits, target)
    return total / len(qs)


# --------------------------------------------------------------------------------------------------
# Triplet semi-hard
# --------------------------------------------------------------------------------------------------


def test_pairwise_distance_is_euclidean():
    x = torch.randn(6, 3, dtype=D64)
    direct = ((x[:, None] - x[None]) ** 2).sum(-1)
    torch.testing.assert_close(pairwise_distance(x, squared=True), direct)
    torch.testing.assert_close(pairwise_distance(x, squared=False), direct.sqrt())
    assert torch.all(pairwise_distance(x).diagonal() == 0)


def test_triplet_hand_computed_four_points():
    # 0=(0,0), 1=(1,0) label 0; 2=(0,2), 3=(3,0) label 1. Squared distances:
    # d01=1, d02=4, d03=9, d12=1+4=5, d13=4, d23=9+4=13
    emb = t64([[0, 0], [1, 0], [0, 2], [3, 0]])
    labels = torch.tensor([0, 0, 1, 1])
    m = 3.5
    # (a=0,p=1): d_ap=1, negatives {2: 4, 3: 9}, smallest > 1 -> 4
    # (a=1,p=0): d_ap=1, negatives {2: 5, 3: 4}, smallest > 1 -> 4
    # (a=2,p=3): d_ap=13, negatives {0: 4, 1: 5}, none > 13 -> largest 5
    # (a=3,p=2): d_ap=13, negatives {0: 9, 1: 4}, none > 13 -> largest 9
    expected = (max(1 - 4 + m, 0) + max(1 - 4 + m, 0) + max(13 - 5 + m, 0) + max(13 - 9 + m, 0)) / 4
    assert expected == 5.0
    assert triplet_semihard_loss(emb, labels, margin=m).item() == pytest.approx(expected, abs=1e-12)
    chosen = semihard_negatives(pairwise_distance(emb), labels)
    assert chosen[0, 1] == 2 and chosen[1, 0] == 3 and chosen[2, 3] == 1 and chosen[3, 2] == 0

    # Non-squared: d01=1, d02=2, d03=3, d12=sqrt5, d13=2, d23=sqrt13; margin 0.2 (TCN default)
    s5, s13 = math.sqrt(5), math.sqrt(13)
    expected = (max(1 - 2 + 0.2, 0) + max(1 - 2 + 0.2, 0) + (s13 - s5 + 0.2) + (s13 - 3 + 0.2)) / 4
    got = triplet_semihard_loss(emb, labels, squared=False)
    assert got.item() == pytest.approx(expected, abs=1e-12)


def test_semihard_mining_crafted_case():
    # A=(0,0), P=(1,0) share label 0; n1, n2, n3 are single negatives; C, D share label 4, far apart.
    emb = t64([[0, 0], [1, 0], [-0.5, 0], [0, 1.5], [0, -3], [10, 0], [-10, 0]])
    labels = torch.tensor([0, 0, 1, 2, 3, 4, 4])
    chosen = semihard_negatives(pairwise_distance(emb), labels)
    expected = torch.full((7, 7), -1, dtype=torch.long)
    # A, P: d=1. From A: n1 .25 (harder, skipped), n2 2.25, n3 9, C 100, D 100 -> n2 (semi-hard)
    expected[0, 1] = 3
    # From P: n1 2.25, n2 3.25, n3 10, C 81, D 121 -> n1
    expected[1, 0] = 2
    # C, D: d=400. From C: A 100, P 81, n1 110.25, n2 102.25, n3 109 -> none > 400, largest n1
    expected[5, 6] = 2
    # From D: A 100, P 121, n1 90.25, n2 102.25, n3 109 -> none > 400, largest P
    expected[6, 5] = 1
    assert torch.equal(chosen, expected)
    loss = triplet_semihard_loss(emb, labels, margin=0.2)
    hand = (
        max(1 - 2.25 + 0.2, 0) + max(1 - 2.25 + 0.2, 0) + (400 - 110.25 + 0.2) + (400 - 121 + 0.2)
    ) / 4
    assert loss.item() == pytest.approx(hand, abs=1e-9)


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_triplet_matches_brute_force(seed, squared):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(14, 5, generator=g, dtype=D64)
    labels = torch.randint(0, 4, (14,), generator=g)
    margin = [0.2, 1.0, 3.0, 0.05][seed]
    emb_a = emb.clone().requires_grad_(True)
    emb_b = emb.clone().requires_grad_(True)
    got = triplet_semihard_loss(emb_a, labels, margin=margin, squared=squared)
    ref, ref_chosen = triplet_reference(emb_b, labels, margin, squared)
    torch.testing.assert_close(got, ref, atol=1e-10, rtol=0)
    assert torch.equal(semihard_negatives(pairwise_distance(emb, squared), labels), ref_chosen)
    got.backward()
    ref.backward()
    torch.testing.assert_close(emb_a.grad, emb_b.grad, atol=1e-10, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_singleview_tcn_loss_matches_the_reference_loop(seed):
    # tensorflow/models research/tcn svtcn_loss, read literally: every ordered pair within
    # pos_radius of one sequence is a positive; negatives are frames of the same sequence farther
    # than neg_radius, or of another sequence; semi-hard negative, else the farthest one
    g = torch.Generator().manual_seed(seed)
    n = 18
    emb = torch.randn(n, 4, generator=g, dtype=D64)
    times = torch.randint(0, 12, (n,), generator=g).to(D64)
    ids = torch.randint(0, 2, (n,), generator=g)
    got = singleview_tcn_loss(emb, times, pos_radius=2, neg_radius=4, margin=0.3, sequence_ids=ids)
    d = pairwise_distance(emb)
    total, count = 0.0, 0
    for a in range(n):
        negatives = [k for k in range(n) if ids[k] != ids[a] or abs(times[k] - times[a]) > 4]
        for p in range(n):
            if p == a or ids[p] != ids[a] or abs(times[p] - times[a]) > 2:
                continue
            semi = [d[a, k] for k in negatives if d[a, k] > d[a, p]]
            d_an = min(semi) if semi else max((d[a, k] for k in negatives), default=0.0)
            total += max(float(d[a, p] - d_an) + 0.3, 0.0)
            count += 1
    assert count > 0
    assert got.item() == pytest.approx(total / count, abs=1e-10)
    with pytest.raises(ValueError, match="neg_radius"):
        singleview_tcn_loss(emb, times, pos_radius=2, neg_radius=2)


def test_triplet_degenerate_batches():
    emb = t64([[0, 0], [1, 0], [0, 2]])
    # One class only: no negatives; like TF, d(a, n) = 0, so each pair costs d(a, p) + margin.
    # pairs: (0,1),(1,0) d=1; (0,2),(2,0) d=4; (1,2),(2,1) d=5
    expected = (2 * (1 + 0.2) + 2 * (4 + 0.2) + 2 * (5 + 0.2)) / 6
    loss = triplet_semihard_loss(emb, torch.tensor([7, 7, 7]))
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    # No positive pair: 0 (TF: NaN), still differentiable.
    x = emb.clone().requires_grad_(True)
    loss = triplet_semihard_loss(x, torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0.0 and torch.all(x.grad == 0)


# --------------------------------------------------------------------------------------------------
# N-pairs
# --------------------------------------------------------------------------------------------------


def test_npairs_identity_targets_is_hand_cross_entropy():
    a = t64([[1, 0], [0, 2], [1, 1]])
    p = t64([[2, 0], [0, 1], [-1, 1]])
    # logits S = a @ p^T by hand
    s = [[2, 0, -1], [0, 2, 2], [2, 1, 0]]
    xe = (xent(s[0], [1, 0, 0]) + xent(s[1], [0, 1, 0]) + xent(s[2], [0, 0, 1])) / 3
    # ||a_i||^2 = 1, 4, 2; ||p_i||^2 = 4, 1, 2
    reg = 0.002 * 0.25 * ((1 + 4 + 2) / 3 + (4 + 1 + 2) / 3)
    assert npairs_loss(a, p).item() == pytest.approx(xe + reg, abs=1e-12)
    # distinct labels == identity targets; reg_lambda=0 leaves the cross-entropy
    assert npairs_loss(a, p, torch.tensor([5, 3, 9])).item() == pytest.approx(xe + reg, abs=1e-12)
    assert npairs_loss(a, p, reg_lambda=0.0).item() == pytest.approx(xe, abs=1e-12)
    # and equals torch's cross-entropy on the same logits
    ce = F.cross_entropy(a @ p.T, torch.arange(3))
    assert npairs_loss(a, p, reg_lambda=0.0).item() == pytest.approx(ce.item(), abs=1e-12)


def test_npairs_shared_labels_row_normalised_targets():
    a = t64([[1, 0], [0, 2], [1, 1]])
    p = t64([[2, 0], [0, 1], [-1, 1]])
    s = [[2, 0, -1], [0, 2, 2], [2, 1, 0]]
    # labels [0, 1, 1]: row 0 targets [1,0,0]; rows 1 and 2 targets [0, 1/2, 1/2]
    xe = (xent(s[0], [1, 0, 0]) + xent(s[1], [0, 0.5, 0.5]) + xent(s[2], [0, 0.5, 0.5])) / 3
    reg = 0.01 * 0.25 * (7 / 3 + 7 / 3)
    got = npairs_loss(a, p, torch.tensor([0, 1, 1]), reg_lambda=0.01)
    assert got.item() == pytest.approx(xe + reg, abs=1e-12)


# --------------------------------------------------------------------------------------------------
# InfoNCE
# --------------------------------------------------------------------------------------------------


def test_info_nce_hand_computed():
    q = t64([[3, 4], [1, 0]])  # unit: (0.6, 0.8), (1, 0)
    k = t64([[0, 2], [5, 0]])  # unit: (0, 1), (1, 0)
    t = 0.5
    # cosines: q0.k0 = 0.8, q0.k1 = 0.6; q1.k0 = 0, q1.k1 = 1
    row0 = -0.8 / t + math.log(math.exp(0.8 / t) + math.exp(0.6 / t))
    row1 = -1 / t + math.log(math.exp(0 / t) + math.exp(1 / t))
    assert info_nce(q, k, temperature=t).item() == pytest.approx((row0 + row1) / 2, abs=1e-12)
    # key -> query direction: k0.q0 = 0.8, k0.q1 = 0; k1.q0 = 0.6, k1.q1 = 1
    back0 = -0.8 / t + math.log(math.exp(0.8 / t) + math.exp(0 / t))
    back1 = -1 / t + math.log(math.exp(0.6 / t) + math.exp(1 / t))
    sym = 0.5 * ((row0 + row1) / 2 + (back0 + back1) / 2)
    assert info_nce(q, k, temperature=t, symmetric=True).item() == pytest.approx(sym, abs=1e-12)
    # a queue of one negative (-1, 0): cosines q0 -> -0.6, q1 -> -1. MoCo v1/v2: each query's
    # logits are its own key and the queue, the other in-batch key is no negative
    neg = t64([[-2, 0]])
    row0 = -0.8 / t + math.log(math.exp(0.8 / t) + math.exp(-0.6 / t))
    row1 = -1 / t + math.log(math.exp(1 / t) + math.exp(-1 / t))
    got = info_nce(q, k, temperature=t, negatives=neg)
    assert got.item() == pytest.approx((row0 + row1) / 2, abs=1e-12)


def test_info_nce_with_a_queue_is_moco_v1_v2():
    # 2 queries, their 2 keys and a queue of 3 keys, D = 2. Unit vectors:
    # q0 = (0.6, 0.8), q1 = (0, -1); k0 = (0.8, 0.6), k1 = (0, -1);
    # queue n0 = (1, 0), n1 = (0, 1), n2 = (-0.6, -0.8)
    q = t64([[3, 4], [0, -2]])
    k = t64([[4, 3], [0, -5]])
    queue = t64([[2, 0], [0, 0.5], [-3, -4]])
    t = 0.2
    # q0: positive q0.k0 = 0.48 + 0.48 = 0.96; queue 0.6, 0.8, -0.36 - 0.64 = -1
    # q1: positive q1.k1 = 1; queue 0, -1, 0.8
    pos = [0.96, 1.0]
    negs = [[0.6, 0.8, -1.0], [0.0, -1.0, 0.8]]

    def row(p, ns):  # -log(exp(q.k+/T) / (exp(q.k+/T) + sum_queue exp(q.n/T)))
        return -math.log(math.exp(p / t) / (math.exp(p / t) + sum(math.exp(n / t) for n in ns)))

    rows = [row(p, ns) for p, ns in zip(pos, negs, strict=True)]
    got = info_nce(q, k, temperature=t, negatives=queue)
    assert got.item() == pytest.approx(sum(rows) / 2, abs=1e-12)
    # only the matched key matters: change k1 (q0's row stays, q1's follows its new key), even
    # to q0 itself, which as an in-batch negative (cosine 1 > q0.k0) would dominate q0's row
    for new_k1, q1_pos in ((t64([1, 1]), -math.sqrt(0.5)), (q[0], -0.8), (t64([0, -1]), 1.0)):
        k2 = torch.stack([k[0], new_k1])
        got = info_nce(q, k2, temperature=t, negatives=queue)
        assert got.item() == pytest.approx((rows[0] + row(q1_pos, negs[1])) / 2, abs=1e-12)
    # and each query's loss is that of a batch of one: the batch is its mean, gradients included
    k_a = k.clone().requires_grad_(True)
    info_nce(q, k_a, temperature=t, negatives=queue).backward()
    for i in range(2):
        k_i = k[i : i + 1].clone().requires_grad_(True)
        alone = info_nce(q[i : i + 1], k_i, temperature=t, negatives=queue)
        assert alone.item() == pytest.approx(rows[i], abs=1e-12)
        (alone / 2).backward()
        torch.testing.assert_close(k_a.grad[i : i + 1], k_i.grad, atol=1e-12, rtol=0)
    # MoCo's own code: logits = cat([l_pos (N, 1), q @ queue^T (N, K)]) / T, label 0
    qn, kn, nn_ = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(queue, dim=1)
    logits = torch.cat([(qn * kn).sum(1, keepdim=True), qn @ nn_.T], dim=1) / t
    moco = F.cross_entropy(logits, torch.zeros(2, dtype=torch.long))
    assert info_nce(q, k, temperature=t, negatives=queue).item() == pytest.approx(moco.item(), abs=1e-12)


def test_info_nce_in_batch_hand_computed():
    # no queue (MoCo v3's form): each query against all 3 keys, its positive on the diagonal.
    # Unit vectors: q0 = (1, 0), q1 = (0, 1), q2 = (0.6, 0.8); k0 = (0.8, 0.6), k1 = (0, 1),
    # k2 = (-1, 0)
    q = t64([[2, 0], [0, 1], [3, 4]])
    k = t64([[4, 3], [0, 3], [-2, 0]])
    t = 0.25
    cos = [
        [0.8, 0.0, -1.0],  # q0 . k0, k1, k2
        [0.6, 1.0, 0.0],  # q1 . k0, k1, k2
        [0.96, 0.8, -0.6],  # q2 . k0, k1, k2
    ]
    rows = [-math.log(math.exp(cos[i][i] / t) / sum(math.exp(c / t) for c in cos[i])) for i in range(3)]
    # no MoCo v3 2t factor: that is the method's job
    assert info_nce(q, k, temperature=t).item() == pytest.approx(sum(rows) / 3, abs=1e-12)


@pytest.mark.parametrize("with_queue", [False, True])
def test_info_nce_matches_loop(with_queue):
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(7, 4, generator=g, dtype=D64), torch.randn(7, 4, generator=g, dtype=D64)
    queue = torch.randn(5, 4, generator=g, dtype=D64) if with_queue else None
    got = info_nce(q, k, temperature=0.2, negatives=queue)
    assert got.item() == pytest.approx(info_nce_loop(q, k, 0.2, queue), abs=1e-10)


def test_info_nce_temperature_on_orthogonal_embeddings():
    # query i == key i == e_i: positive cosine 1, the N-1 other keys cosine 0, so
    # L = -log(e^{1/t} / (e^{1/t} + (N-1))) = log(1 + (N-1) e^{-1/t})
    n = 5
    e = torch.eye(n, dtype=D64)
    values = []
    for t in [0.05, 0.1, 0.5, 1.0, 10.0]:
        got = info_nce(e, 2 * e, temperature=t).item()  # scale of the inputs is irrelevant
        assert got == pytest.approx(math.log(1 + (n - 1) * math.exp(-1 / t)), abs=1e-12)
        values.append(got)
    assert values == sorted(values)  # easier positives -> loss rises with t
    assert values[0] < 1e-8  # t -> 0: loss -> 0
    assert info_nce(e, e, temperature=1e4).item() == pytest.approx(math.log(n), abs=1e-3)  # t -> inf


# --------------------------------------------------------------------------------------------------
# NT-Xent
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_nt_xent_matches_loop(seed):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(6, 3, generator=g, dtype=D64), torch.randn(6, 3, generator=g, dtype=D64)
    for t in (0.1, 0.5, 2.0):
        assert nt_xent(z1, z2, temperature=t).item() == pytest.approx(nt_xent_loop(z1, z2, t), abs=1e-10)


def test_nt_xent_hand_computed_two_pairs():
    # normalised views a0 = (1, 0), a1 = (0, 1) (z1) and b0 = (0.6, 0.8), b1 = (-0.6, 0.8) (z2).
    # Cosines: a0.a1 = 0, a0.b0 = 0.6, a0.b1 = -0.6, a1.b0 = 0.8, a1.b1 = 0.8,
    # b0.b1 = -0.36 + 0.64 = 0.28.
    z1 = t64([[5, 0], [0, 2]])
    z2 = t64([[3, 4], [-0.6, 0.8]])
    t = 0.5

    def row(pos, others):  # -log(exp(pos / t) / sum over the 2N - 1 = 3 other views)
        return -math.log(math.exp(pos / t) / sum(math.exp(c / t) for c in (pos, *others)))

    a0 = row(0.6, (0.0, -0.6))  # positive b0; negatives a1, b1
    a1 = row(0.8, (0.0, 0.8))  # positive b1; negatives a0, b0
    b0 = row(0.6, (0.8, 0.28))  # positive a0; negatives a1, b1
    b1 = row(0.8, (-0.6, 0.28))  # positive a1; negatives a0, b0
    got = nt_xent(z1, z2, temperature=t).item()
    assert got == pytest.approx((a0 + a1 + b0 + b1) / 4, abs=1e-12)  # both directions averaged
    assert got != pytest.approx((a0 + a1) / 2, abs=1e-6)  # not the z1 anchors alone
    # swapping the views anchors the same 4 rows
    assert nt_xent(z2, z1, temperature=t).item() == pytest.approx(got, abs=1e-12)


def test_nt_xent_aligned_and_orthogonal_toy_values():
    n, t = 4, 0.5
    e = torch.eye(2 * n, dtype=D64)
    # aligned: z1 == z2 == e_i. Anchor's positive cosine 1; the 2N-2 others cosine 0:
    # L = log(1 + (2N-2) e^{-1/t})
    aligned = nt_xent(e[:n], 3 * e[:n], temperature=t).item()
    assert aligned == pytest.approx(math.log(1 + (2 * n - 2) * math.exp(-1 / t)), abs=1e-12)
    # all 2N views mutually orthogonal: every logit 0 -> uniform over 2N-1 candidates
    ortho = nt_xent(e[:n], e[n:], temperature=t).item()
    assert ortho == pytest.approx(math.log(2 * n - 1), abs=1e-12)
    # opposite views: positive cosine -1, others 0 -> log(1 + (2N-2) e^{1/t})
    opposite = nt_xent(e[:n], -e[:n], temperature=t).item()
    assert opposite == pytest.approx(math.log(1 + (2 * n - 2) * math.exp(1 / t)), abs=1e-12)


def test_nt_xent_temperature_scaling():
    g = torch.Generator().manual_seed(7)
    z1, z2 = torch.randn(5, 8, generator=g, dtype=D64), torch.randn(5, 8, generator=g, dtype=D64)
    # t -> infinity: every candidate equally likely -> log(2N - 1)
    assert nt_xent(z1, z2, temperature=1e6).item() == pytest.approx(math.log(9), abs=1e-5)
    # views that are their own nearest neighbours: the loss falls to 0 as t -> 0, rises with t
    near = z1 + 1e-3 * z2
    values = [nt_xent(z1, near, temperature=t).item() for t in (0.01, 0.05, 0.2, 1.0, 5.0)]
    assert values == sorted(values) and values[0] < 1e-6
    # only cos / t matters: t and the loop reference agree at every t
    for t in (0.05, 0.2, 1.0):
        assert nt_xent(z1, z2, temperature=t).item() == pytest.approx(nt_xent_loop(z1, z2, t), abs=1e-10)


# --------------------------------------------------------------------------------------------------
# Shared properties
# --------------------------------------------------------------------------------------------------


def _random_batch(seed: int = 0, n: int = 10, d: int = 6):
    g = torch.Generator().manual_seed(seed)
    x1 = torch.randn(n, d, generator=g, dtype=D64)
    x2 = x1 + 0.3 * torch.randn(n, d, generator=g, dtype=D64)
    labels = torch.randint(0, 4, (n,), generator=g)
    queue = torch.randn(7, d, generator=g, dtype=D64)
    return x1, x2, labels, queue


ALL_LOSSES = {
    "triplet": lambda x1, x2, y, q: triplet_semihard_loss(torch.cat([x1, x2]), torch.cat([y, y])),
    "triplet_l2": lambda x1, x2, y, q: triplet_semihard_loss(x1, y, margin=1.0, squared=False),
    "npairs": lambda x1, x2, y, q: npairs_loss(x1, x2),
    "npairs_labels": lambda x1, x2, y, q: npairs_loss(x1, x2, y),
    "info_nce": lambda x1, x2, y, q: info_nce(x1, x2),
    "info_nce_queue_sym": lambda x1, x2, y, q: info_nce(x1, x2, negatives=q, symmetric=True),
    "nt_xent": lambda x1, x2, y, q: nt_xent(x1, x2),
}


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_permuting_the_batch_changes_nothing(name):
    x1, x2, labels, queue = _random_batch()
    perm = torch.randperm(x1.shape[0], generator=torch.Generator().manual_seed(1))
    qperm = torch.randperm(queue.shape[0], generator=torch.Generator().manual_seed(2))
    fn = ALL_LOSSES[name]
    base = fn(x1, x2, labels, queue)
    permuted = fn(x1[perm], x2[perm], labels[perm], queue[qperm])
    torch.testing.assert_close(base, permuted, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_gradients_flow(name):
    x1, x2, labels, queue = _random_batch(seed=5)
    x1 = x1.float().requires_grad_(True)
    x2 = x2.float().requires_grad_(True)
    loss = ALL_LOSSES[name](x1, x2, labels, queue.float())
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(x1.grad).all()
    assert x1.grad.abs().sum() > 0
    if not name.startswith("triplet_l2"):  # that case only uses x1
        assert torch.isfinite(x2.grad).all() and x2.grad.abs().sum() > 0


def test_modules_wrap_the_functions():
    x1, x2, labels, queue = _random_batch(seed=2)
    pairs = [
        (TripletSemiHardLoss(margin=0.5)(x1, labels), triplet_semihard_loss(x1, labels, margin=0.5)),
        (NPairsLoss(reg_lambda=0.1)(x1, x2, labels), npairs_loss(x1, x2, labels, reg_lambda=0.1)),
        (
            InfoNCELoss(temperature=0.3, symmetric=True)(x1, x2, queue),
            info_nce(x1, x2, 0.3, queue, symmetric=True),
        ),
        (NTXentLoss(temperature=0.2)(x1, x2), nt_xent(x1, x2, temperature=0.2)),
    ]
    for module_value, function_value in pairs:
        assert module_value.item() == function_value.item()
    assert "margin=0.5" in repr(TripletSemiHardLoss(margin=0.5))
    # the documented defaults
    assert TripletSemiHardLoss().margin == 0.2 and NPairsLoss().reg_lambda == 0.002
    assert InfoNCELoss().temperature == 0.1 and NTXentLoss().temperature == 0.5


def test_input_validation():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="labels"):
        triplet_semihard_loss(x, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(x, torch.randn(5, 3))
    with pytest.raises(ValueError, match="temperature"):
        info_nce(x, x, temperature=0.0)
    with pytest.raises(ValueError, match="negatives"):
        info_nce(x, x, negatives=torch.randn(2, 5))
    with pytest.raises(ValueError, match="K >= 1"):  # an empty queue would leave only the positive
        info_nce(x, x, negatives=torch.randn(0, 3))


def test_gather_without_process_group_is_identity():
    assert not dist.is_initialized()
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x) is x
    assert gather_no_grad(x) is x
    # and gather=True then is the plain loss
    y = torch.tensor([0, 1, 0])
    assert nt_xent(x, x + 1, gather=True).item() == nt_xent(x, x + 1).item()
    assert triplet_semihard_loss(x, y, gather=True).item() == triplet_semihard_loss(x, y).item()


# --------------------------------------------------------------------------------------------------
# Two processes (gloo)
# --------------------------------------------------------------------------------------------------
# Convention checked here (module docstring of tempssl.losses.gather): with W processes each holding an
# equal slice of the global batch and gather=True,
#   * triplet_semihard_loss returns the global-batch loss on every process; npairs_loss, info_nce
#     and nt_xent return the mean over the process's own anchors, and the mean over processes of
#     these values is the 1-process global-batch loss;
#   * per-process gradient w.r.t. the process's inputs == W * (its rows of the 1-process gradient),
#     so the mean over processes of parameter gradients (what DDP does) == the 1-process gradient.

WORLD = 2
N_GLOBAL, D_IN, D_EMB = 8, 5, 4
GLOBAL_LOSS = {"triplet", "triplet_l2"}  # same value on every process


def _global_problem():
    g = torch.Generator().manual_seed(1234)
    x1 = torch.randn(N_GLOBAL, D_IN, generator=g, dtype=D64)
    x2 = x1 + 0.5 * torch.randn(N_GLOBAL, D_IN, generator=g, dtype=D64)
    labels = torch.tensor([0, 1, 2, 0, 1, 3, 3, 2])
    queue = torch.randn(6, D_EMB, generator=g, dtype=D64)
    encoder = torch.nn.Linear(D_IN, D_EMB).to(D64)
    with torch.no_grad():
        encoder.weight.copy_(torch.randn(D_EMB, D_IN, generator=g, dtype=D64))
        encoder.bias.copy_(torch.randn(D_EMB, generator=g, dtype=D64))
    return x1, x2, labels, queue, encoder


def _dist_cases(gather: bool):
    return {
        "triplet": lambda z1, z2, y, q: triplet_semihard_loss(
            torch.cat([z1, z2]), torch.cat([y, y]), gather=gather
        ),
        "triplet_l2": lambda z1, z2, y, q: triplet_semihard_loss(
            z1, y, margin=1.0, squared=False, gather=gather
        ),
        "npairs": lambda z1, z2, y, q: npairs_loss(z1, z2, gather=gather),
        "npairs_labels": lambda z1, z2, y, q: npairs_loss(z1, z2, y, gather=gather),
        "info_nce": lambda z1, z2, y, q: info_nce(z1, z2, gather=gather),
        "info_nce_queue_sym": lambda z1, z2, y, q: info_nce(
            z1, z2, 0.2, negatives=q, symmetric=True, gather=gather
        ),
        "nt_xent": lambda z1, z2, y, q: nt_xent(z1, z2, gather=gather),
    }


def _run_cases(x1, x2, labels, queue, encoder, gather: bool) -> dict:
    out = {}
    for name, fn in _dist_cases(gather).items():
        a = x1.clone().requires_grad_(True)
        b = x2.clone().requires_grad_(True)
        encoder.zero_grad(set_to_none=True)
        loss = fn(encoder(a), encoder(b), labels, queue)
        loss.backward()
        out[name] = {
            "loss": loss.detach(),
            "x1": a.grad,
            "x2": b.grad,
            "weight": encoder.weight.grad.clone(),
            "bias": encoder.bias.grad.clone(),
        }
    return out


def _dist_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=60),
    )
    try:
        x1, x2, labels, queue, encoder = _global_problem()
        n = N_GLOBAL // world
        rows = slice(rank * n, (rank + 1) * n)
        result = {"world": dist.get_world_size(), "rank": dist.get_rank()}
        result["cases"] = _run_cases(x1[rows], x2[rows], labels[rows], queue, encoder, gather=True)

        # Unequal shares (rank 0: 5 rows, rank 1: 3 rows): gathers pad and strip.
        rows = slice(0, 5) if rank == 0 else slice(5, 8)
        a = x1[rows].clone().requires_grad_(True)
        gathered = gather_with_grad(a)
        weights = torch.arange(N_GLOBAL * D_IN, dtype=D64).reshape(N_GLOBAL, D_IN)
        (gathered * weights).sum().backward()
        result["uneven"] = {
            "gathered": gathered.detach(),
            "labels": gather_no_grad(labels[rows]),
            "grad": a.grad,
            "nt_xent": nt_xent(x1[rows], x2[rows], gather=True).detach(),
            "info_nce": info_nce(x1[rows], x2[rows], gather=True).detach(),
            "rows": rows.stop - rows.start,
        }
        # Shapes that differ beyond dim 0 are refused on every rank.
        try:
            gather_with_grad(torch.zeros(2, 3 + rank))
            result["mismatch_error"] = None
        except ValueError as error:
            result["mismatch_error"] = str(error)
        torch.save(result, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(180)
@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_process_gather_matches_single_process(tmp_path):
    mp.spawn(_dist_worker, args=(WORLD, _free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    assert [r["world"] for r in results] == [WORLD, WORLD]
    assert [r["rank"] for r in results] == [0, 1]

    x1, x2, labels, queue, encoder = _global_problem()
    reference = _run_cases(x1, x2, labels, queue, encoder, gather=False)
    n = N_GLOBAL // WORLD
    assert set(results[0]["cases"]) == set(reference)
    for name, ref in reference.items():
        per_rank = [r["cases"][name] for r in results]
        losses = torch.stack([p["loss"] for p in per_rank])
        if name in GLOBAL_LOSS:  # every process holds the global loss
            for value in losses:
                torch.testing.assert_close(value, ref["loss"], atol=1e-5, rtol=0, msg=name)
        # the mean over processes is the global loss for every loss
        torch.testing.assert_close(losses.mean(), ref["loss"], atol=1e-5, rtol=0, msg=name)
        for rank, p in enumerate(per_rank):
            rows = slice(rank * n, (rank + 1) * n)
            for key in ("x1", "x2"):
                if ref[key] is None:
                    assert p[key] is None
                    continue
                # per-process input gradient / world == its rows of the 1-process gradient
                torch.testing.assert_close(
                    p[key] / WORLD, ref[key][rows], atol=1e-5, rtol=0, msg=f"{name} {key}"
                )
        for key in ("weight", "bias"):
            # DDP-style mean over processes of parameter gradients == 1-process gradient
            mean_grad = torch.stack([p[key] for p in per_rank]).mean(0)
            torch.testing.assert_close(mean_grad, ref[key], atol=1e-5, rtol=0, msg=f"{name} {key}")

    # uneven shares
    weights = torch.arange(N_GLOBAL * D_IN, dtype=D64).reshape(N_GLOBAL, D_IN)
    starts = [0, 5]
    for rank, r in enumerate(results):
        u = r["uneven"]
        torch.testing.assert_close(u["gathered"], x1)
        assert torch.equal(u["labels"], labels)
        rows = slice(starts[rank], starts[rank] + u["rows"])
        torch.testing.assert_close(u["grad"], WORLD * weights[rows])
        assert "differ beyond the batch dimension" in r["mismatch_error"]
    # anchor-weighted mean of the per-process losses == global loss (positives at the right offsets)
    counts = [r["uneven"]["rows"] for r in results]
    for name, full in (("nt_xent", nt_xent(x1, x2)), ("info_nce", info_nce(x1, x2))):
        weighted = sum(c * r["uneven"][name] for c, r in zip(counts, results, strict=True)) / N_GLOBAL
        torch.testing.assert_close(weighted, full, atol=1e-5, rtol=0, msg=name)
