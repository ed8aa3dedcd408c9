"""The built-in toy dataset: small rendered videos with two label sets and two synchronized views.

So that training commands work on a fresh machine with no data. Every scene is a 2-D world with one
textured object (one of 10 `OBJECTS`, each with its own shape, texture and colour) performing one of 8
`ACTIONS` (translate left/right/up/down, rotate clockwise/counter-clockwise, grow, shrink) over a random
textured background (smooth noise or a gradient), while one or two small blobs move about independently
of the labels. Start position, orientation, speed, size and colour vary per scene.

Every motion has three phases (`PHASES`), the same for all actions: the object speeds up from rest
(`accelerate`), goes at a steady speed (`move`) and slows down to rest (`settle`). Its speed follows a
trapezoid over time whose two corners are drawn per scene (the first between 20 % and 35 % of the
video, the second between 65 % and 80 %); the motion (a translation, a rotation, or the logarithm of
the size) is proportional to `progress`, the fraction of the action completed: 0 at the first frame,
1 at the last, non-decreasing. Frame `t`'s phase is the part of the trapezoid that its time
`t / (T - 1)` falls in. Phases show in speed, i.e. over frames; a single frame shows only how far
the motion has got.

Two cameras film each scene, synchronized (same frame count and fps, frame `t` of both shows the same
moment, offset 0): `view0` looks straight at the world; `view1` sees it from another viewpoint (zoomed
out, shifted, rotated 10-23 degrees, with a slight perspective tilt) and with another colour response
(per-channel gain, gamma, brightness). `view1` is never mirrored: a mirror would show `move_left` as a
motion to the right and `rotate_cw` as counter-clockwise, contradicting the scene's action label.

Layout written by `make_toy_dataset` (and by `toy_root`, into the cache, on first use)::

    <root>/
      classes.json                  {"object": [10 names], "action": [8 names]}
      train.csv, val.csv, test.csv  columns path,object,action,scene,view: path relative to <root>
                                    (e.g. train/scene_0007/view0.mp4), object and action class names
      frames.csv                    per-frame labels of every video of every split, columns
                                    path,frame,label,progress: the frame index (from 0), its phase
                                    name (`PHASES`) and progress in [0, 1]; the format that
                                    `tempssl.eval.frame_labels.read_frame_labels` reads
      train/scene_0000/view0.mp4    multi-view layout: <split>/<scene>/<view>.mp4
      train/scene_0000/view1.mp4
      ...
      DONE                          written last (the settings, as JSON): marks a complete dataset

Videos are H.264 .mp4 files (libx264, yuv420p). Everything follows from the seed: the same settings
give the same files, labels and pixels (before encoding). Within each split the scenes of any two
objects (and of any two actions) differ in number by at most one.

Command line: `python -m tempssl.data.toy --out DIR [--seed N] [--scenes-train N] [--frames N] ...`.
"""

from __future__ import annotations

import argparse
import colorsys
import contextlib
import csv
import hashlib
import json
import math
import os
import re
import shutil
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from tempssl.data.metadata import cache_dir as default_cache_dir

try:
    import fcntl
except ImportError:  # Windows: no lock, but the atomic rename still never exposes a partial dataset
    fcntl = None

OBJECTS = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "diamond",
    "hexagon",
    "heart",
    "arrow",
)
ACTIONS = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "rotate_cw",
    "rotate_ccw",
    "grow",
    "shrink",
)
PHASES = ("accelerate", "move", "settle")
VIEWS = ("view0", "view1")
CSV_COLUMNS = ("path", "object", "action", "scene", "view")
FRAME_CSV_COLUMNS = ("path", "frame", "label", "progress")
# 2: accelerate / move / settle speed profile (was constant speed), frames.csv
TOY_VERSION = 2
DEFAULT_SCENES = {"train": 160, "val": 40, "test": 40}
DEFAULT_FRAMES = 40
DEFAULT_SIZE = 64
DEFAULT_FPS = 20

__all__ = [
    "ACTIONS",
    "DEFAULT_SCENES",
    "OBJECTS",
    "PHASES",
    "Scene",
    "SceneSpec",
    "make_toy_dataset",
    "plan_scenes",
    "render_view",
    "sample_scene",
    "toy_root",
]


