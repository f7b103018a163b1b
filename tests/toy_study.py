"""A toy study, declared in one file: the mean absolute logit of the probe set, per class."""
from dataclasses import dataclass

import altair as alt
import pandas as pd
import torch

from explorer.data import normalize
from explorer.studies.catalog import Study, setting
from explorer.studies.catalog.base import check_settings


@dataclass(frozen=True)
class ToySettings:
    scale: int = setting(2, flag="--toy-scale", label="Scale", help="toy: multiply the logits by this", lo=1, hi=10)

    def __post_init__(self):
        check_settings(self)


def compute(run, inputs, s, progress=None):
    with torch.no_grad():
        logits = run.load_model().eval()(normalize(inputs.probe.images, inputs.mean, inputs.std))
    y = inputs.probe.labels
    return pd.DataFrame({"cls": range(int(y.max()) + 1),
                         "value": [float(s.scale * logits[y == c].abs().mean()) for c in range(int(y.max()) + 1)]})


STUDY = Study(name="toy", title="toy study", about="The mean absolute logit per class (a test of the registry).",
              settings=ToySettings, compute=compute,
              chart=lambda df, colors=None: alt.Chart(df).mark_line().encode(x="cls:Q", y="value:Q"),
              summarise=lambda depth, df, nets: f"- Depth {depth}: toy values {df['value'].mean():.3f}.",
              report_intro="The toy study.", page_fields=("scale",))
