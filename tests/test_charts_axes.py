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


def test_one_hue_per_variant_and_a_legend_entry_for_every_series_drawn():
    from explorer.charts.common import VARIANT_COLORS, color_map, degradation_chart
    colors = color_map({"resnet20 (FULL)": "FULL", "resnet20-nores (Nres)": "Nres", "resnet20 (FULL), digits": "FULL",
                        "no run drawn": "Nbn"})
    assert colors["resnet20 (FULL)"] == VARIANT_COLORS["FULL"] == color_map({"residual + BN": "FULL"})["residual + BN"]
    assert len(set(colors.values())) == len(colors), "a second condition of a variant gets a shade of its hue"
    hist = pd.DataFrame({"epoch": [1, 2] * 2, "split": "test", "accuracy": [.5, .6, .4, .5], "run": ["a", "a", "b", "b"],
                         "status": "finished", "condition_label": ["resnet20 (FULL)"] * 2 + ["resnet20-nores (Nres)"] * 2,
                         "group": "g", "group_label": "g"})
    domain = curves_chart(hist, splits=("test",), colors=colors).to_dict()["encoding"]["color"]["scale"]["domain"]
    assert domain == ["resnet20 (FULL)", "resnet20-nores (Nres)"], "the legend lists exactly the series drawn"
    deg = pd.DataFrame({"family": "cifar", "series": ["s1", "s2"], "net": ["plain + BN", "residual + BN"], "depth": 20,
                        "test_error": [10.0, 8.0], "variant": ["Nres", "FULL"], "run_id": ["a", "b"]})
    spec = degradation_chart(deg, colors=color_map({"residual + BN": "FULL", "plain + BN": "Nres"})).to_dict()
    ref = [l for l in spec["layer"] if l.get("mark", {}).get("type") == "line" and "strokeDash" in l.get("encoding", {})]
    assert ref and ref[0]["mark"]["color"] == "black", "He et al.'s line is drawn dashed, in black"
    assert ref[0]["encoding"]["strokeDash"]["legend"]["orient"] == "bottom"
    assert any(l.get("mark", {}).get("type") == "text" for l in spec["layer"]), "and labelled at its end"