def make_toy_dataset(
    out: str | Path,
    scenes: dict[str, int] | None = None,
    num_frames: int = DEFAULT_FRAMES,
    size: int = DEFAULT_SIZE,
    fps: int = DEFAULT_FPS,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Render the toy dataset and write it to `out` (layout in the module docstring).

    Writes into a temporary sibling folder and renames it to `out` only when complete, so an
    interrupted run never leaves a partial dataset at `out`.

    Args:
        out: the dataset folder; returned at once if it already holds `DONE`.
        scenes: number of scenes per split (default `DEFAULT_SCENES`: 160 train, 40 val, 40 test).
        num_frames: frames per video.
        size: frame height and width in pixels (even, for yuv420p).
        fps: frames per second.
        seed: labels, scenes and cameras all follow from it.
        workers: processes rendering scenes in parallel (default `os.cpu_count()`; 1 renders here).
        progress: show a progress bar.

    Returns:
        `out`, complete.

    Raises:
        ValueError: invalid settings.
        FileExistsError: `out` exists, is not empty and is not a complete toy dataset.
    """
    out = Path(out)
    if (out / "DONE").exists():
        return out
    settings = _Settings.checked(scenes, num_frames, size, fps, seed)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(
            f"{out} exists and is not a complete toy dataset (no DONE): remove it first"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
    partial.mkdir()
    try:
        rows = _write_scenes(partial, settings, workers, progress)
        _write_index(partial, rows, settings)
        _publish(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # only still there if something failed
    return out


def toy_root(
    cache_dir: str | Path | None = None,
    *,
    scenes: dict[str, int] | None = None,
    num_frames: int = DEFAULT_FRAMES,
    size: int = DEFAULT_SIZE,
    fps: int = DEFAULT_FPS,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """The toy dataset's folder in the cache, generated on first use.

    The folder is `<cache>/toy-v<version>-<8 hex digits>`, the digits a hash of the generation
    settings, so that other settings never reuse stale data. Safe to call from several processes at
    once (e.g. under `accelerate launch`): a file lock lets one generate while the others wait.

    Args:
        cache_dir: the cache (default: env `TEMPSSL_CACHE`, else `~/.cache/tempssl`).
        scenes, num_frames, size, fps, seed, workers, progress: as for `make_toy_dataset`.

    Returns:
        The folder of a complete toy dataset.
    """
    settings = _Settings.checked(scenes, num_frames, size, fps, seed)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    root = cache.expanduser() / f"toy-v{TOY_VERSION}-{settings.digest()}"
    if (root / "DONE").exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(root.parent / f"{root.name}.lock"):
        if not (root / "DONE").exists():
            # only a lock holder generates here, so any partial folder is left from a killed run
            for stale in root.parent.glob(f".{root.name}.*.partial"):
                shutil.rmtree(stale, ignore_errors=True)
        return make_toy_dataset(root, settings.scenes, num_frames, size, fps, seed, workers, progress)


@dataclass(frozen=True)
class SceneSpec:
    """One scene of the plan: where it goes and its labels.

    Attributes:
        split: e.g. "train".
        index: scene number within the split.
        object: index into `OBJECTS`.
        action: index into `ACTIONS`.
    """

    split: str
    index: int
    object: int
    action: int

    @property
    def name(self) -> str:
        """The scene's folder name, e.g. `scene_0007`."""
        return f"scene_{self.index:04d}"


def plan_scenes(scenes: dict[str, int], seed: int) -> list[SceneSpec]:
    """The labels of every scene, balanced within each split.

    Scene `i` of a split gets object `i mod 10` and action `(i + i // 40) mod 8`, both renamed by a
    seeded permutation: this walks through all 80 object x action pairs every 80 scenes, and for any
    number of scenes the counts of any two objects (and of any two actions) differ by at most one. The
    scenes are then shuffled so that scene numbers say nothing about labels.

    Args:
        scenes: number of scenes per split.
        seed: the dataset seed.

    Returns:
        The scenes of every split, in split order and scene-number order.
    """
    n_objects, n_actions = len(OBJECTS), len(ACTIONS)
    # Shifting actions by one per block of lcm scenes pairs each object with the actions that
    # i mod n_objects and i mod n_actions alone never meet (when the two counts share a divisor).
    block = math.lcm(n_objects, n_actions)
    plan = []
    for split, count in scenes.items():
        rng = np.random.default_rng([seed, _split_key(split), 0])
        objects, actions = rng.permutation(n_objects), rng.permutation(n_actions)
        pairs = [(objects[i % n_objects], actions[(i + i // block) % n_actions]) for i in range(count)]
        order = rng.permutation(count)
        plan += [SceneSpec(split, k, int(pairs[i][0]), int(pairs[i][1])) for k, i in enumerate(order)]
    return plan


@dataclass(frozen=True)
class Scene:
    """One scene's 2-D world over time and the two cameras that film it.

    World coordinates: x to the right, y down; `view0` sees the square [-1, 1] x [-1, 1]. Angles are in
    radians, positive clockwise on screen. T is the number of frames, B the number of blobs, V of views.

    Attributes:
        object: index into `OBJECTS`.
        action: index into `ACTIONS`.
        centre: float64 (T, 2) the object's centre (x, y).
        angle: float64 (T,) the object's orientation.
        radius: float64 (T,) the object's size: its shape fits in a circle of about this radius.
        progress: float64 (T,) the fraction of the action completed, 0 at the first frame, 1 at the
            last, non-decreasing (the motion is proportional to it).
        phase: int64 (T,) each frame's phase, an index into `PHASES` (non-decreasing).
        colours: float64 (2, 3) the object texture's two RGB colours, in [0, 1].
        background: float64 (3, 3) base RGB (row 0) and its change per world unit along x and y.
        waves: float64 (K, 6) background texture waves: frequency (x, y), phase, RGB amplitude.
        blob_centre: float64 (B, T, 2) distractor blob centres.
        blob_radius: float64 (B,) blob radii.
        blob_colour: float64 (B, 3) blob RGB colours.
        cameras: float64 (V, 3, 3) homographies from a view's coordinates ([-1, 1]^2) to the world.
        gain: float64 (V, 3) per-channel gain of each camera's colour response.
        gamma: float64 (V,) gamma of each camera's colour response.
        brightness: float64 (V,) brightness offset of each camera's colour response.
    """

    object: int
    action: int
    centre: np.ndarray
    angle: np.ndarray
    radius: np.ndarray
    progress: np.ndarray
    phase: np.ndarray
    colours: np.ndarray
    background: np.ndarray
    waves: np.ndarray
    blob_centre: np.ndarray
    blob_radius: np.ndarray
    blob_colour: np.ndarray
    cameras: np.ndarray
    gain: np.ndarray
    gamma: np.ndarray
    brightness: np.ndarray

    @property
    def num_frames(self) -> int:
        """Frames of the scene (T)."""
        return len(self.angle)


def sample_scene(spec: SceneSpec, num_frames: int, seed: int) -> Scene:
    """Draw one scene's world and cameras; the same arguments always give the same scene.

    Args:
        spec: the scene's place and labels (from `plan_scenes`).
        num_frames: frames of the scene (T >= 2).
        seed: the dataset seed.
    """
    rng = np.random.default_rng([seed, _split_key(spec.split), 1, spec.index])
    # timing from its own stream: the rest of the scene is the same as without a speed profile
    timing = np.random.default_rng([seed, _split_key(spec.split), 2, spec.index])
    progress, phase = _speed_profile(timing, num_frames)
    centre, angle, radius = _object_motion(rng, ACTIONS[spec.action], progress)
    blob_centre, blob_radius, blob_colour = _blobs(rng, num_frames)
    gain, gamma, brightness = _colour_responses(rng)
    return Scene(
        object=spec.object,
        action=spec.action,
        centre=centre,
        angle=angle,
        radius=radius,
        progress=progress,
        phase=phase,
        colours=_object_colours(rng, spec.object),
        background=_background_colours(rng),
        waves=_background_waves(rng),
        blob_centre=blob_centre,
        blob_radius=blob_radius,
        blob_colour=blob_colour,
        cameras=np.stack([np.eye(3), _second_camera(rng)]),
        gain=gain,
        gamma=gamma,
        brightness=brightness,
    )


def render_view(scene: Scene, view: int, size: int, with_object: bool = True) -> np.ndarray:
    """Film `scene` with camera `view`.

    Args:
        scene: the world (from `sample_scene`).
        view: camera index (0 or 1).
        size: frame height and width in pixels.
        with_object: False leaves the object out (background and blobs only).

    Returns:
        uint8 (T, size, size, 3) RGB frames.
    """
    world = _view_grid(scene.cameras[view], size)  # (H, W, 2)
    pixel = _pixel_size(world)  # (H, W)
    image = np.broadcast_to(_background(scene, world), (scene.num_frames, size, size, 3))
    centres = scene.blob_centre[:, :, None, None].astype(np.float32)  # (B, T, 1, 1, 2)
    for centre, radius, colour in zip(
        centres, scene.blob_radius.tolist(), scene.blob_colour, strict=True
    ):
        distance = np.hypot(world[..., 0] - centre[..., 0], world[..., 1] - centre[..., 1])  # (T, H, W)
        image = _over(image, colour, np.clip(0.5 + (radius - distance) / pixel, 0, 1))
    if with_object:
        alpha, pattern = _object_layer(scene, world, pixel)
        light, dark = scene.colours.astype(np.float32)
        image = _over(image, light + pattern[..., None] * (dark - light), alpha)
    gain = scene.gain[view].astype(np.float32)
    response = gain * np.clip(image, 0, 1) ** float(scene.gamma[view]) + float(scene.brightness[view])
    return np.round(np.clip(response, 0, 1) * 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------
# Generation: settings, parallel scenes, index files, atomic publication.


@dataclass(frozen=True)
class _Settings:
    """What determines a toy dataset's content (not how fast it is made)."""

    scenes: dict[str, int]
    num_frames: int
    size: int
    fps: int
    seed: int

    @classmethod
    def checked(
        cls, scenes: dict[str, int] | None, num_frames: int, size: int, fps: int, seed: int
    ) -> _Settings:
        scenes = dict(DEFAULT_SCENES if scenes is None else scenes)
        for split, count in scenes.items():
            if not re.fullmatch(r"[A-Za-z0-9_-]+", split):
                raise ValueError(f"split name {split!r}: use letters, digits, '_' or '-'")
            if not isinstance(count, (int, np.integer)) or count < 0:
                raise ValueError(f"scenes[{split!r}] = {count!r}: expected an integer >= 0")
        scenes = {split: int(count) for split, count in scenes.items()}
        if sum(scenes.values()) < 1:
            raise ValueError(f"scenes={scenes}: expected at least one scene")
        if num_frames < 2:
            raise ValueError(f"num_frames={num_frames}: expected >= 2 (motion needs two frames)")
        if size < 16 or size % 2:
            raise ValueError(f"size={size}: expected an even number >= 16 (yuv420p needs even sizes)")
        if fps < 1:
            raise ValueError(f"fps={fps}: expected >= 1")
        if seed < 0:
            raise ValueError(f"seed={seed}: expected >= 0")
        return cls(scenes, num_frames, size, fps, seed)

    def as_dict(self) -> dict:
        return {"version": TOY_VERSION, **asdict(self)}

    def digest(self) -> str:
        """8 hex digits that change whenever the content would."""
        text = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def _write_scenes(
    root: Path, settings: _Settings, workers: int | None, progress: bool
) -> list[dict[str, str]]:
    """Render and encode every scene into `root`; return the CSV rows, sorted."""
    jobs = [(root, spec, settings) for spec in plan_scenes(settings.scenes, settings.seed)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    rows = []
    with tqdm(total=len(jobs), desc="toy dataset", unit="scene", disable=not progress) as bar:
        if workers == 1:
            for job in jobs:
                rows += _write_scene(job)
                bar.update()
        else:
            pool = ProcessPoolExecutor(workers)
            try:
                for scene_rows in pool.map(_write_scene, jobs, chunksize=4):
                    rows += scene_rows
                    bar.update()
            finally:
                pool.shutdown(cancel_futures=True)
    return sorted(rows, key=lambda row: row["path"])


def _write_scene(job: tuple[Path, SceneSpec, _Settings]) -> list[dict[str, str]]:
    """Render and encode both views of one scene; return its CSV rows.

    A row's `frames` holds the video's per-frame rows for frames.csv (both views film the same
    moments, so they share phases and progress).
    """
    root, spec, settings = job
    scene = sample_scene(spec, settings.num_frames, settings.seed)
    folder = root / spec.split / spec.name
    folder.mkdir(parents=True)
    rows = []
    for view, view_name in enumerate(VIEWS):
        path = f"{spec.split}/{spec.name}/{view_name}.mp4"
        _encode(root / path, render_view(scene, view, settings.size), settings.fps)
        frames = [
            {"path": path, "frame": str(t), "label": PHASES[p], "progress": f"{s:.6f}"}
            for t, (p, s) in enumerate(zip(scene.phase.tolist(), scene.progress.tolist(), strict=True))
        ]
        rows.append(
            {
                "path": path,
                "object": OBJECTS[spec.object],
                "action": ACTIONS[spec.action],
                "scene": spec.name,
                "view": view_name,
                "frames": frames,
            }
        )
    return rows


def _encode(path: Path, frames: np.ndarray, fps: int) -> None:
    """Write frames `uint8 (T, H, W, 3)` RGB as an H.264 .mp4 file."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        # one thread: the process pool already uses every core, and x264's output stays the same
        # whatever the machine's load (threaded lookahead can change it)
        stream.codec_context.thread_count = 1
        stream.options = {"crf": "18", "threads": "1"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def _write_index(root: Path, rows: list[dict], settings: _Settings) -> None:
    """classes.json, one CSV per split, frames.csv, then DONE."""
    (root / "classes.json").write_text(json.dumps({"object": list(OBJECTS), "action": list(ACTIONS)}))
    for split in settings.scenes:
        with open(root / f"{split}.csv", "w", newline="") as file:
            writer = csv.DictWriter(
                file, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n"
            )
            writer.writeheader()
            writer.writerows(row for row in rows if row["path"].startswith(f"{split}/"))
    with open(root / "frames.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=FRAME_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(frame for row in rows for frame in row["frames"])
    (root / "DONE").write_text(json.dumps({**settings.as_dict(), "videos": len(rows)}, sort_keys=True))


def _publish(partial: Path, out: Path) -> None:
    """Rename the finished folder to `out`, unless another process published the same dataset first."""
    try:
        os.replace(partial, out)
    except OSError:
        if not (out / "DONE").exists():
            raise


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (blocks while another process holds it)."""
    with open(path, "a") as file:
        if fcntl is not None:
            fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(file, fcntl.LOCK_UN)


def _split_key(split: str) -> int:
    """A stable number for a split name (Python's `hash` of a string changes between runs)."""
    return zlib.crc32(split.encode())


# ----------------------------------------------------------------------------------------------------
# The world: object motion, colours, background, distractors, cameras.


# translation action -> (axis: 0 = x, 1 = y; direction along it, y pointing down)
_MOVES = {"move_left": (0, -1), "move_right": (0, 1), "move_up": (1, -1), "move_down": (1, 1)}


def _speed_profile(rng: np.random.Generator, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Progress `(T,)` in [0, 1] and phase `(T,)` (index into `PHASES`) of a trapezoid speed profile.

    Over normalized time `t` in [0, 1] the speed rises linearly from 0 until `t1` (accelerate), stays
    at its peak `v` until `t2` (move) and falls linearly to 0 at 1 (settle); progress is its integral,
    with `v = 2 / (1 + t2 - t1)` so that the whole action is completed at `t = 1`.
    """
    t1, t2 = rng.uniform(0.2, 0.35), rng.uniform(0.65, 0.8)
    peak = 2.0 / (1.0 + t2 - t1)
    t = np.linspace(0.0, 1.0, num_frames)
    progress = np.where(
        t < t1,
        peak * t**2 / (2 * t1),
        np.where(t < t2, peak * (t1 / 2 + t - t1), 1 - peak * (1 - t) ** 2 / (2 * (1 - t2))),
    )
    phase = np.searchsorted([t1, t2], t, side="right").astype(np.int64)
    return np.clip(progress, 0.0, 1.0), phase


def _object_motion(
    rng: np.random.Generator, action: str, progress: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre `(T, 2)`, angle `(T,)` and radius `(T,)` of the object performing `action`.

    The translation, the rotation and the logarithm of the size are proportional to `progress`.
    """
    num_frames = len(progress)
    radius = np.full(num_frames, rng.uniform(0.26, 0.32))
    angle = np.full(num_frames, rng.uniform(-np.pi, np.pi))
    centre = np.tile(rng.uniform(-0.3, 0.3, size=2), (num_frames, 1))
    if action.startswith("move_"):
        axis, sign = _MOVES[action]
        distance = rng.uniform(0.9, 1.2)  # about half the frame (view0 is 2 units wide)
        margin = radius[0] + 0.08
        start = rng.uniform(-1 + margin, 1 - margin - distance)
        centre[:, axis] = sign * (start + distance * progress)
        centre[:, 1 - axis] = rng.uniform(-0.5, 0.5)
    elif action.startswith("rotate_"):
        sign = 1 if action == "rotate_cw" else -1
        angle = angle + sign * rng.uniform(np.pi, 2 * np.pi) * progress
    else:
        small, large = rng.uniform(0.5, 0.6), rng.uniform(1.45, 1.6)
        first, last = (small, large) if action == "grow" else (large, small)
        radius = radius * first * (last / first) ** progress
    return centre, angle, radius


def _object_colours(rng: np.random.Generator, obj: int) -> np.ndarray:
    """The object's two colours `(2, 3)`: a saturated hue of its own and a dark shade of it."""
    hue = (obj / len(OBJECTS) + rng.uniform(-0.02, 0.02)) % 1.0
    light = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.7, 0.95), rng.uniform(0.8, 1.0)))
    return np.stack([light, light * rng.uniform(0.35, 0.5)])


def _background_colours(rng: np.random.Generator) -> np.ndarray:
    """Base RGB and its change along x and y `(3, 3)`: a flat tone, or in half the scenes a ramp."""
    base = rng.uniform(0.3, 0.7) + rng.uniform(-0.08, 0.08, size=3)
    slope = np.zeros((2, 3))
    if rng.random() < 0.5:
        direction = rng.normal(size=2)
        slope = np.outer(direction / np.linalg.norm(direction), rng.uniform(-0.2, 0.2, size=3))
    return np.vstack([base, slope])


def _background_waves(rng: np.random.Generator, count: int = 6) -> np.ndarray:
    """Random sine waves `(K, 6)`: smooth noise (low frequencies) or a fine texture (high, faint)."""
    smooth = rng.random() < 0.5
    frequency = rng.uniform(1.5, 5.0, count) if smooth else rng.uniform(8.0, 14.0, count)
    direction = rng.uniform(0, 2 * np.pi, count)
    amplitude = (0.12 if smooth else 0.04) * rng.uniform(0.5, 1.0, (count, 1))
    return np.column_stack(
        [
            frequency * np.cos(direction),
            frequency * np.sin(direction),
            rng.uniform(0, 2 * np.pi, count),
            amplitude * rng.uniform(0.7, 1.3, (count, 3)),
        ]
    )


def _blobs(rng: np.random.Generator, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One or two distractor blobs drifting and wobbling independently of the labels.

    Returns:
        Centres float64 (B, T, 2), radii (B,), RGB colours (B, 3).
    """
    count = int(rng.integers(1, 3))
    progress = np.linspace(0.0, 1.0, num_frames)[:, None]
    centres = []
    for _ in range(count):
        heading = rng.uniform(0, 2 * np.pi)
        along = np.array([np.cos(heading), np.sin(heading)])
        across = np.array([-along[1], along[0]])
        cycles, phase = rng.uniform(1, 3), rng.uniform(0, 2 * np.pi)
        wobble = rng.uniform(0.05, 0.15) * np.sin(2 * np.pi * cycles * progress + phase)
        path = rng.uniform(-0.8, 0.8, 2) + rng.uniform(0.4, 1.2) * progress * along + wobble * across
        centres.append(_reflect(path, -1.05, 1.05))
    colours = [
        colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9))
        for _ in range(count)
    ]
    return np.stack(centres), rng.uniform(0.07, 0.12, count), np.array(colours)


def _reflect(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold values into [low, high] as if bouncing off its ends."""
    width = high - low
    folded = np.mod(x - low, 2 * width)
    return low + np.where(folded > width, 2 * width - folded, folded)


def _second_camera(rng: np.random.Generator) -> np.ndarray:
    """Homography `(3, 3)` of view1: zoomed out, rotated, shifted, slightly tilted; never mirrored."""
    zoom = rng.uniform(0.7, 0.8)
    turn = rng.choice([-1, 1]) * rng.uniform(np.radians(10), np.radians(23))
    cos, sin = np.cos(turn) / zoom, np.sin(turn) / zoom
    shift = rng.uniform(-0.1, 0.1, 2)
    tilt = rng.uniform(-0.1, 0.1, 2)
    return np.array([[cos, -sin, shift[0]], [sin, cos, shift[1]], [tilt[0], tilt[1], 1.0]])


def _colour_responses(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gain `(V, 3)`, gamma `(V,)` and brightness `(V,)`: view0 neutral, view1 tinted."""
    gamma = rng.uniform(0.65, 0.8) if rng.random() < 0.5 else rng.uniform(1.25, 1.5)
    gain = np.stack([np.ones(3), rng.uniform(0.8, 1.2, 3)])
    return gain, np.array([1.0, gamma]), np.array([0.0, rng.uniform(-0.06, 0.06)])


# ----------------------------------------------------------------------------------------------------
# Rendering: pixel grids, layers, shapes (signed distances) and textures.


def _view_grid(camera: np.ndarray, size: int) -> np.ndarray:
    """World coordinates float32 `(H, W, 2)` of the pixel centres of a `size` x `size` view."""
    q = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(q, q)
    points = np.stack([x, y, np.ones_like(x)], axis=-1) @ camera.T
    return (points[..., :2] / points[..., 2:]).astype(np.float32)


def _pixel_size(world: np.ndarray) -> np.ndarray:
    """Side of each pixel in world units, float32 `(H, W)` (it varies under perspective)."""
    along_x = np.linalg.norm(np.gradient(world, axis=1), axis=-1)
    along_y = np.linalg.norm(np.gradient(world, axis=0), axis=-1)
    return np.sqrt(along_x * along_y)


def _background(scene: Scene, world: np.ndarray) -> np.ndarray:
    """The static background, float32 `(H, W, 3)` RGB in [0, 1]."""
    waves = scene.waves.astype(np.float32)
    image = scene.background[0] + world @ scene.background[1:].astype(np.float32)
    image = image + np.sin(world @ waves[:, :2].T + waves[:, 2]) @ waves[:, 3:]
    return np.clip(image, 0, 1).astype(np.float32)


def _over(image: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Paint `colour` (3,) or (..., 3) over `image` (T, H, W, 3) with coverage `alpha` (T, H, W)."""
    return image + alpha[..., None] * (colour.astype(np.float32) - image)


def _object_layer(scene: Scene, world: np.ndarray, pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The object's coverage and texture, both float32 `(T, H, W)` in [0, 1].

    Each pixel is mapped back into the object's own frame (the inverse of its per-frame rotation,
    scaling and translation), where the shape and texture are fixed functions.
    """
    centre = scene.centre[:, None, None].astype(np.float32)
    cos = np.cos(scene.angle)[:, None, None].astype(np.float32)
    sin = np.sin(scene.angle)[:, None, None].astype(np.float32)
    radius = scene.radius[:, None, None].astype(np.float32)
    dx, dy = world[None, ..., 0] - centre[..., 0], world[None, ..., 1] - centre[..., 1]
    u, v = (cos * dx + sin * dy) / radius, (cos * dy - sin * dx) / radius
    shape, texture = _LOOKS[OBJECTS[scene.object]]
    # signed distance in object units -> pixels, for one pixel of anti-aliased edge
    alpha = np.clip(0.5 - shape(u, v) * radius / pixel, 0, 1)
    return alpha, texture(u, v)


Field = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _polygon(
    u: np.ndarray, v: np.ndarray, corners: np.ndarray | Sequence[tuple[float, float]]
) -> np.ndarray:
    """Signed distance (negative inside) to a convex polygon given by its corners in order."""
    corners = np.asarray(corners, dtype=np.float64)
    edges = np.roll(corners, -1, axis=0) - corners
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1) / np.linalg.norm(edges, axis=1)[:, None]
    offsets = (normals * corners).sum(axis=1)
    if normals[0] @ corners.mean(axis=0) > offsets[0]:  # corners were clockwise: normals point inward
        normals, offsets = -normals, -offsets
    edges = zip(normals.tolist(), offsets.tolist(), strict=True)  # Python floats keep u's float32
    return np.max([nx * u + ny * v - d for (nx, ny), d in edges], axis=0)


def _regular(u: np.ndarray, v: np.ndarray, sides: int, radius: float) -> np.ndarray:
    """Regular polygon with a corner pointing up (-v)."""
    turns = -np.pi / 2 + 2 * np.pi * np.arange(sides) / sides
    return _polygon(u, v, np.column_stack([radius * np.cos(turns), radius * np.sin(turns)]))


def _box(u: np.ndarray, v: np.ndarray, half_width: float, half_height: float) -> np.ndarray:
    return np.maximum(np.abs(u) - half_width, np.abs(v) - half_height)


def _disc(u: np.ndarray, v: np.ndarray, x: float, y: float, radius: float) -> np.ndarray:
    return np.hypot(u - x, v - y) - radius


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Five-pointed star: the boundary's radius goes linearly from 0.45 (valleys) to 1.05 (points)."""
    turn = np.mod((np.arctan2(v, u) + np.pi / 2) * 5 / (2 * np.pi), 1.0)
    return np.hypot(u, v) - (0.45 + 0.6 * np.abs(2 * turn - 1))


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    lobes = np.minimum(_disc(u, v, -0.4, -0.35, 0.45), _disc(u, v, 0.4, -0.35, 0.45))
    return np.minimum(lobes, _polygon(u, v, [(-0.83, -0.15), (0.83, -0.15), (0.0, 0.8)]))


def _arrow(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    head = _polygon(u, v, [(0.1, -0.6), (0.95, 0.0), (0.1, 0.6)])
    return np.minimum(_box(u + 0.35, v, 0.55, 0.2), head)


def _square_wave(phase: np.ndarray) -> np.ndarray:
    """A square wave with soft edges: sharp enough to read, soft enough not to alias at 64 pixels."""
    return np.clip(0.5 + 1.5 * np.sin(phase), 0, 1)


def _dots(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cell_u, cell_v = np.mod(u / 0.55, 1.0) - 0.5, np.mod(v / 0.55, 1.0) - 0.5
    return np.clip(0.5 + 6 * (0.28 - np.hypot(cell_u, cell_v)), 0, 1)


def _grid(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    line = np.minimum(np.abs(np.mod(u / 0.6, 1.0) - 0.5), np.abs(np.mod(v / 0.6, 1.0) - 0.5))
    return np.clip(0.5 + 8 * (0.08 - line), 0, 1)


_TAU = 2 * np.pi

# object name -> (signed distance of its shape, its texture), both fields over object coordinates
_LOOKS: dict[str, tuple[Field, Field]] = {
    "circle": (lambda u, v: np.hypot(u, v) - 0.95, lambda u, v: _square_wave(u * _TAU / 0.7)),
    "square": (
        lambda u, v: _box(u, v, 0.78, 0.78),
        lambda u, v: np.clip(0.5 + 1.5 * np.sin(u * _TAU / 0.9) * np.sin(v * _TAU / 0.9), 0, 1),
    ),
    "triangle": (lambda u, v: _regular(u, v, 3, 1.05), _dots),
    "star": (_star, lambda u, v: _square_wave(np.hypot(u, v) * _TAU / 0.45)),
    "cross": (
        lambda u, v: np.minimum(_box(u, v, 0.95, 0.3), _box(u, v, 0.3, 0.95)),
        lambda u, v: _square_wave((u + v) * _TAU / 0.9),
    ),
    "ring": (
        lambda u, v: np.abs(np.hypot(u, v) - 0.7) - 0.28,
        lambda u, v: _square_wave(4 * np.arctan2(v, u)),
    ),
    "diamond": (
        lambda u, v: _polygon(u, v, [(0.0, -1.05), (0.6, 0.0), (0.0, 1.05), (-0.6, 0.0)]),
        _grid,
    ),
    "hexagon": (lambda u, v: _regular(u, v, 6, 0.95), lambda u, v: np.clip(0.5 + 6 * u, 0, 1)),
    "heart": (_heart, lambda u, v: _square_wave(np.hypot(u, v) * _TAU / 0.8 + np.arctan2(v, u))),
    "arrow": (_arrow, lambda u, v: _square_wave((u + 0.8 * np.abs(v)) * _TAU / 0.6)),
}


# ----------------------------------------------------------------------------------------------------
# Command line.


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m tempssl.data.toy --out DIR ...`: write the toy dataset and print a summary line."""
    parser = argparse.ArgumentParser(
        prog="python -m tempssl.data.toy", description="Write the toy dataset."
    )
    parser.add_argument("--out", required=True, type=Path, help="the dataset folder to write")
    parser.add_argument("--seed", type=int, default=0)
    for split, count in DEFAULT_SCENES.items():
        parser.add_argument(f"--scenes-{split}", type=int, default=count, help=f"(default {count})")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help=f"(default {DEFAULT_FRAMES})")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"(default {DEFAULT_SIZE})")
    parser.add_argument("--fps", type=int, default=DEFAULT_FPS, help=f"(default {DEFAULT_FPS})")
    parser.add_argument("--workers", type=int, default=None, help="(default: one per CPU core)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    scenes = {split: getattr(args, f"scenes_{split}") for split in DEFAULT_SCENES}
    existed = (args.out / "DONE").exists()
    start = time.perf_counter()
    make_toy_dataset(
        args.out, scenes, args.frames, args.size, args.fps, args.seed, args.workers, not args.quiet
    )
    seconds = time.perf_counter() - start
    total = sum(scenes.values())
    counts = "/".join(str(count) for count in scenes.values())
    print(
        f"toy dataset {'already complete' if existed else 'written'} at {args.out}: {total} scenes "
        f"({counts} {'/'.join(scenes)}), {2 * total} videos of {args.frames} frames "
        f"{args.size}x{args.size} at {args.fps} fps, seed {args.seed}, {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
