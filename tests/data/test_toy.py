"""The toy dataset: layout, decodable files, determinism, balanced labels, actions visible in the pixels,
two synchronized views, the cache and atomic generation.

Pixel checks use no learned model: the object's pixels are where a decoded frame differs from the same
scene rendered without the object (`render_view(..., with_object=False)`).
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tempssl.data import toy
from tempssl.data.toy import ACTIONS, OBJECTS, make_toy_dataset, plan_scenes, toy_root
from tempssl.video import open_video

# 8 train scenes: the balanced plan gives each of the 8 actions exactly one
SMALL = {"scenes": {"train": 8, "val": 2, "test": 2}, "num_frames": 24, "size": 64, "fps": 16, "seed": 3}
TINY = {"scenes": {"train": 2, "val": 1, "test": 1}, "num_frames": 8, "size": 32, "fps": 10}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy") / "small"
    return make_toy_dataset(out, **SMALL, workers=2, progress=False)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def decode(path: Path) -> np.ndarray:
    """All frames of a video, float32 (T, H, W, 3)."""
    reader = open_video(path, backend="pyav")
    return reader.get_frames(list(range(reader.num_frames))).numpy().astype(np.float32)


def spec_of(split: str, scene: str, settings: dict) -> toy.SceneSpec:
    return next(
        s
        for s in plan_scenes(settings["scenes"], settings["seed"])
        if (s.split, s.name) == (split, scene)
    )


def object_pixels(
    root: Path, spec: toy.SceneSpec, view: int, settings: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Decoded frames float32 (T, H, W, 3) and where they show the object, bool (T, H, W)."""
    frames = decode(root / spec.split / spec.name / f"view{view}.mp4")
    scene = toy.sample_scene(spec, settings["num_frames"], settings["seed"])
    empty = toy.render_view(scene, view, settings["size"], with_object=False)
    return frames, np.abs(frames - empty).mean(axis=-1) > 30


