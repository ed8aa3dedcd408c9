"""PlanDataset: one decode call per video per batch, the same items as decoded one by one,
structures by kind, workers, bad videos."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sampler_cases import KIND_CONFIGS
from torch.utils.data import DataLoader

from tempssl.data.dataset import PlanDataset
from tempssl.data.sources import multiview_groups, unlabeled_folder
from tempssl.video import VideoReader
from tempssl.video.synthetic import read_frame_codes, write_coded_video


@dataclass(frozen=True)
class _Plan:
    videos: tuple[int, ...]
    frames: tuple[tuple[int, ...], ...]
    label: int = -1


class _ListSampler:
    """A sampler that serves fixed plans (epoch e shifts every frame index by e)."""

    def __init__(self, kind, plans, **attrs):
        self.kind, self._plans = kind, plans
        self.__dict__.update(attrs)

    def __len__(self):
        return len(self._plans)

    def plans(self, epoch):
        return [
            _Plan(p.videos, tuple(tuple(f + epoch for f in fs) for fs in p.frames), p.label)
            for p in self._plans
        ]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("flat")
    for i in range(3):
        write_coded_video(root / f"v{i}.mp4", 40, seed=i)
    return unlabeled_folder(root, progress=False)


def _codes(frames: torch.Tensor) -> list[int]:
    """Frame codes of float (..., 3, H, W) frames in [0, 1]."""
    flat = frames.reshape(-1, *frames.shape[-3:])
    return read_frame_codes((flat * 255).round().to(torch.uint8).permute(0, 2, 3, 1))


def test_one_decode_call_per_video_per_plan(source, monkeypatch):
    calls = []
    real = VideoReader.get_frames
    monkeypatch.setattr(
        VideoReader, "get_frames", lambda self, idx: calls.append(list(idx)) or real(self, idx)
    )
    sampler = _ListSampler("pairs", [_Plan((1,), ((10, 12, 30),))])
    sample = PlanDataset(source, sampler)[0]
    assert calls == [[10, 12, 30]]
    assert [_codes(sample[k][None])[0] for k in ("anchor", "positive", "negative")] == [10, 12, 30]


def test_structures_by_kind(source):
    seq = PlanDataset(
        source, _ListSampler("sequences", [_Plan((0,), (tuple(range(6)),))], num_blocks=2, block_len=3)
    )
    assert seq[0]["clip"].shape == (2, 3, 3, 64, 96)
    assert _codes(seq[0]["clip"]) == list(range(6))
    fps = source.videos[0].fps
    assert torch.allclose(seq[0]["times"], torch.arange(6, dtype=torch.float32) / fps)  # seconds
    clip = PlanDataset(source, _ListSampler("clips", [_Plan((2,), ((5, 7, 9, 11),), label=4)]))[0]
    assert clip["clip"].shape == (3, 4, 64, 96) and clip["label"] == 4 and clip["video"] == 2
    assert _codes(clip["clip"].permute(1, 0, 2, 3)) == [5, 7, 9, 11]
    tup = PlanDataset(source, _ListSampler("tuples", [_Plan((0,), ((9, 3, 6),), label=0)]))[0]
    assert (
        tup["frames"].shape == (3, 3, 64, 96)
        and _codes(tup["frames"]) == [9, 3, 6]
        and tup["label"] == 0
    )
    two_views = lambda frames: [frames.permute(0, 3, 1, 2).float() / 255] * 2  # noqa: E731
    frames = PlanDataset(source, _ListSampler("frames", [_Plan((1,), ((3, 4),))]), transform=two_views)[
        0
    ]
    assert frames["views"].shape == (4, 3, 64, 96) and _codes(frames["views"]) == [3, 3, 4, 4]
    assert frames["views_per_frame"] == 2  # frame j's views at 2j, 2j + 1


def test_multiview_views_are_synchronized(tmp_path):
    for scene in ("a", "b"):
        (tmp_path / scene).mkdir()
        write_coded_video(tmp_path / scene / "v0.mp4", 20)
        write_coded_video(tmp_path / scene / "v1.mp4", 20, seed=1)
    source = multiview_groups(tmp_path, progress=False)
    sample = PlanDataset(source, _ListSampler("multiview", [_Plan((2, 3), ((7,), (8,)))]))[0]
    assert sample["views"].shape == (2, 3, 64, 96)
    assert _codes(sample["views"]) == [7, 8]


def test_camera_views_of_a_moment_share_one_flip(tmp_path):
    from tempssl.data.transforms import ClipTransform

    (tmp_path / "scene").mkdir()
    for view in ("v0", "v1"):  # two identical cameras: any difference between views is augmentation
        write_coded_video(tmp_path / "scene" / f"{view}.mp4", 20)
    source = multiview_groups(tmp_path, progress=False)
    full_frame = ClipTransform(64, scale=(1.0, 1.0), ratio=(1.5, 1.5), flip_p=0.5, mean=None, std=None)
    plans = [_Plan((0, 1), ((i,), (i,))) for i in range(20)]
    dataset = PlanDataset(source, _ListSampler("multiview", plans), transform=full_frame)
    flipped = []
    for i in range(len(plans)):
        views = dataset[i]["views"]  # (2, 3, 64, 64)
        assert torch.allclose(views[0], views[1])  # the same flip (and crop) for both cameras
        flipped.append(_codes(views[:1].flip(-1)) == [i])  # the code reads back once unflipped
    assert 0 < sum(flipped) < len(plans)  # flips happen, per moment


def test_same_batches_with_any_number_of_workers(source):
    plans = [_Plan((i % 3,), ((i, i + 1, i + 5),)) for i in range(10)]
    dataset = PlanDataset(source, _ListSampler("pairs", plans))
    dataset.set_epoch(2)
    batches = {}
    for workers in (0, 2):
        loader = DataLoader(dataset, batch_size=4, num_workers=workers)
        batches[workers] = [_codes(b["anchor"]) for b in loader]
    assert batches[0] == batches[2] == [[i + 2 for i in range(s, min(s + 4, 10))] for s in (0, 4, 8)]


def test_bad_video_is_skipped_logged_once_and_counted(tmp_path, caplog):
    write_coded_video(tmp_path / "a.mp4", 20)
    write_coded_video(tmp_path / "b.mp4", 20, seed=3)
    source = unlabeled_folder(tmp_path, progress=False)
    (tmp_path / "b.mp4").write_bytes(b"broken after indexing")
    plans = [_Plan((1,), ((1, 2, 3),)), _Plan((0,), ((4, 5, 6),)), _Plan((1,), ((7, 8, 9),))]
    dataset = PlanDataset(source, _ListSampler("pairs", plans))
    with caplog.at_level(logging.WARNING):
        samples = [dataset[i] for i in range(3)]
    assert [int(s["skipped"]) for s in samples] == [1, 0, 2]
    assert [_codes(s["anchor"][None])[0] for s in samples] == [4, 4, 1 + 3]
    assert caplog.text.count("skipping unreadable video") == 1
    strict = PlanDataset(source, _ListSampler("pairs", plans), on_bad_video="raise")
    with pytest.raises(Exception, match=r"b\.mp4"):
        strict[0]


def test_videos_found_unreadable_in_loader_workers_reach_the_batches(tmp_path):
    """What a worker finds unreadable while decoding travels in the batch (`skipped_videos`:
    path and reason), where the trainer collects it for the summary."""
    from tempssl.data.dataset import EpochIndices

    write_coded_video(tmp_path / "a.mp4", 20)
    write_coded_video(tmp_path / "b.mp4", 20, seed=3)
    source = unlabeled_folder(tmp_path, progress=False)
    (tmp_path / "b.mp4").write_bytes(b"broken after indexing")
    plans = [_Plan((1,), ((1, 2, 3),)), _Plan((0,), ((4, 5, 6),))] * 2
    dataset = PlanDataset(source, _ListSampler("pairs", plans))
    loader = DataLoader(dataset, batch_size=2, sampler=EpochIndices(4), num_workers=2)
    batches = list(loader)
    lines = [line for b in batches for lines in b["skipped_videos"] for line in lines.splitlines()]
    assert {line.split("\t")[0] for line in lines} == {str(tmp_path / "b.mp4")}
    assert all(line.split("\t")[1] for line in lines)  # with its reason
    assert [int(n) for b in batches for n in b["skipped"]] == [1, 0, 1, 0]
    assert all(_codes(b["anchor"]) == [4, 4] for b in batches)


def test_no_readable_video_left_names_the_folder_and_the_reasons(tmp_path):
    for i in range(2):
        write_coded_video(tmp_path / f"{i}.mp4", 20, seed=i)
    source = unlabeled_folder(tmp_path, progress=False)
    for i in range(2):
        (tmp_path / f"{i}.mp4").write_bytes(b"broken after indexing")
    dataset = PlanDataset(
        source, _ListSampler("pairs", [_Plan((0,), ((1, 2, 3),)), _Plan((1,), ((1, 2, 3),))])
    )
    with pytest.raises(ValueError, match=r"none of the 2 video\(s\) could be read.*0\.mp4.*1\.mp4"):
        dataset[0]


def test_image_folder_trains_per_frame_methods(tmp_path):
    import numpy as np
    from PIL import Image

    from tempssl.data.sampling import FrameSampler
    from tempssl.data.sources import image_folder

    for i in range(3):
        Image.fromarray(np.full((40, 50, 3), 60 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    source = image_folder(tmp_path, progress=False)
    dataset = PlanDataset(source, FrameSampler(source.videos), decode_size=(20, 25))
    frames = torch.stack([dataset[i]["frames"] for i in range(len(dataset))])
    assert frames.shape == (3, 1, 3, 20, 25)
    assert sorted(round(f.mean().item() * 255) for f in frames) == [0, 60, 120]


def test_corrupt_image_is_skipped_like_a_corrupt_video(tmp_path, caplog):
    import numpy as np
    from PIL import Image

    from tempssl.data.sampling import FrameSampler
    from tempssl.data.sources import image_folder

    for i in range(3):
        Image.fromarray(np.full((40, 50, 3), 60 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    source = image_folder(tmp_path, progress=False)
    (tmp_path / "1.png").write_bytes(b"broken after indexing")
    dataset = PlanDataset(source, FrameSampler(source.videos, num_plans=3))
    with caplog.at_level(logging.WARNING):
        samples = [dataset[i] for i in range(3)]
    assert sum(int(s["skipped"]) for s in samples) == 1
    assert "1.png" in caplog.text and "not a readable image" in caplog.text


def test_decode_size_only_shrinks(tmp_path):
    from tempssl.data.sampling import FrameSampler

    write_coded_video(tmp_path / "big.mp4", 4, height=240, width=320)
    write_coded_video(tmp_path / "small.mp4", 4, height=64, width=96)
    source = unlabeled_folder(tmp_path, progress=False)
    dataset = PlanDataset(source, FrameSampler(source.videos), decode_size=74)
    shapes = {source.videos[i].path.rsplit("/", 1)[1]: dataset[i]["frames"].shape[-2:] for i in range(2)}
    assert shapes == {"big.mp4": (74, 99), "small.mp4": (64, 96)}  # 64 px stays 64 px


def test_persistent_workers_serve_each_epochs_plans(source):
    from tempssl.data.dataset import EpochIndices

    plans = [_Plan((i % 3,), ((i, i + 1, i + 5),)) for i in range(4)]
    dataset = PlanDataset(source, _ListSampler("pairs", plans))
    indices = EpochIndices(len(dataset))
    loader = DataLoader(dataset, batch_size=2, sampler=indices, num_workers=2, persistent_workers=True)
    for epoch in (0, 3, 1):
        indices.set_epoch(epoch)
        anchors = [code for batch in loader for code in _codes(batch["anchor"])]
        assert anchors == [i + epoch for i in range(4)]  # _ListSampler shifts frames by the epoch


def test_same_augmented_batches_with_0_1_and_2_workers(tmp_path):
    """The training data path as the trainer builds it (random crops, flips, colour of SimCLR's
    two views): the same tensors whatever the worker count, and the augmentation is random."""
    from tempssl import build
    from tempssl.config import load_config
    from tempssl.data.dataset import EpochIndices
    from tempssl.schema import TrainConfig

    for i in range(3):
        write_coded_video(tmp_path / f"v{i}.mp4", 24, seed=i)
    cfg = load_config(
        TrainConfig,
        "configs/simclr.yaml",
        [f"data.root={tmp_path}", "transforms.size=16", "sampler.args={frames_per_visit: 2}"],
    )
    source = build.training_source(cfg, progress=False)
    dataset = build.training_dataset(cfg, source, seed=0, progress=False, min_plans=8)
    indices = EpochIndices(len(dataset))
    batches = {}
    for workers in (0, 1, 2):
        loader = DataLoader(dataset, batch_size=4, sampler=indices, num_workers=workers)
        indices.set_epoch(1)
        batches[workers] = [b["views"] for b in loader]
    for workers in (1, 2):
        assert len(batches[workers]) == len(batches[0])
        for a, b in zip(batches[0], batches[workers], strict=True):
            assert torch.equal(a, b)
    views = batches[0][0]  # (B, 2, C, H, W): two views of each frame
    assert not torch.equal(views[:, 0], views[:, 1])  # the views differ: augmentation is on


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> dict:
    flat, scenes = tmp_path_factory.mktemp("flat48"), tmp_path_factory.mktemp("scenes48")
    for i in range(3):
        write_coded_video(flat / f"v{i}.mp4", 48, seed=i)
        (scenes / f"s{i}").mkdir()
        for v in range(2):
            write_coded_video(scenes / f"s{i}" / f"cam{v}.mp4", 48, seed=10 * i + v)
    return {"flat": flat, "scenes": scenes}


def _training_dataset(kind: str, layouts: dict, batch_size: int = 4):
    from tempssl import build
    from tempssl.config import load_config
    from tempssl.schema import TrainConfig

    config, layout, overrides = KIND_CONFIGS[kind]
    cfg = load_config(
        TrainConfig,
        f"configs/{config}.yaml",
        [f"data.root={layouts[layout]}", "transforms.size=16", f"trainer.batch_size={batch_size}",
         *overrides],
    )  # fmt: skip
    source = build.training_source(cfg, progress=False)
    return build.training_dataset(cfg, source, seed=0, progress=False, min_plans=8)


@pytest.mark.parametrize("kind", list(KIND_CONFIGS))
def test_batch_level_decoding_gives_the_items_decoded_one_by_one(kind, layouts):
    """The trainer's loader (batch-level decoding through `__getitems__`, 0 and 2 workers) gives
    exactly the tensors of items decoded one plan at a time, augmentations included."""
    from torch.utils.data import default_collate

    from tempssl.engine.trainer import training_loader

    dataset = _training_dataset(kind, layouts)
    one_by_one = [
        default_collate([dataset[(1, i)] for i in range(start, start + 4)])
        for start in range(0, len(dataset) // 4 * 4, 4)
    ]
    for workers in (0, 2):
        loader = training_loader(dataset, 4, workers, seed=0)
        loader.sampler.set_epoch(1)
        batches = list(loader)
        assert len(batches) == len(one_by_one) > 0
        for got, expected in zip(batches, one_by_one, strict=True):
            assert got.keys() == expected.keys()
            for key, value in expected.items():
                if torch.is_tensor(value):
                    assert torch.equal(got[key], value), (workers, key)
                else:
                    assert got[key] == value


def test_a_multiview_batch_decodes_each_camera_once(layouts, monkeypatch):
    """A batch of 4 moments of one scene: one decode call per camera (not one per moment), each
    asking for the sorted union of the moments' frames."""
    calls = []
    real = VideoReader.get_frames
    monkeypatch.setattr(
        VideoReader,
        "get_frames",
        lambda self, idx: calls.append((self.path, list(idx))) or real(self, idx),
    )
    dataset = _training_dataset("multiview", layouts)
    plans = dataset.sampler.plans(0)[:4]
    assert len({frozenset(plan.videos) for plan in plans}) == 1  # one scene per batch
    dataset.__getitems__([(0, i) for i in range(4)])
    assert len(calls) == 2 and len({path for path, _ in calls}) == 2
    for _, frames in calls:
        assert frames == sorted(set(frames)) and len(frames) >= 2


