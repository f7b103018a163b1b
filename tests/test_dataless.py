"""A user's machine: a copy of the project with no ../shared beside it and empty data roots.

The shipped zoo must still be analysable (from the shipped probe set), every page must draw,
and what truly needs the full data must say how to get it.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r'''
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=600)
at.run()
out = {"pages": {}}
at.sidebar.radio(key="pick_mode").set_value("runs by name").run()
ms = at.sidebar.multiselect(key="pick_runs")
ms.set_value(ms.options).run()
for page in ("overview", "runs", "train", "curves", "gradients", "separability", "mechanisms"):
    at.switch_page(f"explorer/ui/pages/{page}.py").run()
    out["pages"][page] = {"errors": [e.value for e in at.error] + [str(e.value) for e in at.exception],
                          "text": " ".join([m.value for m in at.markdown] + [i.value for i in at.info]
                                           + [c.value for c in at.caption])}
    if page == "separability":
        if any(b.key == "sp_go" for b in at.button):
            at.button(key="sp_go").click().run()
        df = at.dataframe[0].value
        out["table"] = json.loads(df.to_json(orient="records"))
print("RESULT" + json.dumps(out))
'''


def test_zoo_is_analysable_without_any_data(tmp_path):
    clone = tmp_path / "user" / "residual-explorer"  # no ../shared beside it
    shutil.copytree(ROOT / "explorer", clone / "explorer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "app.py", clone / "app.py")
    if (ROOT / ".streamlit").is_dir():
        shutil.copytree(ROOT / ".streamlit", clone / ".streamlit")
    (clone / "checkpoints").mkdir()
    shutil.copytree(ROOT / "checkpoints" / "probe", clone / "checkpoints" / "probe")
    picked = sorted(p for p in (ROOT / "checkpoints").iterdir() if p.name.startswith(("resnet20-s0", "resnet20-nores-s0")))
    for p in picked:
        shutil.copytree(p, clone / "checkpoints" / p.name)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EXPLORER_DATA": str(empty), "EXPLORER_CACHE": str(tmp_path / "cache"),
           "EXPLORER_RUNS": str(tmp_path / "own"), "PYTHONPATH": str(clone)}
    env.pop("EXPLORER_ZOO", None)
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.split("RESULT", 1)[1])
    for page, seen in out["pages"].items():
        assert not seen["errors"], (page, seen["errors"])
    table = out["table"]
    assert {row["run_id"] for row in table} == {p.name for p in picked}
    for run_id in {row["run_id"] for row in table}:
        stages = {row["stage"] for row in table if row["run_id"] == run_id}
        assert stages == {"stage0", "stage1", "stage2", "stage3"}
    assert all(row["value"] is not None for row in table), "every stage has a finite value"
    assert all(row["probe_hash"] == "30e8e303155797f8" for row in table)  # the shipped probe set
    # training needs the full data: the pages say how to get it
    assert "download-cifar10" in out["pages"]["overview"]["text"] or "Download CIFAR-10" in out["pages"]["overview"]["text"]
