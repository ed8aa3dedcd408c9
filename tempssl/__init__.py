"""tempssl: self-supervised representation learning from video, using time as supervision."""

__version__ = "0.1.0"
