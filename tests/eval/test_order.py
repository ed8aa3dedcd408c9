"""Order-verification evaluation: tuples with known answers (frame-coded videos read by an oracle),
constant answers at chance, and `tools/evaluate.py order` end to end on a checkpoint."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from run_fixtures import make_run

from tempssl.data.sources import unlabeled_folder
from tempssl.eval.order import accuracy_by_class, order_accuracy, order_tuples, roc_auc
from tempssl.methods import Method
from tempssl.schema import TrainConfig
from tempssl.video.synthetic import read_frame_codes, write_coded_video

TOOL = Path(__file__).parents[2] / "tools" / "evaluate.py"


class _Oracle(Method):
    """Reads each frame's index from its code: "in order" iff the middle frame lies between the
    outer two. `wrong=True` answers the opposite; `constant` answers always the same."""

    def __init__(self, wrong: bool = False, constant: int | None = None, bias: float = 0.0):
        super().__init__(torch.nn.Identity())
        self.wrong, self.constant, self.bias = wrong, constant, bias

    def order_logits(self, frames: torch.Tensor) -> torch.Tensor:  # (B, 3, C, H, W) in [0, 1]
        pixels = (frames * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 1, 3, 4, 2)
        t = torch.tensor([read_frame_codes(p) for p in pixels])  # (B, 3)
        ordered = ((t[:, 0] < t[:, 1]) & (t[:, 1] < t[:, 2])) | (
            (t[:, 0] > t[:, 1]) & (t[:, 1] > t[:, 2])
        )
        if self.constant is not None:
            ordered = torch.full_like(ordered, bool(self.constant))
        answer = ordered ^ self.wrong
        # log-odds of "ordered": +-0.5, shifted by `bias` (a head trained at another prior)
        score = answer.float() - 0.5 + self.bias
        return torch.stack([torch.zeros_like(score), score], dim=1)


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("coded")
    # the 12-frame video cannot hold a tuple with outer_gap 6 (it needs 2 * (6 + 2) + 1 = 17 frames)
    for i, frames in enumerate([48, 40, 64, 12]):
        write_coded_video(folder / f"v{i}.mp4", frames, height=64, width=64, seed=i)
    return folder


def _cfg() -> TrainConfig:
    cfg = TrainConfig()
    cfg.sampler.name, cfg.sampler.args = "tuples", {"window": 30, "outer_gap": 6}
    cfg.transforms.size, cfg.transforms.args = 64, {"mean": None, "std": None}  # pixels in [0, 1]
    cfg.data.backend = "pyav"
    return cfg


def test_accuracy_by_class_by_hand():
    result = accuracy_by_class(np.array([1, 1, 0, 0, 0]), np.array([1, 0, 0, 0, 1]))
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert result["ordered_accuracy"] == pytest.approx(1 / 2)
    assert result["shuffled_accuracy"] == pytest.approx(2 / 3)
    assert result["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert (result["tuples"], result["ordered"], result["shuffled"]) == (5, 2, 3)


def test_roc_auc_by_hand():
    # positives 0.9, 0.4; negatives 0.5, 0.4, 0.1: 0.9 wins all 3 pairs, 0.4 loses to 0.5, ties
    # 0.4 (counts half) and wins against 0.1 -> (3 + 0 + 0.5 + 1) / 6
    score, label = np.array([0.9, 0.4, 0.5, 0.4, 0.1]), np.array([1, 1, 0, 0, 0])
    assert roc_auc(score, label) == pytest.approx(4.5 / 6)
    assert roc_auc(score, np.ones(5, dtype=int)) is None


def test_a_head_trained_at_the_papers_prior_is_judged_by_ranking_and_a_corrected_threshold(coded):
    # A perfect ranker whose log-odds are shifted by log(1/3) (trained at 1 positive : 3): argmax
    # says "shuffled" to everything (balanced 0.5), yet ROC-AUC and the corrected threshold see it.
    tuples = order_tuples(unlabeled_folder(coded, progress=False), _cfg(), tuples_per_video=8)
    shifted = _Oracle(bias=float(np.log(1 / 3)))
    result = order_accuracy(
        shifted, tuples, batch_size=8, num_workers=0, progress=False, train_positive_fraction=0.25
    )
    assert result["balanced_accuracy"] == 0.5
    assert result["roc_auc"] == 1.0 and result["balanced_accuracy_prior_corrected"] == 1.0


def test_an_oracle_scores_one_and_its_opposite_zero(coded):
    tuples = order_tuples(unlabeled_folder(coded, progress=False), _cfg(), tuples_per_video=8)
    right = order_accuracy(_Oracle(), tuples, batch_size=5, num_workers=0, progress=False)
    assert right["accuracy"] == right["balanced_accuracy"] == 1.0
    assert right["tuples"] == 3 * 8 and right["videos"] == 3 and right["skipped_videos"] == 1
    assert right["ordered"] + right["shuffled"] == 24 and right["skipped_plans"] == 0
    wrong = order_accuracy(_Oracle(wrong=True), tuples, batch_size=5, num_workers=0, progress=False)
    assert wrong["accuracy"] == 0.0


def test_tuples_are_balanced_and_constant_answers_score_half_balanced(coded):
    tuples = order_tuples(unlabeled_folder(coded, progress=False), _cfg(), tuples_per_video=40)
    for constant in (0, 1):
        result = order_accuracy(
            _Oracle(constant=constant), tuples, batch_size=40, num_workers=0, progress=False
        )
        assert result["balanced_accuracy"] == 0.5
        # positive_fraction 0.5: about as many ordered as shuffled tuples
        assert abs(result["ordered"] - result["shuffled"]) < 0.2 * result["tuples"]
    # the run's tuple shape is used, and can be overridden
    assert (tuples.sampler.window, tuples.sampler.outer_gap) == (30, 6)
    other = order_tuples(unlabeled_folder(coded, progress=False), _cfg(), window=20, outer_gap=4)
    assert (other.sampler.window, other.sampler.outer_gap) == (20, 4)


def test_a_method_without_an_order_head_is_refused(coded):
    tuples = order_tuples(unlabeled_folder(coded, progress=False), _cfg(), tuples_per_video=1)
    with pytest.raises(ValueError, match=r"order-verification head .* such as shuffle_learn"):
        order_accuracy(Method(torch.nn.Identity()), tuples, progress=False)


def _tool():
    spec = importlib.util.spec_from_file_location("evaluate_tool", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main


def test_evaluate_tool_order_with_random_baseline(coded, tmp_path, capsys):
    run, _ = make_run(tmp_path, backbone="small_cnn", model_args={"width": 4}, method="shuffle_learn")
    out = tmp_path / "order.json"
    argv = [
        "order", "--checkpoint", str(run), "--videos", str(coded), "--window", "30",
        "--outer-gap", "6", "--tuples-per-video", "4", "--workers", "0", "--quiet",
        "--baseline", "random", "--out", str(out),
    ]  # fmt: skip
    assert _tool()(argv) == 0
    document = json.loads(out.read_text())
    assert document["protocol"] == "order"
    assert document["results"]["tuples"] == document["baseline"]["results"]["tuples"] == 12
    assert document["settings"]["window"] == 30 and document["settings"]["positive_fraction"] == 0.5
    printed = capsys.readouterr().out
    assert "balanced accuracy" in printed and "baseline" in printed

    tcn_run, _ = make_run(tmp_path / "tcn", backbone="small_cnn", model_args={"width": 4})
    argv = ["order", "--checkpoint", str(tcn_run), "--videos", str(coded), "--quiet"]
    assert _tool()(argv) == 2
    assert "such as shuffle_learn" in capsys.readouterr().err
