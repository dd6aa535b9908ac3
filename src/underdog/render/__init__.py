"""Render a montage plan into one continuous, beat-matched, levelled audio file.

- ``source``: a span of a track as stereo float32 at the mix rate.
- ``stretch``: time-stretching with the pitch kept (WSOLA, phase vocoder, FFmpeg atempo).
- ``levels``: gain to a target loudness, and a true-peak limiter.
- ``mix``: transitions (equal-power, bass swap, cut) and round cues.
- ``render``: the driver that streams a plan into an encoded file with chapters.
"""
