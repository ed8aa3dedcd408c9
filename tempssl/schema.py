"""The sections of a training config (`configs/*.yaml`), as typed dataclasses.

`tempssl.config.load_config(TrainConfig, path, overrides)` reads a YAML file onto these: unknown
keys, wrong types and unknown names are errors naming the key and the valid choices. Each
component's own hyper-parameters (`sampler.args`, `method.args`, ...) are checked against its
constructor's signature when it is built (see `tempssl.build`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

_POSITIVE = {"check": lambda v: v > 0, "help": "must be > 0"}


def _samplers():
    from tempssl.data.sampling import SAMPLERS

    return SAMPLERS.names()


def _methods():
    from tempssl.methods import METHODS

    return METHODS.names()


def _backbones():
    from tempssl.models import BACKBONES

    return BACKBONES.names()


def _transforms():
    from tempssl.data.transforms import TRANSFORMS

    return TRANSFORMS.names()


@dataclass
class DataConfig:
    """Where the videos are. `root: null` means the built-in toy dataset (generated on first use)."""

    root: str | None = None
    # auto: a .csv is a manifest, sub-folders of videos are classes, a folder of images is images,
    # anything else is unlabeled videos; the multiview sampler reads auto as multiview (the toy set
    # picks its own when root is null). classes: root/<class>/<video>; manifest: a CSV
    # (path,label); unlabeled: any videos under root; multiview: root/<scene>/<view>.<ext>;
    # images: any images under root.
    layout: Literal["auto", "classes", "manifest", "unlabeled", "multiview", "images"] = "auto"
    label_column: str = "label"  # manifests only
    backend: Literal["auto", "torchcodec", "decord", "pyav"] = "auto"
    # Short side frames are decoded at (never enlarged): auto = ceil(transforms.size * 8 / 7), e.g.
    # 256 for 224 crops; an int sets it; null decodes at the native size.
    decode_size: int | Literal["auto"] | None = "auto"
    num_workers: int = 2
    # decoder threads per open video: null = 1 in loader workers (they already use the cores),
    # in the main process up to 4 (at most the cores) for frames of >= 0.4 megapixels, else 1
    decoder_threads: int | None = None
    on_bad_video: Literal["skip", "raise"] = "skip"


@dataclass
class SamplerConfig:
    name: str = field(default="multiview", metadata={"choices": _samplers})
    args: dict[str, Any] = field(default_factory=dict)
    # tuples only: draw windows where there is motion (cached per-video motion scores)
    motion_weighted: bool = False


@dataclass
class TransformConfig:
    name: str = field(default="clip", metadata={"choices": _transforms})
    size: int = 64
    args: dict[str, Any] = field(default_factory=dict)

    def normalization(self) -> dict[str, Any]:
        """`{"mean", "std"}` the run normalizes its inputs with: `args`' own, else the transforms'
        default (ImageNet's); both None when it only scales to [0, 1]. Evaluation uses the same."""
        from tempssl.data.transforms import IMAGENET_MEAN, IMAGENET_STD

        return {"mean": self.args.get("mean", IMAGENET_MEAN), "std": self.args.get("std", IMAGENET_STD)}


@dataclass
class ModelConfig:
    backbone: str = field(default="small_cnn", metadata={"choices": _backbones})
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodConfig:
    name: str = field(default="tcn", metadata={"choices": _methods})
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    name: Literal["adamw", "sgd", "lars"] = "adamw"
    lr: float = 1e-3
    # lr is for this many samples per optimizer step; it scales linearly with the real global batch
    # (per-device batch x processes x accumulation). null: use lr as given.
    lr_batch_size: int | None = None
    weight_decay: float = 1e-4
    momentum: float = 0.9  # sgd, lars
    betas: tuple[float, float] = (0.9, 0.999)  # adamw
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0  # cosine ends at lr * min_lr_ratio
    clip_grad_norm: float | None = None
    # biases and norm parameters take weight decay too (MoCo's references); default: exempt
    decay_bias_and_norm: bool = False


@dataclass
class TrainerConfig:
    epochs: int = field(default=10, metadata=_POSITIVE)
    batch_size: int = field(default=32, metadata=_POSITIVE)  # per device (process)
    grad_accumulation: int = field(default=1, metadata=_POSITIVE)
    # null: whatever `accelerate launch` says (--mixed_precision or its config file); else forced
    mixed_precision: Literal["no", "fp16", "bf16"] | None = None
    seed: int = 0
    output_dir: str = "runs"
    run_name: str | None = None  # default: the config file's name
    checkpoint_every: int = 0  # optimizer steps between checkpoints (0: only at epoch ends)
    keep_checkpoints: int = 2
    resume: str | None = None  # "auto" (latest checkpoint of this run name) or a checkpoint path
    log_every: int = field(default=10, metadata=_POSITIVE)  # optimizer steps between log lines
    max_steps: int | None = None  # stop early (for smoke tests)
    # a step whose loss is NaN or infinite: false stops the run naming the step and the last good
    # checkpoint; true skips its update (counted in the summary as nonfinite_steps)
    skip_nonfinite: bool = False
    # with several GPU processes, every BatchNorm becomes SyncBatchNorm (statistics over the global
    # batch, as SimCLR, BYOL and MoCo v3 train); GPU-only in PyTorch, so an error on CPU processes
    sync_batchnorm: bool = False
    # run the method's forward under torch.compile (Module.compile: checkpoints keep their keys);
    # off by default: see benchmarks/train_step.py --compile. compile_backend: torch.compile's
    # backend ("inductor"; "eager" / "aot_eager" to debug a graph break)
    compile: bool = False
    compile_backend: str = "inductor"
    progress: bool = True
    # Accelerate's experiment trackers for metrics and images (tensorboard, wandb, mlflow, aim,
    # comet_ml, clearml, dvclive); []: metrics.jsonl only (always written)
    log_with: list[str] = field(default_factory=lambda: ["tensorboard"])


@dataclass
class EvalConfig:
    """Online kNN evaluation of per-video embeddings (k=20, T=0.07, Wu et al. 2018)."""

    every_epochs: int = 0  # 0: only at the start (random init) and the end
    # Labelled videos: the built-in toy splits (with `data.root: null`), or two CSV manifests.
    # label columns to evaluate; null: [action, object] on the toy data, [label] with manifests
    labels: list[str] | None = None
    bank_split: str = "train"
    query_split: str = "val"
    bank_manifest: str | None = None
    query_manifest: str | None = None
    frames_per_video: int = 8
    segments: int = 4  # temporal segments of the order-keeping pooling (see OnlineKNN)
    k: int = 20
    temperature: float = 0.07
    enabled: bool = True

    def __post_init__(self):
        if self.segments < 1 or self.frames_per_video % self.segments:
            raise ValueError(
                f"eval.frames_per_video ({self.frames_per_video}) must be a multiple of "
                f"eval.segments ({self.segments})"
            )


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    transforms: TransformConfig = field(default_factory=TransformConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def decode_short_side(self) -> int | None:
        """`data.decode_size` resolved: "auto" -> `decode_size_for(transforms.size)`."""
        from tempssl.data.transforms import decode_size_for

        if self.data.decode_size == "auto":
            return decode_size_for(self.transforms.size)
        return self.data.decode_size
