"""The training loop: run folder contents, exact resume, online kNN, and config errors."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tempssl.config import ConfigError, load_config
from tempssl.engine.trainer import train
from tempssl.schema import TrainConfig

CONFIG = Path(__file__).parents[2] / "configs" / "tcn.yaml"


def _config(*overrides) -> TrainConfig:
    return load_config(TrainConfig, CONFIG, list(overrides))


def test_run_folder_has_config_metrics_checkpoints_and_summary(tiny, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="tempssl"):  # as tools/train.py logs
        summary = train(_config(*tiny), run_name="tiny")
    run = Path(summary["run_dir"])
    assert run.parent == tmp_path / "tiny"
    assert load_config(TrainConfig, run / "config.yaml") == _config(*tiny)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4]  # 8 plans / batch 4 = 2 steps x 2 epochs
    assert all(torch.isfinite(torch.tensor(line["loss"])) for line in lines)
    latest = (run / "checkpoints" / "latest").read_text()
    assert latest == "step_00000004" and Path(summary["checkpoint"]).name == latest
    assert not list((run / "checkpoints").glob(".partial*"))
    assert summary["steps"] == 4 and summary["epochs"] == 2
    assert list((run / "tensorboard").glob("events.*"))
    assert "plans/epoch" in (run / "train.log").read_text() and (run / "summary.json").is_file()


def test_grad_accumulation_multiplies_the_global_batch_and_divides_the_steps(tiny):
    summary = train(_config(*tiny, "trainer.batch_size=2", "trainer.grad_accumulation=2"), "accum")
    assert summary["global_batch"] == 4 and summary["steps"] == 4  # 16 batches of 2 over 2 epochs


def test_main_job_trains_where_torchcodec_cannot_load_ffmpeg(tiny, monkeypatch, caplog):
    # A fresh machine without system FFmpeg: torchcodec imports but cannot load its libraries.
    from tempssl.video import open as video_open

    decoders = pytest.importorskip("torchcodec.decoders", reason="the [torchcodec] extra")

    def no_ffmpeg(*args, **kwargs):
        raise RuntimeError("Could not load libtorchcodec. Likely causes: ...")

    monkeypatch.setattr(decoders, "VideoDecoder", no_ffmpeg)
    video_open.backend_problem.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="tempssl"):
            summary = train(_config(*tiny), run_name="no_ffmpeg")
    finally:
        video_open.backend_problem.cache_clear()
    assert summary["steps"] == 4 and summary["skipped_plans"] == 0
    warnings = [r.message for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "torchcodec is installed but cannot load" in warnings[0]


def test_little_footage_still_fills_a_batch_per_process(tiny):
    # 4 scenes of 16 frames give 8 plans by the footage rule; a batch of 16 multiplies them up
    summary = train(_config(*tiny, "trainer.batch_size=16"), run_name="short")
    assert summary["steps"] == 2 and summary["epochs"] == 2  # one full batch per epoch


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(checkpoint / "model.safetensors")


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_gives_the_same_final_weights(tiny, tmp_path, workers):
    common = [*tiny, "trainer.epochs=3", "trainer.batch_size=2", f"data.num_workers={workers}"]
    # 4 steps per epoch; a checkpoint every 3 steps lands mid-epoch (epoch 0, batch 3 of 4)
    full = train(_config(*common, "trainer.checkpoint_every=3", "trainer.keep_checkpoints=10"), "full")
    expected = _weights(Path(full["checkpoint"]))
    mid = Path(full["run_dir"]) / "checkpoints" / "step_00000003"
    state = json.loads((mid / "trainer_state.json").read_text())
    assert {k: state[k] for k in ("epoch", "step_in_epoch", "global_step")} == {
        "epoch": 0,
        "step_in_epoch": 3,
        "global_step": 3,
    }
    assert state["scheduler"]["last_epoch"] == 3  # the schedule, as JSON (nothing to unpickle)
    assert not (mid / "custom_checkpoint_0.pkl").exists()
    resumed = train(_config(*common, f"trainer.resume={mid}"), "full")
    assert resumed["steps"] == 12
    got = _weights(Path(resumed["checkpoint"]))
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6, msg=name)


def test_resume_auto_finds_the_latest_checkpoint(tiny, tmp_path):
    first = train(_config(*tiny, "trainer.epochs=1"), "again")
    second = train(_config(*tiny, "trainer.resume=auto"), "again")
    assert second["run_dir"] == first["run_dir"] and second["steps"] == 4


def test_online_knn_reports_trained_and_random_init(tiny, scenes_root):
    labels = scenes_root / "labels.csv"
    summary = train(
        _config(
            *tiny,
            "eval.enabled=true",
            f"eval.bank_manifest={labels}",
            f"eval.query_manifest={labels}",
            "eval.labels=[label]",
            "eval.k=3",
        ),
        "knn",
    )
    assert (
        set(summary["knn"])
        == set(summary["knn_random_init"])
        == {"knn_label_mean", "knn_label_segments"}
    )
    assert all(0.0 <= v <= 1.0 for v in summary["knn"].values())
    baseline = json.loads((Path(summary["run_dir"]) / "knn_random_init.json").read_text())
    assert baseline == summary["knn_random_init"]  # kept in the run folder for resumes


def test_online_knn_is_off_with_a_log_line_for_own_data_without_manifests(tiny, caplog):
    from tempssl.engine.online_eval import online_eval_enabled

    with caplog.at_level(logging.INFO, logger="tempssl.engine.online_eval"):
        assert not online_eval_enabled(_config(*tiny, "eval.enabled=true"))
    assert "online kNN evaluation is off: data.root is your data" in caplog.text


def test_config_errors_name_the_key(tiny):
    with pytest.raises(ConfigError, match=r"'trainer\.epochz': unknown key; did you mean 'epochs'"):
        _config("trainer.epochz=3")
    with pytest.raises(ConfigError, match=r"'method\.name'.*did you mean 'tcn'"):
        _config("method.name=tcm")
    with pytest.raises(ConfigError, match=r"'sampler\.name': method 'tcn' trains on 'multiview'"):
        train(_config(*tiny, "sampler.name=clips", "sampler.args={}"))
    with pytest.raises(
        ConfigError, match=r"'method\.args\.margn': unknown argument of TCN; did you mean 'margin'"
    ):
        train(_config(*tiny, "method.args={margn: 0.1}"))
    with pytest.raises(
        ConfigError,
        match=r"'transforms\.args\.scal': unknown argument of ClipTransform; did you mean 'scale'",
    ):
        train(_config(*tiny, "transforms.args={scal: [0.5, 1.0]}"))
    with pytest.raises(ConfigError, match=r"'sampler\.args'.*moments_per_scene"):
        train(_config(*tiny, "sampler.args={moments_per_scene: 0}"))
    with pytest.raises(ConfigError, match=r"'eval\.query_manifest': set both"):
        train(_config(*tiny, "eval.enabled=true", "eval.bank_manifest=x.csv"))
    # explicit plan counts are kept; the footage rule would have filled the batch
    explicit = "sampler.args={views: 2, moments_per_scene: 2, min_gap: 0.04, blocks_per_scene: 1}"
    with pytest.raises(
        ConfigError, match=r"'trainer\.batch_size': 8 plans per epoch do not fill.*unset"
    ):
        train(_config(*tiny, "trainer.batch_size=16", explicit))
    with pytest.raises(ConfigError, match=r"'trainer\.log_every': must be > 0"):
        _config("trainer.log_every=0")


def test_train_tool_exits_with_the_error(capsys):
    spec = importlib.util.spec_from_file_location("train_tool", CONFIG.parents[1] / "tools" / "train.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([str(CONFIG), "optim.lr=fast"]) == 2
    assert "config key 'optim.lr': expected float, got 'fast'" in capsys.readouterr().err


def test_online_knn_maps_query_labels_to_the_bank_classes_by_name(scenes_root):
    from tempssl.engine.online_eval import OnlineKNN

    (scenes_root / "query_b_only.csv").write_text("path,label\nscene1/view0.mp4,b\nscene3/view0.mp4,b\n")
    cfg = _config(
        f"data.root={scenes_root}",
        f"eval.bank_manifest={scenes_root / 'labels.csv'}",
        f"eval.query_manifest={scenes_root / 'query_b_only.csv'}",
    )
    knn = OnlineKNN(cfg, torch.device("cpu"))
    assert knn.labels == ["label"]
    assert knn.bank[0].classes == ["a", "b"] and knn.query[0].classes == ["a", "b"]
    assert [v.label for v in knn.query[0].videos] == [1, 1]  # "b" is class 1 in the bank


def test_moco_v2_resume_restores_momentum_encoder_and_queue(tiny, tmp_path):
    """A resumed MoCo v2 run ends with the same weights, momentum encoder and queue as an
    uninterrupted one (they are all in the checkpoint)."""
    config = Path(__file__).parents[2] / "configs" / "moco_v2.yaml"
    common = [
        *[o for o in tiny if o.split("=")[0] in ("data.root", "data.num_workers", "trainer.output_dir",
                                                  "trainer.progress", "eval.enabled")],
        "sampler.args={frames_per_visit: 2}", "transforms.size=16", "method.args.queue_size=8",
        "method.args.bn_splits=2",
        "trainer.epochs=3", "trainer.batch_size=2", "trainer.log_every=1",
    ]  # fmt: skip
    full = train(
        load_config(
            TrainConfig, config, [*common, "trainer.checkpoint_every=3", "trainer.keep_checkpoints=10"]
        ),
        "moco",
    )
    expected = _weights(Path(full["checkpoint"]))
    assert {"queue.keys", "queue.pointer", "momentum_backbone.conv1.weight"} <= expected.keys()
    mid = Path(full["run_dir"]) / "checkpoints" / "step_00000003"  # mid-epoch (4 steps/epoch)
    at_mid = _weights(mid)
    resumed = train(load_config(TrainConfig, config, [*common, f"trainer.resume={mid}"]), "moco")
    assert resumed["steps"] == 12
    got = _weights(Path(resumed["checkpoint"]))
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6, msg=name)
    # the queue and the momentum encoder really changed after the checkpoint resumed from
    assert not torch.equal(at_mid["queue.keys"], expected["queue.keys"])
    name = "momentum_backbone.conv1.weight"
    assert not torch.equal(at_mid[name], expected[name])


def test_a_restoring_method_logs_reconstructions_and_psnr_at_evaluation(scenes_root, tmp_path):
    overrides = [
        f"data.root={scenes_root}", "data.num_workers=0", "data.layout=unlabeled",
        "sampler.name=frames", "sampler.args={}", "transforms.name=clip", "transforms.size=32",
        "model.backbone=vit_tiny", "model.args={img_size: 32, patch_size: 8}",
        "method.name=mae", "method.args={decoder_dim: 32, decoder_depth: 1, decoder_heads: 2}",
        "trainer.batch_size=4", "trainer.epochs=2", "trainer.progress=false", "trainer.log_with=[]",
        f"trainer.output_dir={tmp_path}", "eval.every_epochs=1",
    ]  # fmt: skip
    summary = train(
        load_config(TrainConfig, Path(__file__).parents[2] / "configs" / "mae.yaml", overrides), "mae"
    )
    run = Path(summary["run_dir"])
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [line["step"] for line in lines if "reconstruction_psnr" in line]
    assert logged[-1] == summary["steps"] and len(logged) >= 2  # each evaluation epoch and the end
    assert sorted(p.name for p in (run / "images").glob("reconstructions_step*.png"))[-1] == (
        f"reconstructions_step{summary['steps']:08d}.png"
    )
    assert summary["reconstruction"]["psnr"] > 0 and -1 <= summary["reconstruction"]["ssim"] <= 1
    assert not (run / "tensorboard").exists()  # log_with: [] writes metrics.jsonl only


@pytest.mark.parametrize(
    ("config", "extra"),
    [
        ("denoising.yaml", ["model.backbone=small_cnn", "model.args={width: 4}",
                            "eval.every_epochs=1"]),  # reconstructions logged between epochs
        ("context_prediction.yaml", ["model.backbone=small_cnn", "model.args={width: 4}",
                                     "transforms.size=32", "method.args.hidden_dim=8"]),
    ],
)  # fmt: skip
def test_resume_mid_epoch_of_a_method_drawing_random_numbers_gives_the_same_weights(
    tiny, tmp_path, config, extra
):
    """Methods that draw from torch's global generator while training (masks, patch positions,
    dropout) continue the same stream after a resume: the loader draws from its own generator."""
    path = Path(__file__).parents[2] / "configs" / config
    keep = ("data.root", "data.num_workers", "trainer.output_dir", "trainer.progress", "eval.enabled")
    common = [
        *[o for o in tiny if o.split("=")[0] in keep],
        "sampler.args={frames_per_visit: 2}", "transforms.size=16", *extra,
        "trainer.epochs=3", "trainer.batch_size=2", "trainer.log_every=1",
    ]  # fmt: skip
    full = train(
        load_config(
            TrainConfig, path, [*common, "trainer.checkpoint_every=3", "trainer.keep_checkpoints=10"]
        ),
        "random",
    )
    expected = _weights(Path(full["checkpoint"]))
    checkpoints = Path(full["run_dir"]) / "checkpoints"
    # mid-epoch (4 steps per epoch), and at the end of an epoch: the evaluation that followed it
    # in the full run is not repeated by the resumed one
    for start, in_epoch in (("step_00000003", 3), ("step_00000004", 0)):
        state = json.loads((checkpoints / start / "trainer_state.json").read_text())
        assert state["step_in_epoch"] == in_epoch
        overrides = [*common, "trainer.keep_checkpoints=10", f"trainer.resume={checkpoints / start}"]
        resumed = train(load_config(TrainConfig, path, overrides), "random")
        got = _weights(Path(resumed["checkpoint"]))
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6, msg=name)


def test_sync_batchnorm_converts_every_batchnorm_for_gpu_processes_and_refuses_cpu_ones():
    from types import SimpleNamespace

    from tempssl.engine.trainer import sync_batchnorm
    from tempssl.models import build_backbone

    net = build_backbone("resnet18")
    one = SimpleNamespace(num_processes=1, device=torch.device("cpu"))
    assert sync_batchnorm(net, one) is net  # one process: its batch is the global batch
    with pytest.raises(ConfigError, match="GPUs only") as error:
        sync_batchnorm(net, SimpleNamespace(num_processes=2, device=torch.device("cpu")))
    assert error.value.key == "trainer.sync_batchnorm"
    norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    params = {id(p) for p in net.parameters()}
    synced = sync_batchnorm(net, SimpleNamespace(num_processes=2, device=torch.device("cuda")))
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == norms > 0
    assert not any(type(m) is torch.nn.BatchNorm2d for m in synced.modules())
    assert {id(p) for p in synced.parameters()} == params  # the same weights, trained in place


def test_trainer_compile_trains_and_keeps_the_checkpoint_keys_of_eager_runs(tiny):
    """`trainer.compile` (here with torch.compile's `eager` backend: Dynamo's tracing without
    code generation, which takes minutes on a CPU) trains, and its checkpoints load into eager
    runs: the same parameter names."""
    from torch._dynamo.utils import counters

    eager = train(_config(*tiny, "trainer.epochs=1"), "eager")
    counters.clear()
    compiled = train(
        _config(*tiny, "trainer.epochs=1", "trainer.compile=true", "trainer.compile_backend=eager"),
        "compiled",
    )
    weights = [load_file(Path(s["checkpoint"]) / "model.safetensors") for s in (eager, compiled)]
    assert counters["stats"]["unique_graphs"] > 0  # Dynamo really traced the method
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:  # the eager backend runs the same operations
        torch.testing.assert_close(weights[1][name], weights[0][name], msg=name)
    assert compiled["steps"] == eager["steps"] == 2
    assert torch.isfinite(torch.tensor(compiled["last_metrics"]["loss"]))