def test_plans_sharing_frames_decode_them_once(source, monkeypatch):
    calls = []
    real = VideoReader.get_frames
    monkeypatch.setattr(
        VideoReader, "get_frames", lambda self, idx: calls.append(list(idx)) or real(self, idx)
    )
    plans = [_Plan((0,), ((3, 5, 9),)), _Plan((0,), ((5, 9, 20),)), _Plan((1,), ((1, 2, 3),))]
    dataset = PlanDataset(source, _ListSampler("pairs", plans))
    items = dataset.__getitems__([0, 1, 2])
    assert sorted(calls) == [[1, 2, 3], [3, 5, 9, 20]]
    anchors = [_codes(item[k][None])[0] for item in items for k in ("anchor", "positive", "negative")]
    assert anchors == [3, 5, 9, 5, 9, 20, 1, 2, 3]


class _ThreadsInWorker(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        from tempssl.data.dataset import decoder_threads_for

        return decoder_threads_for(1280 * 720)


def test_decoder_threads_one_per_reader_in_workers_more_for_large_frames_in_the_main_process(source):
    import os

    from tempssl.data.dataset import decoder_threads_for

    assert decoder_threads_for(320 * 240) == 1  # small frames: threads cost more than they give
    assert decoder_threads_for(1280 * 720) == max(1, min(4, os.cpu_count()))
    assert list(DataLoader(_ThreadsInWorker(), batch_size=None, num_workers=1)) == [1]
    dataset = PlanDataset(source, _ListSampler("pairs", [_Plan((0,), ((1, 2, 3),))]))
    assert dataset._reader(0).num_threads == 1  # the 96x64 test videos
    forced = PlanDataset(source, _ListSampler("pairs", []), decoder_threads=3)
    assert forced._reader(0).num_threads == 3


def test_decoder_threads_zero_lets_the_backend_choose_and_negative_is_an_error(source):
    assert PlanDataset(source, _ListSampler("pairs", []), decoder_threads=0)._reader(0).num_threads == 0
    with pytest.raises(ValueError, match="decoder_threads must be >= 0"):
        PlanDataset(source, _ListSampler("pairs", []), decoder_threads=-1)


def test_a_plan_may_ask_one_video_for_no_frames(source):
    from tempssl.data.dataset import _take

    order = np.array([2, 5, 9])
    pixels = torch.arange(3).reshape(3, 1, 1, 1)
    assert _take(order, pixels, ()).shape == (0, 1, 1, 1)
    assert _take(order, pixels, (5, 9)).data_ptr() == pixels[1:].data_ptr()  # a view, not a copy
    assert _take(order, pixels, (9, 2)).flatten().tolist() == [2, 0]
