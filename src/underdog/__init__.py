"""underdog: turn your own music library into training-montage soundtracks."""

__version__ = "0.1.0"
