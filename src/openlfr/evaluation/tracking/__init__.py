"""How well the tracker follows people: clips with exact ground truth, and MOT metrics.

- :mod:`.truth`: :class:`Clip` and :class:`FrameTruth` (who is where in every frame).
- :mod:`.synth`: generated clips of real faces (from photographs in installed packages, or
  LFW) walking, crossing, hiding each other, approaching, blurred, with dropped frames.
- :mod:`.demo`: the truth of the demo camera's pan, from the demo scene's own geometry.
- :mod:`.run`: a tracker over a clip, on the real detector or on noisy truth boxes.
- :mod:`.mot`: IDF1, ID switches, tracks per person, recall (``motmetrics``).
- :mod:`.reference`: the recorded tracks-per-person figure that reports show beside the
  false alert rate, keyed by the tracker settings.

Tracks per person is the figure that makes the false alert rate honest: the rate divides
false alerts by tracks, and a tracker that splits one passer-by into five tracks makes the
rate look five times better than it is per person.
"""

from openlfr.evaluation.tracking.mot import FrameTracks, TrackingMetrics, evaluate, evaluate_many
from openlfr.evaluation.tracking.run import NoisyTruth, TrackRun, track_clip
from openlfr.evaluation.tracking.truth import Clip, FrameTruth

__all__ = ["Clip", "FrameTruth", "FrameTracks", "TrackingMetrics", "evaluate",
           "evaluate_many", "NoisyTruth", "TrackRun", "track_clip"]
