"""Published numbers and the zoo's shared training recipe, defined once.

He et al. 2016a ("Deep Residual Learning for Image Recognition", CVPR), Table 6: CIFAR-10
test error (%) of the residual CIFAR nets (option A shortcuts), the best of 5 runs for 110.
The plain nets of their Fig. 6 are given only as curves, so no number is taken from it.
"""
from __future__ import annotations

HE_2016_CIFAR10_TEST_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}
HE_2016_SOURCE = "He et al. 2016, Table 6 (residual, option A)"

# The zoo's recipe (checkpoints/zoo.sh): every shipped CIFAR-10 run uses these settings;
# a run that differs from it in any field is drawn and labelled as its own condition.
SHARED_RECIPE = {
    "epochs": 20, "batch_size": 128, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
    "schedule": "cosine", "warmup_epochs": 1.0, "label_smoothing": 0.0, "augment": True,
}
RESNET18_EPOCHS = 15  # seed 000's length, used for the resnet18 runs of the zoo
