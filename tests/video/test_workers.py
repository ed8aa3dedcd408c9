"""Readers are safe to create in the main process and use from DataLoader worker processes."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from tempssl.video import available_backends, open_video
from tempssl.video.synthetic import read_frame_codes

BACKENDS = available_backends()


class _Clips(Dataset):
    def __init__(self, reader):
        self.reader = reader

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.reader.get_frames([i * 5, i * 5 + 1, i * 5 + 2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_reader_pickles_without_its_decoder(videos, backend):
    reader = open_video(videos["h264_bframes.mp4"], backend=backend)
    reader.get_frames([1])  # opens the decoder
    assert reader._decoder is not None
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._decoder is None
    assert read_frame_codes(clone.get_frames([4, 2])) == [4, 2]


@pytest.mark.parametrize("context", ["fork", "spawn"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_reader_used_from_two_workers(videos, backend, context):
    reader = open_video(videos["h264_bframes.mp4"], backend=backend)
    reader.get_frames([0])  # a decoder open in the parent must not leak into the workers
    loader = DataLoader(_Clips(reader), batch_size=2, num_workers=2, multiprocessing_context=context)
    codes = [read_frame_codes(batch.flatten(0, 1)) for batch in loader]
    expected = [[j for i in (2 * b, 2 * b + 1) for j in (i * 5, i * 5 + 1, i * 5 + 2)] for b in range(4)]
    assert codes == expected
