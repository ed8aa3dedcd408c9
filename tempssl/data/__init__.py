"""The clip-sampling layer: video sources, sampling plans, one-decode datasets, transforms, toy data."""
