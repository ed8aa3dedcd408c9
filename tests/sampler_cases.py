"""One config per sampler kind, with overrides for short plans on small test videos (48 frames):
`kind -> (config name, layout, overrides)`; layout "scenes" is `root/<scene>/<camera>.mp4`,
"flat" a folder of videos."""

KIND_CONFIGS = {
    "multiview": ("tcn", "scenes", ["sampler.args={views: 2, min_gap: 0.04}"]),
    "pairs": ("tcn_single_view", "flat", []),
    "tuples": ("shuffle_learn", "flat", ["sampler.args={window: 20, outer_gap: 4}"]),
    "sequences": ("cpc", "flat", ["sampler.args={num_blocks: 3, block_len: 2, stride: 2}"]),
    "frames": ("simclr", "flat", []),
    "clips": ("videomae", "flat", ["sampler.args={num_frames: 4, stride: 2}"]),
}
