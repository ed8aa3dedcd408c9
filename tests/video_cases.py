"""The test videos: every container/codec case the decoding layer must read frame-exactly."""

# name -> write_coded_video kwargs (num_frames: the frames that really decode); conftest.py then
# damages or rewrites some of them (see POSTPROCESS).
VIDEO_SPECS = {
    "h264_bframes.mp4": dict(num_frames=90, b_frames=3, options={"g": "12"}),
    "mpeg4_bframes.avi": dict(num_frames=60, codec="mpeg4", b_frames=2, options={"g": "12"}),
    "mpeg4.avi": dict(num_frames=40, codec="mpeg4", b_frames=0),
    "vp9.webm": dict(num_frames=60, codec="libvpx-vp9", b_frames=None, options={"g": "15"}),
    "vfr.mp4": dict(num_frames=60, frame_durations=[20, 40, 60, 33]),
    "odd_97x65.webm": dict(num_frames=30, codec="libvpx-vp9", b_frames=None, height=65, width=97),
    "gray.mp4": dict(num_frames=30, pix_fmt="gray"),  # x264 here stores yuv420p with flat chroma
    "gray_ffv1.mkv": dict(num_frames=30, codec="ffv1", pix_fmt="gray", b_frames=None),  # true gray
    "one_frame.mp4": dict(num_frames=1),
    "overreported.avi": dict(num_frames=40, codec="mpeg4", b_frames=2),
    "animated.gif": dict(num_frames=20, codec="gif", pix_fmt="rgb8", b_frames=None, fps=10),
    # without B-frames: AVI files that decord / torchcodec decode themselves (dmlc/decord#373)
    "overreported_mpeg4.avi": dict(num_frames=40, codec="mpeg4", b_frames=0, options={"g": "10"}),
    "overreported_h264.avi": dict(num_frames=40, b_frames=0, options={"g": "10"}),
    # rewritten with DivX-style packed B-frames: FFmpeg's timestamps come out non-monotonic
    "packed_bframes.avi": dict(num_frames=60, codec="mpeg4", b_frames=1, options={"g": "12"}),
    # more containers users have; MPEG program / transport streams and ASF go to PyAV
    "h264.mov": dict(num_frames=40, options={"g": "12"}),
    "h264.3gp": dict(num_frames=40, options={"g": "12"}),
    "flv1.flv": dict(num_frames=40, codec="flv", b_frames=None, options={"g": "12"}),
    "mpeg1_bframes.mpeg": dict(num_frames=60, codec="mpeg1video", options={"g": "12"}),
    "mpeg2.mpg": dict(num_frames=40, codec="mpeg2video", b_frames=0, options={"g": "12"}),
    "h264.ts": dict(num_frames=40, options={"g": "12"}),
    "wmv2.wmv": dict(num_frames=40, codec="wmv2", b_frames=None, options={"g": "12"}),
    "narrow_48.mp4": dict(num_frames=20, width=48),  # decord 0.6 decodes it to 4 channels
}

# Backends that hand a file to PyAV (with a warning) instead of decoding it themselves: AVI stores no
# timestamps, and decord and torchcodec select frames by timestamps. decord 0.6 reports garbage
# timestamps for H.264 in AVI (and returns wrong frames there: [0, 5, 1, 1] for [0, 5, 39, 20]).
_AVI_WITH_BFRAMES = {"torchcodec", "decord"}
HANDED_TO_PYAV = {
    "mpeg4_bframes.avi": _AVI_WITH_BFRAMES,
    "overreported.avi": _AVI_WITH_BFRAMES,
    "packed_bframes.avi": _AVI_WITH_BFRAMES,
    "overreported_h264.avi": {"decord"},
    "animated.gif": {"decord"},  # decord cannot open GIFs ("broken metadata")
    "mpeg1_bframes.mpeg": {"torchcodec", "decord"},
    "mpeg2.mpg": {"torchcodec", "decord"},
    "h264.ts": {"torchcodec", "decord"},
    "wmv2.wmv": {"torchcodec", "decord"},
    "narrow_48.mp4": {"decord"},
}
