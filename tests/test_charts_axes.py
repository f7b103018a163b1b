"""Epoch axes start at epoch 1 with whole-number ticks (a 2-epoch run got ticks 1.05, 1.10 and an axis from 0)."""
import pandas as pd

from explorer.charts.common import curves_chart, gap_chart


def _x(spec: dict) -> dict:
    layers = spec.get("layer", [spec])
    return next(l["encoding"]["x"] for l in layers if "encoding" in l and "x" in l["encoding"]) \
        if "layer" in spec else spec["encoding"]["x"]


def test_epoch_axes_start_at_one_with_integer_ticks():
    hist = pd.DataFrame({"epoch": [1, 2, 1, 2], "split": ["train", "train", "test", "test"], "accuracy": [.5, .6, .4, .5],
                         "run": "r", "status": "finished", "condition_label": "c", "group": "g", "group_label": "g"})
    gap = pd.DataFrame({"epoch": [1, 2], "gap": [.1, .1], "run": "r", "condition_label": "c"})
    for chart in (curves_chart(hist), curves_chart(hist, band_kind="std"), gap_chart(gap)):
        x = _x(chart.to_dict())
        assert x["scale"]["domainMin"] == 1 and x["axis"]["format"] == "d" and x["axis"]["tickMinStep"] == 1
