"""The test videos: every container/codec case the decoding layer must read frame-exactly."""

# name -> (write_coded_video kwargs, frames that really decode)
VIDEO_SPECS = {
    "h264_bframes.mp4": dict(num_frames=90, b_frames=3, options={"g": "12"}),
    "mpeg4_bframes.avi": dict(num_frames=60, codec="mpeg4", b_frames=2, options={"g": "12"}),
    "mpeg4.avi": dict(num_frames=40, codec="mpeg4", b_frames=0),
    "vp9.webm": dict(num_frames=60, codec="libvpx-vp9", b_frames=None, options={"g": "15"}),
    "vfr.mp4": dict(num_frames=60, frame_durations=[20, 40, 60, 33]),
    "odd_97x65.webm": dict(num_frames=30, codec="libvpx-vp9", b_frames=None, height=65, width=97),
    "gray.mp4": dict(num_frames=30, pix_fmt="gray"),
    "one_frame.mp4": dict(num_frames=1),
    "overreported.avi": dict(num_frames=40, codec="mpeg4", b_frames=2),
}
