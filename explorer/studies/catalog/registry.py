"""The studies, registered once: adding one is its module plus one line here."""
from . import curvature, cv_repeat, landscape, lesion, profile, shatter, signal
from .base import REGISTRY, register

for _study in (lesion.STUDY, profile.STUDY, signal.STUDY, landscape.STUDY, shatter.STUDY, curvature.STUDY,
               cv_repeat.STUDY):
    register(_study)

__all__ = ["REGISTRY"]
