"""Every backend on the bad-video corpus (`tempssl.video.bad_corpus`): each file behaves as
documented (decodes exactly, keeps the frames before the damage, or raises the library's error
naming it), under a timeout, in a subprocess that must not crash."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sampler_cases import KIND_CONFIGS

from tempssl.video import available_backends

CHECK = Path(__file__).with_name("bad_corpus_check.py")


def test_the_corpus_has_every_kind_the_issue_lists(bad_corpus):
    assert len(bad_corpus) >= 12
    assert {"zero_byte", "text_renamed", "truncated_10", "truncated_50", "truncated_90",
            "corrupt_header", "garbage_packet", "audio_only", "one_frame", "short",
            "variable_rate", "overreported", "odd_size", "grayscale", "rotated", "huge",
            "out_of_order_avi"} <= bad_corpus.keys()  # fmt: skip
    assert all(v.path.is_file() for v in bad_corpus.values())


@pytest.mark.parametrize("backend", available_backends())
def test_every_backend_handles_every_bad_file_as_documented(bad_corpus, backend, tmp_path):
    described = {k: {**dataclasses.asdict(v), "path": str(v.path)} for k, v in bad_corpus.items()}
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(described))
    done = subprocess.run(
        [sys.executable, str(CHECK), backend, str(corpus)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    started = [line["kind"] for line in lines if "start" in line]
    results = {line["kind"]: line["problem"] for line in lines if "problem" in line}
    assert done.returncode == 0, f"crashed on {started[-1] if started else '?'}: {done.stderr[-2000:]}"
    assert results.keys() == bad_corpus.keys()
    problems = {kind: problem for kind, problem in results.items() if problem}
    assert not problems, problems


ERRORS = ("error",)


def _config(name: str, root: Path, *overrides: str):
    from tempssl.config import load_config
    from tempssl.schema import TrainConfig

    return load_config(
        TrainConfig,
        Path(__file__).parents[2] / "configs" / f"{name}.yaml",
        [f"data.root={root}", "data.num_workers=0", "transforms.size=16", "eval.enabled=false",
         "trainer.progress=false", *overrides],
    )  # fmt: skip


@pytest.mark.parametrize("kind", [k for k, (_, layout, _) in KIND_CONFIGS.items() if layout == "flat"])
def test_every_sampler_skips_the_bad_files_of_a_mixed_folder_and_decodes_the_rest(
    kind, bad_corpus, mixed_folder, caplog
):
    """Files that do not open are left out at indexing (listed with their reason); the others
    are sampled as far as their length allows; every item of an epoch decodes or is replaced by
    the next plan, counted; nothing raises."""
    from tempssl import build

    config, _, overrides = KIND_CONFIGS[kind]
    cfg = _config(config, mixed_folder, *overrides)
    source = build.training_source(cfg, progress=False)
    unreadable = {Path(path).name: why for path, why in source.unreadable}
    assert unreadable.keys() == {v.path.name for v in bad_corpus.values() if v.expect in ERRORS}
    assert all(why for why in unreadable.values())
    dataset = build.training_dataset(cfg, source, seed=0, progress=False, min_plans=8)
    items = [dataset[i] for i in range(len(dataset))]
    assert len(items) == len(dataset) > 0
    used = {Path(source.videos[int(item["video"])].path).name for item in items}
    assert used & {"good0.mp4", "good1.mp4", "good2.mp4", "good3.mp4"}
    assert not used & set(unreadable)
    reported = {line.split("\t")[0] for item in items for line in item["skipped_videos"].splitlines()}
    assert {Path(p).name for p in reported} <= {"garbage_packet.mp4"}  # the one failing mid-file


def test_the_multiview_sampler_skips_scenes_left_with_one_readable_view(bad_corpus, tmp_path):
    """Each bad file is one camera of a two-camera scene next to a good one: a camera that does
    not open leaves its scene with one view (skipped, with the file listed); every other scene
    is sampled, and its moments decode or are replaced by the next plan, counted."""
    import shutil

    from tempssl import build
    from tempssl.video.synthetic import write_coded_video

    for kind, video in bad_corpus.items():
        (tmp_path / kind).mkdir()
        shutil.copy(video.path, tmp_path / kind / f"a{video.path.suffix}")
        write_coded_video(tmp_path / kind / "b.mp4", 48, seed=7)
    for s in range(2):
        (tmp_path / f"good{s}").mkdir()
        for v in "ab":
            write_coded_video(tmp_path / f"good{s}" / f"{v}.mp4", 48, seed=10 * s + ord(v))
    cfg = _config("tcn", tmp_path, "trainer.batch_size=2", "sampler.args={min_gap: 0.04}")
    source = build.training_source(cfg, progress=False)
    unreadable = {Path(path).parent.name for path, _ in source.unreadable}
    assert unreadable == {kind for kind, v in bad_corpus.items() if v.expect in ERRORS}
    dataset = build.training_dataset(cfg, source, seed=0, progress=False, min_plans=8)
    assert set(dataset.sampler.scenes) == bad_corpus.keys() - unreadable | {"good0", "good1"}
    items = [dataset[i] for i in range(len(dataset))]
    assert len(items) == len(dataset) > 0
    assert all(item["views"].shape == (2, 3, 16, 16) for item in items)
    scenes = {source.videos[int(item["video"])].group for item in items}
    assert {"good0", "good1"} <= scenes and not scenes & unreadable
    reported = {line.split("\t")[0] for item in items for line in item["skipped_videos"].splitlines()}
    assert {Path(p).parent.name for p in reported} <= {"garbage_packet"}  # fails mid-file


def test_a_training_run_over_a_mixed_folder_completes_and_lists_what_it_left_out(
    bad_corpus, mixed_folder, tmp_path, capsys
):
    from tempssl.engine.trainer import train

    cfg = _config("simclr", mixed_folder, "model.backbone=small_cnn", "trainer.batch_size=8",
                  "trainer.epochs=1", f"trainer.output_dir={tmp_path}")  # fmt: skip
    cfg.model.args = {"width": 4}
    summary = train(cfg, "mixed")
    assert summary["steps"] >= 1
    listed = {Path(u["path"]).name: u for u in summary["unreadable"]}
    errors = {v.path.name for v in bad_corpus.values() if v.expect in ERRORS}
    assert errors <= listed.keys()
    assert all(listed[name]["found"] == "indexing" and listed[name]["reason"] for name in errors)
    assert set(listed) - errors <= {"garbage_packet.mp4"}
    printed = capsys.readouterr().out
    assert "unreadable videos skipped: " in printed
    assert all(name in printed for name in errors)


def test_extraction_over_a_mixed_folder_embeds_the_readable_videos_and_lists_the_rest(
    bad_corpus, mixed_folder, tmp_path
):
    import torch

    from tempssl.data.sources import unlabeled_folder
    from tempssl.eval.extract import ExtractSettings, extract_embeddings

    class MeanColour(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    source = unlabeled_folder(mixed_folder, progress=False)
    result = extract_embeddings(
        MeanColour(), source, tmp_path / "emb", ExtractSettings(size=16, frames_per_video=4),
        num_workers=0, progress=False,
    )  # fmt: skip
    embedded = {Path(p).name for p in result.paths}
    readable = {v.path.name for v in bad_corpus.values() if v.expect != "error"}
    # every file that opens is embedded, except the one that fails while decoding (listed)
    assert embedded | {"garbage_packet.mp4"} >= readable and "good0.mp4" in embedded
    listed = {Path(u["path"]).name for u in result.info["unreadable"]}
    assert listed <= {"garbage_packet.mp4"}
    assert len(embedded) + len(listed) == len(source)
