"""Tables as pages show them (issue 30): values before identifiers, a missing value as "-", never "None"."""
import numpy as np
import pandas as pd

from explorer.ui.tables import blank_missing, values_first


def test_values_first_and_no_none():
    df = pd.DataFrame({"run_id": ["a", "b"], "label": ["x", "y"], "accuracy": [0.5, np.nan], "note": [None, "ok"],
                       "condition": ["c", "c"]})
    out = blank_missing(values_first(df))
    assert list(out.columns) == ["accuracy", "note", "label", "run_id", "condition"]
    assert out["note"].tolist() == ["-", "ok"]
