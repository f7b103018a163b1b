"""Progress for slow work (issue 30): a data set being decoded reports how far it has got, bars give the
time left from the measured rate, and a study's cost in passes becomes a time before it is computed."""
import time

from explorer.data.folder import load_folder
from explorer.data.progress import listening
from explorer.models import parse_model_name
from explorer.ui import progress
from helpers import image_tree, write_zip


def test_decoding_a_zip_reports_to_the_listener_and_to_nobody_without_one(tmp_path):
    z = write_zip(tmp_path / "tiny.zip", image_tree(n_train=6, n_test=4))
    heard = []
    with listening(lambda what, done, total: heard.append((what, done, total))):
        ds = load_folder(z, cache_dir=False)
    assert len(ds.train_y) == 18
    assert ("decoding tiny.zip", 18, 18) in heard and ("decoding tiny.zip", 12, 12) in heard
    heard.clear()
    load_folder(write_zip(tmp_path / "other.zip", image_tree(n_train=2, n_test=2)), cache_dir=False)
    assert heard == [], "outside a listening block nobody is told"


def test_time_left_is_measured_from_the_rate_so_far():
    assert progress.duration(40) == "40 s" and progress.duration(1093) == "18 min 13 s"
    assert progress.duration(5000) == "1 h 23 min"
    eta = progress.Eta(start=time.monotonic() - 30)  # 30 s spent
    assert eta.left(0.25) == "about 1 min 30 s left"  # a quarter done in 30 s: 90 s to go
    assert eta.left(0.0) == "", "nothing measured yet: no guess"


def test_a_study_cost_in_passes_becomes_a_time(monkeypatch):
    monkeypatch.setattr(progress, "seconds_per_image", lambda spec_json, batch=250: 0.005)
    spec = parse_model_name("resnet20")
    text = progress.study_estimate("163 passes over 1000 images a run", [spec, spec])
    assert text.startswith("about 27 min 10 s for 2 run(s)"), text  # 2 x 163 x 1000 x 5 ms
    assert progress.study_estimate("a few forward passes", [spec]) == ""
