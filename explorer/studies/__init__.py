"""Mechanism studies of trained and freshly initialised nets, block by block.

* :mod:`.lesion`: delete blocks at test time (Veit et al. 2016): single blocks, k at random;
* :mod:`.profiles`: separability of every block's output, CKA between consecutive blocks;
* :mod:`.signal`: branch and output stds, Var(branch)/Var(shortcut), stable rank, gradient
  norms (He et al. 2016, De & Smith 2020, Daneshmand et al. 2020);
* :mod:`.records`: the typed results, each with ``to_frame()``.

Every study takes the probe images already normalised (``explorer.data.normalize``).
"""
from .common import MechanismError
from .lesion import evaluate_lesions, lesion_curve, lesion_study, single_lesions
from .profiles import PROFILE_METRICS, block_features, block_profiles, profile_features
from .records import (BlockProfiles, LesionCurve, LesionCurvePoint, LesionDraw, LesionRow, LesionStudy, ProfileRow,
                      SignalProfile, SignalRow, SingleLesions)
from .signal import channel_var, signal_at_init, signal_profile, stable_rank

__all__ = [
    "MechanismError", "evaluate_lesions", "lesion_curve", "lesion_study", "single_lesions",
    "PROFILE_METRICS", "block_features", "block_profiles", "profile_features",
    "BlockProfiles", "LesionCurve", "LesionCurvePoint", "LesionDraw", "LesionRow", "LesionStudy", "ProfileRow",
    "SignalProfile", "SignalRow", "SingleLesions", "channel_var", "signal_at_init", "signal_profile", "stable_rank",
]
