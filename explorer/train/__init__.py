"""Training: ``config`` (TrainConfig, validation, learning-rate schedule, recommended defaults),
``gradlog`` (per-step gradient statistics), ``loop`` (train, evaluate, TrainState).

Lower layers first; the loop knows nothing of the run store or of Streamlit.
"""
from .config import (MAX_BATCH, MAX_EPOCHS, SCHEDULES, SEED_LIMIT, ConfigError, TrainConfig, lr_at,
                     recommended_defaults, resolve_device)
from .gradlog import GradLog, GradMeter
from .loop import (ProgressFn, TrainState, evaluate, load_optimizer_state, optimizer_state, param_groups,
                   split_indices, stratified_subset, train)

__all__ = [
    "SCHEDULES", "MAX_EPOCHS", "MAX_BATCH", "SEED_LIMIT", "ConfigError", "TrainConfig", "lr_at", "recommended_defaults",
    "resolve_device", "GradLog", "GradMeter", "ProgressFn", "TrainState", "evaluate", "load_optimizer_state",
    "optimizer_state", "param_groups", "split_indices", "stratified_subset", "train",
]
