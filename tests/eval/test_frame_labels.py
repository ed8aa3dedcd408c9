"""Per-frame label CSVs: the format as documented, clear errors on bad rows, matching to embedding
folders by path and frame index, and the toy dataset's frames.csv read by the same loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tempssl.data.toy import PHASES, make_toy_dataset
from tempssl.eval.frame_labels import load_frame_sets, read_frame_labels
from tempssl.eval.labelled import DataSpec
from tempssl.eval.store import Embeddings, save_embeddings


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_rows_relative_and_absolute_paths_classes_in_order_of_appearance(tmp_path):
    other = tmp_path / "elsewhere" / "b.mp4"
    csv = write(
        tmp_path / "frames.csv",
        f"path,frame,label,progress,note\nvideos/a.mp4,0,reach,0,\nvideos/a.mp4,1,grasp,0.5,ok\n"
        f"videos/a.mp4,2,grasp,1,\n{other},3,reach,0.25,\n",
    )
    labels = read_frame_labels(csv)
    a = str((tmp_path / "videos" / "a.mp4").resolve())
    assert labels.classes == ["reach", "grasp"]
    assert labels.labels == {a: {0: 0, 1: 1, 2: 1}, str(other.resolve()): {3: 0}}
    assert labels.progress[a] == {0: 0.0, 1: 0.5, 2: 1.0}
    without = read_frame_labels(write(tmp_path / "plain.csv", "path,frame,label\na.mp4,0,x\n"))
    assert without.progress is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("path,label\na.mp4,x\n", r"no column\(s\) frame; columns are \['path', 'label'\]"),
        ("path,frame,label\na.mp4,0,x\na.mp4,one,x\n", r"line 3: frame 'one' is not a frame index"),
        ("path,frame,label\na.mp4,-2,x\n", r"line 2: frame '-2' is not a frame index \(an integer >= 0"),
        ("path,frame,label\na.mp4,0,\n", r"line 2: empty label"),
        ("path,frame,label\n,0,x\n", r"line 2: empty path"),
        ("path,frame,label\na.mp4,0,x\na.mp4,0,y\n", r"line 3: a second row for frame 0 of a.mp4"),
        ("path,frame,label,progress\na.mp4,0,x,half\n", r"line 2: progress 'half' is not a finite"),
        ("path,frame,label,progress\na.mp4,0,x,nan\n", r"line 2: progress 'nan' is not a finite"),
        ("path,frame,label\na.mp4,0\n", r"line 2: expected 3 fields \(path,frame,label\)"),
        ("path,frame,label\na.mp4,0,x,extra\n", r"line 2: expected 3 fields"),
        ("path,frame,label\n", r"no rows"),
    ],
)
def test_bad_files_name_the_file_the_line_and_what_was_expected(tmp_path, text, expected):
    csv = write(tmp_path / "labels.csv", text)
    with pytest.raises(ValueError, match=expected) as error:
        read_frame_labels(csv)
    assert str(csv) in str(error.value)
    with pytest.raises(FileNotFoundError, match=r"per-frame labels .*missing\.csv not found"):
        read_frame_labels(tmp_path / "missing.csv")


def embedding_folder(folder: Path, paths, frame_indices, dim: int = 2, videos: str | None = None):
    n, t = len(paths), len(frame_indices[0])
    indices = np.array(frame_indices, dtype=np.int64)
    times = np.where(indices >= 0, indices / 10.0, np.nan)
    data = Embeddings(
        embeddings=np.zeros((n, dim), np.float32),
        paths=np.array([str(p) for p in paths]),
        labels=np.zeros(n, np.int64),
        classes=np.array(["c"]),
        groups=np.full(n, ""),
        views=np.full(n, ""),
        frame_embeddings=np.arange(n * t * dim, dtype=np.float32).reshape(n, t, dim),
        frame_times=times,
        frame_indices=indices,
        info={"videos": videos} if videos else {},
    )
    return save_embeddings(folder, data)


def test_embedded_frames_get_their_rows_and_unlabelled_videos_are_left_out(tmp_path):
    root = tmp_path / "videos"
    rows = [f"{name}.mp4,{t},{'early' if t < 4 else 'late'},{t / 8}" for name in "ab" for t in range(9)]
    write(root.mkdir() or root / "frames.csv", "path,frame,label,progress\n" + "\n".join(rows) + "\n")
    paths = [root / "a.mp4", root / "b.mp4", root / "c.mp4"]  # c is not labelled
    train = embedding_folder(
        tmp_path / "train", paths, [[0, 4, 8], [2, 6, -1], [0, 1, 2]], videos=str(root)
    )
    test = embedding_folder(tmp_path / "test", paths[:2], [[1, 3, 5], [7, 8, -1]])
    sets = load_frame_sets(DataSpec(train=train, test=test), root / "frames.csv", need_progress=True)
    assert sets.classes == ["early", "late"]
    assert sets.train.paths == [str(paths[0]), str(paths[1])]
    np.testing.assert_array_equal(sets.train.labels[0], [0, 1, 1])
    np.testing.assert_array_equal(sets.train.labels[1], [0, 1])  # the padding frame is dropped
    np.testing.assert_allclose(sets.test.progress[1], [7 / 8, 1.0])
    assert sets.train.frames[1].shape == (2, 2)
    assert sets.inputs["unlabelled_dropped"] == 1 and sets.inputs["train_frames"] == 5
    # without --frame-labels: frames.csv in the folder the embeddings were extracted from
    found = load_frame_sets(DataSpec(train=train, test=test))
    assert found.inputs["frame_labels"] == str(root / "frames.csv")


def test_a_sampled_frame_without_a_row_is_an_error_naming_the_video_and_frame(tmp_path):
    csv = write(tmp_path / "frames.csv", "path,frame,label\na.mp4,0,x\na.mp4,1,x\na.mp4,5,y\n")
    folder = embedding_folder(tmp_path / "emb", [tmp_path / "a.mp4"] * 1, [[0, 1, 3]])
    with pytest.raises(ValueError, match=r"no row for frame 3 of .*a\.mp4 .*labelled frames: 0-1, 5"):
        load_frame_sets(DataSpec(train=folder, test=folder), csv)
    plain = write(tmp_path / "plain.csv", "path,frame,label\na.mp4,0,x\na.mp4,1,x\na.mp4,3,y\n")
    with pytest.raises(ValueError, match="no 'progress' column"):
        load_frame_sets(DataSpec(train=folder, test=folder), plain, need_progress=True)
    with pytest.raises(FileNotFoundError, match="give them with --frame-labels"):
        load_frame_sets(DataSpec(train=folder, test=folder))  # the sidecar names no videos


def test_folders_without_frame_embeddings_say_how_to_extract_them(tmp_path):
    csv = write(tmp_path / "frames.csv", "path,frame,label\na.mp4,0,x\n")
    folder = embedding_folder(tmp_path / "emb", [tmp_path / "a.mp4"], [[0]])
    data = Embeddings(
        embeddings=np.zeros((1, 2), np.float32), paths=np.array([str(tmp_path / "a.mp4")]),
        labels=np.zeros(1, np.int64), classes=np.array(["c"]), groups=np.full(1, ""),
        views=np.full(1, ""),
    )  # fmt: skip
    save_embeddings(folder, data)
    with pytest.raises(ValueError, match="--save-frames"):
        load_frame_sets(DataSpec(train=folder, test=folder), csv)


def test_the_toy_datasets_frames_csv_is_read_by_the_same_loader(tmp_path):
    root = make_toy_dataset(
        tmp_path / "toy", {"train": 2, "val": 1}, num_frames=12, size=32, workers=1, progress=False
    )
    labels = read_frame_labels(root / "frames.csv")
    assert labels.classes == list(PHASES)  # accelerate, move, settle: in the order they happen
    assert len(labels.labels) == 6  # 3 scenes x 2 views
    for video, frames in labels.labels.items():
        assert Path(video).is_file() and sorted(frames) == list(range(12))
        progress = [labels.progress[video][t] for t in range(12)]
        assert progress[0] == 0 and progress[-1] == 1 and np.all(np.diff(progress) >= 0)
