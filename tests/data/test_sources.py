"""Video sources: layouts, labels, groups, the metadata cache, and bad input."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from PIL import Image

from tempssl.data import metadata
from tempssl.data.sources import (
    folder_of_classes,
    guess_layout,
    image_folder,
    load_source,
    manifest,
    multiview_groups,
    unlabeled_folder,
)
from tempssl.video.synthetic import write_coded_video


def _video(path, frames=8, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_coded_video(path, frames, **kwargs)


@pytest.fixture
def classes_root(tmp_path):
    _video(tmp_path / "walk" / "a.mp4", 8)
    _video(tmp_path / "walk" / "sub" / "b.mp4", 9)
    _video(tmp_path / "jump" / "c.avi", 10, codec="mpeg4")
    (tmp_path / "jump" / "notes.txt").write_text("not a video")
    return tmp_path


def test_folder_of_classes(classes_root):
    source = folder_of_classes(classes_root, progress=False)
    assert source.classes == ["jump", "walk"]
    by_name = {os.path.basename(v.path): v for v in source.videos}
    assert sorted(by_name) == ["a.mp4", "b.mp4", "c.avi"]
    assert (by_name["c.avi"].label, by_name["a.mp4"].label, by_name["b.mp4"].label) == (0, 1, 1)
    assert by_name["b.mp4"].num_frames == 9
    assert (by_name["a.mp4"].height, by_name["a.mp4"].width, by_name["a.mp4"].fps) == (64, 96, 25)
    assert by_name["a.mp4"].duration == pytest.approx(8 / 25)


def test_metadata_is_cached_and_invalidated_by_size_and_mtime(classes_root, monkeypatch):
    folder_of_classes(classes_root, progress=False)
    assert (classes_root / metadata.CACHE_NAME).is_file()
    probed = []
    real_probe = metadata.probe
    monkeypatch.setattr(metadata, "probe", lambda p: probed.append(p) or real_probe(p))
    folder_of_classes(classes_root, progress=False)
    assert probed == []  # nothing probed again
    _video(classes_root / "walk" / "a.mp4", 12)  # rewritten: new size and mtime
    source = folder_of_classes(classes_root, progress=False)
    assert [os.path.basename(p) for p in probed] == ["a.mp4"]
    assert {os.path.basename(v.path): v.num_frames for v in source.videos}["a.mp4"] == 12


def test_cache_goes_to_the_cache_folder_when_data_is_read_only(
    classes_root, tmp_path_factory, monkeypatch
):
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("TEMPSSL_CACHE", str(cache))
    real_access = os.access
    monkeypatch.setattr(
        metadata.os,
        "access",
        lambda p, mode: False if str(p) == str(classes_root) else real_access(p, mode),
    )
    folder_of_classes(classes_root, progress=False)
    assert not (classes_root / metadata.CACHE_NAME).exists()
    assert len(list((cache / "metadata").glob("*.json"))) == 1


def test_parallel_probing_matches_serial(tmp_path):
    for i in range(17):
        _video(tmp_path / f"v{i:02d}.mp4", 3 + i % 4)
    source = unlabeled_folder(tmp_path, workers=2, progress=False)
    assert [v.num_frames for v in source.videos] == [3 + i % 4 for i in range(17)]
    assert source.classes == [] and all(v.label == -1 for v in source.videos)


def test_manifest_with_relative_paths_and_named_labels(classes_root):
    csv_path = classes_root / "split.csv"
    csv_path.write_text("path,label\nwalk/a.mp4,walk\njump/c.avi,jump\n")
    source = manifest(csv_path, progress=False)
    assert source.classes == ["jump", "walk"]
    assert [(os.path.basename(v.path), v.label) for v in source.videos] == [("c.avi", 0), ("a.mp4", 1)]
    fixed = manifest(csv_path, classes=["walk", "jump", "run"], progress=False)
    assert [v.label for v in fixed.videos] == [1, 0]


def test_manifest_errors_name_the_file_and_line(classes_root):
    csv_path = classes_root / "bad.csv"
    csv_path.write_text("path,label\nwalk/a.mp4,walk\nwalk/missing.mp4,walk\n")
    with pytest.raises(
        FileNotFoundError, match=r"bad\.csv, line 3: video .*missing\.mp4 does not exist"
    ):
        manifest(csv_path, progress=False)
    csv_path.write_text("path,label\njump/notes.txt,jump\n")
    with pytest.raises(ValueError, match=r"line 2: .*notes\.txt has unknown extension '\.txt'"):
        manifest(csv_path, progress=False)
    csv_path.write_text("file,label\nwalk/a.mp4,walk\n")
    with pytest.raises(ValueError, match=r"no column 'path'; columns are \['file', 'label'\]"):
        manifest(csv_path, progress=False)
    with pytest.raises(FileNotFoundError, match=r"manifest .*nope\.csv not found"):
        manifest(classes_root / "nope.csv")


def test_multiview_groups_with_offsets(tmp_path):
    for scene in ("s1", "s2"):
        _video(tmp_path / scene / "left.mp4", 10)
        _video(tmp_path / scene / "right.mp4", 20, fps=50)
    (tmp_path / "offsets.csv").write_text("scene,view,offset\ns1,right,0.5\n")
    source = multiview_groups(tmp_path, progress=False)
    assert source.groups() == {"s1": [0, 1], "s2": [2, 3]}
    right = source.videos[1]
    assert (right.group, right.view, right.offset, right.fps) == ("s1", "right", 0.5, 50)
    assert source.videos[3].offset == 0.0
    assert right.frame_at(0.5 + 0.1) == 5  # the right view's clock starts 0.5 s later


def test_scene_with_one_view_is_an_error(tmp_path):
    _video(tmp_path / "s1" / "left.mp4")
    _video(tmp_path / "s1" / "right.mp4")
    _video(tmp_path / "lonely" / "only.mp4")
    with pytest.raises(ValueError, match=r"lonely: scene has 1 view\(s\), multi-view needs at least 2"):
        multiview_groups(tmp_path, progress=False)


def test_empty_and_wrong_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        unlabeled_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"the folder is empty"):
        unlabeled_folder(tmp_path)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=r"found only \['\.txt'\]"):
        unlabeled_folder(tmp_path)
    with pytest.raises(ValueError, match="no class folders found"):
        folder_of_classes(tmp_path)


def test_corrupt_videos_are_skipped_and_counted(tmp_path, caplog):
    _video(tmp_path / "good.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    (tmp_path / "empty.mp4").touch()
    with caplog.at_level(logging.WARNING):
        source = unlabeled_folder(tmp_path, progress=False)
    assert [os.path.basename(v.path) for v in source.videos] == ["good.mp4"]
    assert sorted(os.path.basename(p) for p, _ in source.unreadable) == ["broken.mp4", "empty.mp4"]
    assert "skipped 2 unreadable file(s) of 3" in caplog.text
    with pytest.raises(ValueError, match=r"broken\.mp4: unreadable video .*on_bad_video=raise"):
        unlabeled_folder(tmp_path, on_bad_video="raise", progress=False)


def test_image_folder(tmp_path):
    image = Image.fromarray(np.full((20, 30, 3), 128, dtype=np.uint8))
    (tmp_path / "sub").mkdir()
    image.save(tmp_path / "sub" / "x.png")
    image.save(tmp_path / "y.jpg")
    source = image_folder(tmp_path, progress=False)
    assert [(v.num_frames, v.height, v.width) for v in source.videos] == [(1, 20, 30)] * 2
    assert all(v.label == -1 for v in source.videos)  # loose images next to a folder: no classes


def test_image_folder_of_classes_is_labelled_like_torchvision_imagefolder(tmp_path):
    image = Image.fromarray(np.full((8, 8, 3), 128, dtype=np.uint8))
    for name, count in [("dog", 2), ("cat", 1)]:
        (tmp_path / name / "deeper").mkdir(parents=True)
        for i in range(count):
            image.save(tmp_path / name / ("deeper" if i else ".") / f"{i}.png")
    source = image_folder(tmp_path, progress=False)
    assert source.classes == ["cat", "dog"]  # sorted, as ImageFolder's class_to_idx
    labels = {os.path.relpath(v.path, tmp_path): v.label for v in source.videos}
    assert labels == {"cat/0.png": 0, "dog/0.png": 1, "dog/deeper/1.png": 1}


def test_variable_frame_rate_videos_keep_their_timestamps(tmp_path):
    _video(tmp_path / "s1" / "vfr.mp4", 12, frame_durations=[20, 60])  # 20 ms and 60 ms frames
    _video(tmp_path / "s1" / "cfr.mp4", 12)
    source = multiview_groups(tmp_path, progress=False)
    cfr, vfr = source.videos  # sorted by path
    assert cfr.timestamps is None
    assert vfr.timestamps[:5] == pytest.approx((0.0, 0.02, 0.08, 0.10, 0.16))
    assert vfr.frame_time(3) == pytest.approx(0.10)
    # nearest frame by real timestamp, not by the average rate (25 fps here: 0.16 s = frame 4)
    assert [vfr.frame_at(t) for t in (0.0, 0.045, 0.07, 0.16, 10.0)] == [0, 1, 2, 4, 11]


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)


def test_layout_guess(tmp_path, classes_root):
    flat = tmp_path / "flat"
    _video(flat / "a.mp4")
    _video(flat / "b.avi", codec="mpeg4")
    _image(tmp_path / "photos" / "x" / "1.png")
    _video(tmp_path / "scenes" / "s0" / "v0.mp4")
    _video(tmp_path / "scenes" / "s0" / "v1.mp4")
    (tmp_path / "list.csv").write_text("path,label\nflat/a.mp4,x\n")
    assert guess_layout(flat) == "unlabeled"  # a plain folder of videos
    assert guess_layout(classes_root) == "classes"
    assert guess_layout(tmp_path / "scenes") == "classes"  # scenes look like classes: ask for them
    assert guess_layout(tmp_path / "photos") == "images"
    assert guess_layout(tmp_path / "list.csv") == "manifest"
    assert len(load_source(flat, progress=False)) == 2
    assert load_source(tmp_path / "photos", progress=False).videos[0].num_frames == 1


@pytest.mark.parametrize(
    ("layout", "looks_like", "fix"),
    [
        ("manifest", "a folder with 2 video(s) directly inside", "data.layout=unlabeled reads it"),
        ("classes", "a folder with 2 video(s) directly inside", "data.layout=unlabeled reads it"),
        ("multiview", "a folder with 2 video(s) directly inside", "data.layout=unlabeled reads it"),
        ("images", "a folder with 2 video(s) directly inside", "data.layout=unlabeled reads it"),
    ],
)
def test_a_layout_that_does_not_fit_says_what_the_path_looks_like(tmp_path, layout, looks_like, fix):
    _video(tmp_path / "a.mp4")
    _video(tmp_path / "b.mp4")
    with pytest.raises(ValueError) as info:
        load_source(tmp_path, layout, progress=False)
    message = str(info.value)
    assert f"data.layout={layout} expects" in message and str(tmp_path) in message
    assert looks_like in message and fix in message and "(auto picks it)" in message


def test_layout_mismatch_for_a_csv_and_for_single_video_scenes(tmp_path, classes_root):
    (tmp_path / "list.csv").write_text("path,label\n")
    with pytest.raises(ValueError, match=r"is a CSV file; data.layout=manifest reads it"):
        load_source(tmp_path / "list.csv", "classes", progress=False)
    one_view = tmp_path / "one_view"
    _video(one_view / "s0" / "v0.mp4")
    with pytest.raises(ValueError, match=r"1 sub-folder\(s\) with videos \(0 with 2 or more\)"):
        load_source(one_view, "multiview", progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_source(tmp_path / "nope", "unlabeled", progress=False)


def test_a_folder_of_unreadable_files_stops_with_one_message(tmp_path, caplog):
    for i in range(5):
        (tmp_path / f"clip{i}.mp4").write_text("not a video")
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError) as info:
        load_source(tmp_path, progress=False)
    message = str(info.value)
    assert f"{tmp_path}: none of the 5 video(s) could be read" in message
    assert message.count("not a readable video container") == 3 and "and 2 more" in message
    assert "data.backend=pyav" in message
