"""File names with spaces, commas and Unicode work in every layout and in manifests; a manifest
cannot lead tempssl out of its folder except by absolute paths."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tempssl.data.sources import load_source, manifest
from tempssl.video import open_video
from tempssl.video.synthetic import read_frame_codes, write_coded_video

NAMES = ["my clip, take 2.mp4", "café — été.mp4", "日本 語.mp4"]


def _videos(folder, names=NAMES, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    return [write_coded_video(folder / name, 8, seed=seed + i) for i, name in enumerate(names)]


def _decodes(source) -> None:
    for video in source.videos:
        with open_video(video.path) as reader:
            assert read_frame_codes(reader.get_frames([0, 7])) == [0, 7]


def test_awkward_names_in_a_folder_and_in_class_folders(tmp_path):
    _videos(tmp_path / "flat")
    flat = load_source(str(tmp_path / "flat"), progress=False)
    assert sorted(Path(v.path).name for v in flat.videos) == sorted(NAMES)
    _decodes(flat)
    _videos(tmp_path / "classes" / "jump, high")
    _videos(tmp_path / "classes" / "ñandú run", seed=5)
    classes = load_source(str(tmp_path / "classes"), progress=False)
    assert classes.classes == ["jump, high", "ñandú run"] and len(classes) == 6
    _decodes(classes)


def test_awkward_names_in_a_csv_manifest_and_in_multiview_scenes(tmp_path):
    paths = _videos(tmp_path / "data" / "sub dir, 1")
    csv_path = tmp_path / "data" / "clips, é.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)  # quotes the fields with commas
        writer.writerow(["path", "label"])
        for i, path in enumerate(paths):
            writer.writerow([path.relative_to(csv_path.parent).as_posix(), f"class, {i % 2}"])
    source = manifest(csv_path, progress=False)
    assert sorted(Path(v.path).name for v in source.videos) == sorted(NAMES)
    assert source.classes == ["class, 0", "class, 1"]
    _decodes(source)
    for scene in ("scène 1", "scene, 2"):
        _videos(tmp_path / "scenes" / scene, ["cam 0, left.mp4", "cam 1 ü right.mp4"])
    scenes = load_source(str(tmp_path / "scenes"), layout="multiview", progress=False)
    assert len(scenes) == 4
    _decodes(scenes)


def test_a_manifest_cannot_climb_out_of_its_folder_except_by_absolute_path(tmp_path):
    (outside,) = _videos(tmp_path / "elsewhere", ["secret.mp4"])
    folder = tmp_path / "dataset"
    folder.mkdir()
    climbing = folder / "climb.csv"
    climbing.write_text("path,label\n../elsewhere/secret.mp4,a\n")
    with pytest.raises(ValueError, match=r"climb\.csv, line 2: the relative path .* leads out of"):
        manifest(climbing, progress=False)
    absolute = folder / "absolute.csv"
    absolute.write_text(f"path,label\n{outside},a\n")
    assert [v.path for v in manifest(absolute, progress=False).videos] == [str(outside)]
    missing = folder / "missing.csv"
    missing.write_text(f"path,label\n{tmp_path / 'nope.mp4'},a\n")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        manifest(missing, progress=False)
    # `..` that stays inside the folder is fine
    _videos(folder / "a", ["inside.mp4"])
    inside = folder / "inside.csv"
    inside.write_text("path,label\na/../a/inside.mp4,a\n")
    assert [Path(v.path).name for v in manifest(inside, progress=False).videos] == ["inside.mp4"]
    # a symbolic link inside the folder is followed, wherever it points (the user put it there)
    (folder / "linked.mp4").symlink_to(outside)
    linked = folder / "linked.csv"
    linked.write_text("path,label\nlinked.mp4,a\n")
    (video,) = manifest(linked, progress=False).videos
    assert Path(video.path).name == "linked.mp4" and video.num_frames == 8