def centroid_and_area(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass (x, y) per frame (T, 2) and area in pixels (T,) of masks (T, H, W)."""
    ys, xs = np.mgrid[0 : masks.shape[1], 0 : masks.shape[2]]
    area = masks.sum(axis=(1, 2))
    centre = np.stack([(masks * xs).sum(axis=(1, 2)), (masks * ys).sum(axis=(1, 2))], axis=1)
    return centre / area[:, None], area


def blur(image: np.ndarray) -> np.ndarray:
    """Binomial [1, 2, 1] / 4 blur of (T, H, W) images along H and W."""
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = (padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]) / 4
    return (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) / 4


def rotation_degrees(frames: np.ndarray, masks: np.ndarray) -> float:
    """How far the object turned over the clip, positive clockwise on screen.

    Between consecutive frames, fits the brightness-constancy equation of a similarity motion (shift,
    rotation, scaling about the object's centre) to the object's pixels and sums the rotations.
    """
    luma = blur(frames.mean(axis=-1))
    ys, xs = np.mgrid[0 : masks.shape[1], 0 : masks.shape[2]].astype(np.float32)
    total = 0.0
    for t in range(len(frames) - 1):
        inside = masks[t] & masks[t + 1]
        gy, gx = (g[inside] for g in np.gradient(luma[t]))
        rx, ry = xs[inside] - xs[inside].mean(), ys[inside] - ys[inside].mean()
        # flow (vx, vy) = (a - w * ry + k * rx, b + w * rx + k * ry); y points down: w > 0 is clockwise
        system = np.stack([gx, gy, rx * gy - ry * gx, rx * gx + ry * gy], axis=1)
        solution, *_ = np.linalg.lstsq(system, (luma[t] - luma[t + 1])[inside], rcond=None)
        total += solution[2]
    return float(np.degrees(total))


def warp_to_view1(frames0: np.ndarray, scene: toy.Scene, size: int) -> tuple[np.ndarray, np.ndarray]:
    """What camera 1 should see, predicted from view0's frames (T, H, W, 3) and the scene's cameras.

    Returns:
        float32 (T, H, W, 3) predicted view1 frames, and bool (H, W): where view0 sees that world point.
    """
    q = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(q, q)
    points = np.stack([x, y, np.ones_like(x)], axis=-1) @ scene.cameras[1].T
    world = points[..., :2] / points[..., 2:]
    px, py = (
        (world[..., 0] + 1) / 2 * size - 0.5,
        (world[..., 1] + 1) / 2 * size - 0.5,
    )  # view0: [-1, 1]^2
    inside = (px >= 0) & (px <= size - 1) & (py >= 0) & (py <= size - 1)
    x0 = np.clip(np.floor(px).astype(int), 0, size - 2)
    y0 = np.clip(np.floor(py).astype(int), 0, size - 2)
    fx, fy = np.clip(px - x0, 0, 1)[..., None], np.clip(py - y0, 0, 1)[..., None]
    f = frames0 / 255
    top = f[:, y0, x0] * (1 - fx) + f[:, y0, x0 + 1] * fx
    bottom = f[:, y0 + 1, x0] * (1 - fx) + f[:, y0 + 1, x0 + 1] * fx
    seen = top * (1 - fy) + bottom * fy
    response = scene.gain[1] * seen ** scene.gamma[1] + scene.brightness[1]
    return np.clip(response, 0, 1) * 255, inside


# ----------------------------------------------------------------------------------------------------
# Layout and files


def test_layout_and_csvs_are_as_documented(small):
    assert json.loads((small / "classes.json").read_text()) == {
        "object": list(OBJECTS),
        "action": list(ACTIONS),
    }
    assert len(set(OBJECTS)) == 10 and len(set(ACTIONS)) == 8
    assert (small / "DONE").is_file()
    splits = SMALL["scenes"]
    assert {p.name for p in small.iterdir()} == {
        "classes.json",
        "DONE",
        "frames.csv",
        *splits,
        *(f"{s}.csv" for s in splits),
    }
    assert [p.name for p in small.parent.iterdir()] == ["small"]  # no partial folder left behind
    listed = set()
    for split, count in splits.items():
        with open(small / f"{split}.csv", newline="") as file:
            assert file.readline().strip() == "path,object,action,scene,view"
        rows = read_csv(small / f"{split}.csv")
        assert len(rows) == 2 * count
        for row in rows:
            assert row["path"] == f"{split}/{row['scene']}/{row['view']}.mp4"
            assert re.fullmatch(r"scene_\d{4}", row["scene"]) and row["view"] in ("view0", "view1")
            assert row["object"] in OBJECTS and row["action"] in ACTIONS
            spec = spec_of(split, row["scene"], SMALL)
            assert (OBJECTS[spec.object], ACTIONS[spec.action]) == (row["object"], row["action"])
            listed.add(row["path"])
        by_scene = {}
        for row in rows:
            by_scene.setdefault(row["scene"], []).append(row)
        assert len(by_scene) == count
        for views in by_scene.values():
            assert sorted(r["view"] for r in views) == ["view0", "view1"]
            assert len({(r["object"], r["action"]) for r in views}) == 1
    on_disk = {p.relative_to(small).as_posix() for p in small.rglob("*") if p.is_file()}
    assert on_disk - {"classes.json", "DONE", "frames.csv", *(f"{s}.csv" for s in splits)} == listed


def test_every_video_decodes_to_the_stated_frames_and_size(small):
    for split in SMALL["scenes"]:
        counts = {}
        for row in read_csv(small / f"{split}.csv"):
            reader = open_video(small / row["path"], backend="pyav")
            frames = reader.get_frames(list(range(reader.num_frames)))
            assert tuple(frames.shape) == (SMALL["num_frames"], SMALL["size"], SMALL["size"], 3)
            assert reader.fps == pytest.approx(SMALL["fps"], rel=0.01)
            counts.setdefault(row["scene"], set()).add(reader.num_frames)
        assert all(len(c) == 1 for c in counts.values())  # both views of a scene: same frame count


# ----------------------------------------------------------------------------------------------------
# Determinism and labels


def test_same_seed_gives_the_same_dataset_and_another_seed_another(tmp_path):
    first = make_toy_dataset(tmp_path / "a", **TINY, seed=7, workers=1, progress=False)
    again = make_toy_dataset(tmp_path / "b", **TINY, seed=7, workers=2, progress=False)
    other = make_toy_dataset(tmp_path / "c", **TINY, seed=8, workers=1, progress=False)
    for name in ("classes.json", "train.csv", "val.csv", "test.csv", "frames.csv", "DONE"):
        assert (first / name).read_text() == (again / name).read_text()
    videos = sorted(p.relative_to(first) for p in first.rglob("*.mp4"))
    assert videos == sorted(p.relative_to(again) for p in again.rglob("*.mp4"))
    assert videos == sorted(p.relative_to(other) for p in other.rglob("*.mp4"))
    for video in videos:
        frames = decode(first / video)
        assert np.abs(frames - decode(again / video)).mean() < 1
        assert np.abs(frames - decode(other / video)).mean() > 5


def test_rendering_is_deterministic_before_encoding():
    spec = plan_scenes({"val": 3}, seed=5)[2]
    frames = [toy.render_view(toy.sample_scene(spec, 12, seed=5), 1, 48) for _ in range(2)]
    assert frames[0].dtype == np.uint8 and frames[0].shape == (12, 48, 48, 3)
    np.testing.assert_array_equal(frames[0], frames[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_plan_covers_and_balances_the_classes(seed):
    plan = plan_scenes(toy.DEFAULT_SCENES, seed)
    for split, count in toy.DEFAULT_SCENES.items():
        scenes = [s for s in plan if s.split == split]
        assert [s.index for s in scenes] == list(range(count))
        for labels, classes in (
            ([s.object for s in scenes], OBJECTS),
            ([s.action for s in scenes], ACTIONS),
        ):
            counts = Counter(labels)
            assert set(counts) == set(range(len(classes)))
            assert max(counts.values()) - min(counts.values()) <= 1
    pairs = Counter((s.object, s.action) for s in plan if s.split == "train")
    assert len(pairs) == 80 and set(pairs.values()) == {2}  # 160 scenes: every pair twice


def test_the_small_train_split_has_every_action_once():
    train = [s for s in plan_scenes(SMALL["scenes"], SMALL["seed"]) if s.split == "train"]
    assert sorted(s.action for s in train) == list(range(len(ACTIONS)))


# ----------------------------------------------------------------------------------------------------
# What the pixels show


@pytest.mark.parametrize("view", [0, 1])
def test_the_action_shows_in_the_pixels(small, view):
    size = SMALL["size"]
    quarter = SMALL["num_frames"] // 4
    for spec in plan_scenes(SMALL["scenes"], SMALL["seed"]):
        if spec.split != "train":
            continue
        action = ACTIONS[spec.action]
        frames, masks = object_pixels(small, spec, view, SMALL)
        assert masks.sum(axis=(1, 2)).min() > 10, f"{action}: the object is not visible in every frame"
        centre, area = centroid_and_area(masks)
        shift = centre[-quarter:].mean(axis=0) - centre[:quarter].mean(axis=0)
        growth = area[-quarter:].mean() / area[:quarter].mean()
        if action.startswith("move_"):
            axis, sign = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}[action[5:]]
            assert sign * shift[axis] > 0.2 * size, f"{action}: moved {shift}"
            assert abs(shift[1 - axis]) < 0.67 * abs(shift[axis]), f"{action}: moved {shift}"
            continue
        assert np.abs(shift).max() < 0.1 * size, f"{action}: the object drifted by {shift}"
        if action == "grow":
            assert growth > 3
        elif action == "shrink":
            assert growth < 1 / 3
        else:
            turned = rotation_degrees(frames, masks)
            assert (turned if action == "rotate_cw" else -turned) > 30, (
                f"{action}: turned {turned:.0f} deg"
            )


def test_frames_csv_gives_every_frame_its_phase_and_progress(small):
    with open(small / "frames.csv", newline="") as file:
        assert file.readline().strip() == "path,frame,label,progress"
    rows = read_csv(small / "frames.csv")
    by_video: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_video.setdefault(row["path"], []).append(row)
    videos = {row["path"] for split in SMALL["scenes"] for row in read_csv(small / f"{split}.csv")}
    assert set(by_video) == videos
    for path, frames in by_video.items():
        assert [int(r["frame"]) for r in frames] == list(range(SMALL["num_frames"]))
        progress = np.array([float(r["progress"]) for r in frames])
        assert progress[0] == 0 and progress[-1] == 1 and (np.diff(progress) >= 0).all(), path
        phases = [toy.PHASES.index(r["label"]) for r in frames]
        assert phases == sorted(phases) and set(phases) == {0, 1, 2}, f"{path}: phases {phases}"
        split, scene, _ = path.split("/")
        other = path.replace("view0", "view1") if "view0" in path else path.replace("view1", "view0")
        assert [r["label"] for r in by_video[other]] == [r["label"] for r in frames]  # same moments
        truth = toy.sample_scene(spec_of(split, scene, SMALL), SMALL["num_frames"], SMALL["seed"])
        np.testing.assert_allclose(progress, truth.progress, atol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_phases_are_the_speed_profile_that_is_rendered(seed):
    """accelerate: speed rises; move: steady; settle: speed falls, measured on the rendered object's
    centroid (a translation: speed in pixels per frame)."""
    num_frames, size = 40, 64
    spec = next(s for s in plan_scenes({"val": 8}, seed) if ACTIONS[s.action] == "move_right")
    scene = toy.sample_scene(spec, num_frames, seed)
    frames = toy.render_view(scene, 0, size).astype(np.float32)
    empty = toy.render_view(scene, 0, size, with_object=False).astype(np.float32)
    centre, _ = centroid_and_area(np.abs(frames - empty).mean(axis=-1) > 30)
    speed = np.diff(centre[:, 0])  # pixels per frame to the right, between frames t and t + 1
    phase = scene.phase[1:]  # the phase of the frame each step arrives at
    rising, steady, falling = (speed[phase == p] for p in range(3))
    assert np.polyfit(np.arange(len(rising)), rising, 1)[0] > 0.03, rising
    assert np.polyfit(np.arange(len(falling)), falling, 1)[0] < -0.03, falling
    assert steady.std() < 0.2 * steady.mean() and steady.mean() > rising.mean(), steady
    # the centre moves in proportion to progress: a straight line through the rendered positions
    fit = np.polyfit(scene.progress, centre[:, 0], 1)
    assert np.abs(np.polyval(fit, scene.progress) - centre[:, 0]).max() < 0.6  # pixels


def test_view1_is_another_camera_filming_the_same_moment(small):
    size, num_frames = SMALL["size"], SMALL["num_frames"]
    for spec in plan_scenes(SMALL["scenes"], SMALL["seed"]):
        folder = small / spec.split / spec.name
        view0, view1 = decode(folder / "view0.mp4"), decode(folder / "view1.mp4")
        assert np.abs(view0 - view1).mean() > 10  # not a copy
        scene = toy.sample_scene(spec, num_frames, SMALL["seed"])
        predicted, inside = warp_to_view1(view0, scene, size)
        assert inside.mean() > 0.3
        # view1[t] matches view0[t + lag] seen through camera 1 best at lag 0: the same moment
        errors = {}
        for lag in range(-2, 3):
            shown = view1[max(0, -lag) : num_frames - max(0, lag)]
            seen = predicted[max(0, lag) : num_frames - max(0, -lag)]
            errors[lag] = np.abs(shown - seen)[:, inside].mean()
        assert errors[0] < 6, f"{spec}: view1 is not view0's world seen by camera 1 ({errors[0]:.1f})"
        assert min(errors, key=errors.get) == 0, f"{spec}: views out of step: {errors}"


# ----------------------------------------------------------------------------------------------------
# Cache, locking, atomic generation, command line


def test_toy_root_generates_once_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEMPSSL_CACHE", str(tmp_path / "env-cache"))
    root = toy_root(**TINY, workers=1, progress=False)
    assert root.parent == tmp_path / "env-cache"
    assert re.fullmatch(rf"toy-v{toy.TOY_VERSION}-[0-9a-f]{{8}}", root.name)
    assert (root / "DONE").is_file() and len(read_csv(root / "train.csv")) == 4
    done = (root / "DONE").stat().st_mtime_ns
    killed = tmp_path / "explicit" / f".{root.name}.999-deadbeef.partial"  # left by a killed run
    (killed / "train").mkdir(parents=True)
    explicit = toy_root(tmp_path / "explicit", **TINY, workers=1, progress=False)
    assert explicit == tmp_path / "explicit" / root.name  # an explicit cache_dir wins over the env
    assert not killed.exists()

    def no_rendering(*args, **kwargs):
        raise AssertionError("regenerated a complete dataset")

    monkeypatch.setattr(toy, "_write_scene", no_rendering)
    assert toy_root(**TINY, workers=2, progress=True) == root  # how it is made does not matter
    scenes_reordered = dict(reversed(TINY["scenes"].items()))
    assert toy_root(**{**TINY, "scenes": scenes_reordered}) == root
    assert (root / "DONE").stat().st_mtime_ns == done


def test_other_settings_get_another_folder(tmp_path):
    first = toy_root(tmp_path, **TINY, seed=0, workers=1, progress=False)
    second = toy_root(tmp_path, **TINY, seed=1, workers=1, progress=False)
    assert first.parent == second.parent == tmp_path and first != second


def _toy_root_in_child(cache: Path, result: Path) -> None:
    result.write_text(str(toy_root(cache, **TINY, workers=1, progress=False)))


@pytest.mark.skipif(sys.platform == "win32", reason="file locks and fork are POSIX")
def test_two_processes_share_one_generation(tmp_path, monkeypatch):
    log = tmp_path / "rendered.log"
    write_scene = toy._write_scene

    def logged(job):
        with open(log, "a") as file:
            file.write(f"{os.getpid()}\n")
        time.sleep(0.2)  # keep the generation long enough for the other process to arrive
        return write_scene(job)

    monkeypatch.setattr(toy, "_write_scene", logged)
    context = multiprocessing.get_context("fork")
    cache = tmp_path / "cache"
    processes = [
        context.Process(target=_toy_root_in_child, args=(cache, tmp_path / f"result{i}"))
        for i in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    roots = {(tmp_path / f"result{i}").read_text() for i in range(2)}
    assert len(roots) == 1 and (Path(roots.pop()) / "DONE").is_file()
    assert len(set(log.read_text().split())) == 1  # one process rendered, the other waited
    assert len(log.read_text().split()) == sum(TINY["scenes"].values())
    assert not [p for p in cache.iterdir() if p.name.endswith(".partial")]


def test_an_interrupted_generation_leaves_no_dataset(tmp_path, monkeypatch):
    render_view = toy.render_view
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return render_view(*args, **kwargs)

    monkeypatch.setattr(toy, "render_view", failing)
    out = tmp_path / "toy"
    with pytest.raises(KeyboardInterrupt):
        make_toy_dataset(out, **TINY, workers=1, progress=False)
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither `out` nor the partial folder
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        toy_root(tmp_path / "cache", **TINY, workers=1, progress=False)
    assert not list((tmp_path / "cache").rglob("DONE"))
    monkeypatch.setattr(toy, "render_view", render_view)
    assert (toy_root(tmp_path / "cache", **TINY, workers=1, progress=False) / "DONE").is_file()


def test_bad_settings_and_foreign_folders_are_refused(tmp_path):
    with pytest.raises(ValueError, match="size=63"):
        make_toy_dataset(tmp_path / "odd", size=63)
    with pytest.raises(ValueError, match="at least one scene"):
        make_toy_dataset(tmp_path / "none", scenes={"train": 0})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a complete toy dataset"):
        make_toy_dataset(foreign, **TINY)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_command_line_writes_a_dataset_and_prints_one_line(tmp_path):
    out = tmp_path / "cli"
    command = [sys.executable, "-m", "tempssl.data.toy", "--out", str(out), "--seed", "2", "--quiet"]
    command += [
        "--scenes-train",
        "2",
        "--scenes-val",
        "1",
        "--scenes-test",
        "0",
        "--frames",
        "6",
        "--size",
        "32",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "3 scenes" in lines[0] and "6 videos" in lines[0], lines
    assert len(read_csv(out / "train.csv")) == 4 and read_csv(out / "test.csv") == []
    assert json.loads((out / "DONE").read_text())["seed"] == 2
