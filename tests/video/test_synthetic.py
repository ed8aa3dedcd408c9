import numpy as np
import pytest

from tempssl.video.synthetic import read_frame_codes, render_coded_frame


@pytest.mark.parametrize(("height", "width"), [(64, 96), (65, 97), (240, 320)])
def test_frame_code_round_trips_on_raw_frames(height, width):
    indices = [0, 1, 7, 100, 2047, 4095]
    frames = np.stack([render_coded_frame(i, height, width) for i in indices])
    assert read_frame_codes(frames) == indices


def test_frame_code_survives_noise():
    rng = np.random.default_rng(0)
    frames = np.stack([render_coded_frame(i, 64, 96) for i in range(20)]).astype(np.int16)
    noisy = np.clip(frames + rng.normal(0, 20, frames.shape), 0, 255).astype(np.uint8)
    assert read_frame_codes(noisy) == list(range(20))


def test_frame_code_rejects_tiny_frames_and_big_indices():
    with pytest.raises(ValueError, match="too small"):
        render_coded_frame(0, 20, 30)
    with pytest.raises(ValueError, match="outside"):
        render_coded_frame(5000, 64, 96)
