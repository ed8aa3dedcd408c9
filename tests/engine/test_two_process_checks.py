"""Under 2 gloo processes (one launch of two_process_checks.py): every sampler kind's epoch is
split by the trainer's loader into disjoint whole batches that together cover it, multi-view
batches each hold one scene, and a NaN loss on one process makes both skip or both stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from launch import cpu_env, cpu_launch, run_checked

from tempssl.video.synthetic import write_coded_video

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def results(scenes_root, tmp_path_factory) -> dict:
    clips = tmp_path_factory.mktemp("clips")
    for i in range(5):
        write_coded_video(clips / f"clip{i}.mp4", 48, seed=300 + i)
    out = tmp_path_factory.mktemp("two") / "results.json"
    run_checked(
        [*cpu_launch(2), str(HERE / "two_process_checks.py"), str(out), str(scenes_root), str(clips)],
        env=cpu_env(), timeout=600,
    )  # fmt: skip
    results = json.loads(out.read_text())
    assert results["processes"] == 2  # a silent 1-process run would prove nothing
    return results


@pytest.mark.parametrize("kind", ["multiview", "pairs", "tuples", "sequences", "frames", "clips"])
def test_processes_get_disjoint_whole_batches_that_cover_the_epoch(results, kind):
    got = results["loaders"][kind]
    per_process = got["batches"]  # [process][batch] -> epoch items
    assert len(per_process) == 2
    assert all(len(batch) == got["batch_size"] for batches in per_process for batch in batches)
    assert len(per_process[0]) == len(per_process[1]) > 0  # the processes step together
    items = [item for batches in per_process for batch in batches for item in batch]
    assert len(items) == len(set(items)), "a plan was served twice in one epoch"
    # all of the epoch but the remainder that does not fill a global batch (drop_last)
    global_batch = 2 * got["batch_size"]
    assert sorted(items) == list(range(got["length"] // global_batch * global_batch))


def test_each_multiview_batch_holds_moments_of_one_scene(results):
    scenes = results["loaders"]["multiview"]["scenes"]
    assert all(len(set(batch)) == 1 for batches in scenes for batch in batches)
    assert len({batch[0] for batches in scenes for batch in batches}) > 1  # not one scene throughout


def test_a_nan_loss_on_one_process_makes_both_skip_the_step(results):
    # the main process's own losses were finite: it counts the step only if it skipped it too
    assert results["nonfinite"]["skip"] == {"nonfinite_steps": 1, "steps": 4, "weights_finite": True}


def test_a_nan_loss_on_one_process_stops_both_naming_the_same_step(results):
    errors = results["nonfinite"]["stop"]
    assert len(errors) == 2 and errors[0] != "no error"
    assert all("the loss is" in e and "at step 3 (epoch 1, batch 1)" in e for e in errors)
