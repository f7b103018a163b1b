"""`evaluate`: test accuracy, loss and per-class accuracy of a run on its full test split, stored in its record."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from explorer.data import CIFAR10_CLASSES, load_digits, normalize
from explorer.analysis.evaluation import EvaluationError, eval_data, evaluate_run, store_evaluation
from explorer.importer import import_file
from explorer.models import build_model
from explorer.runs import DataInfo, list_runs, open_run
from explorer.analysis.run_tables import runs_table
from helpers import akamaster_layout

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture
def store(digits_runs, tmp_path):
    """A private copy of the finished resnet8 (FULL, seed 0) digits run: evaluating writes its record."""
    src = next(r for r in list_runs(digits_runs).runs if r.id.startswith("resnet8-s0"))
    shutil.copytree(src.path, tmp_path / "runs" / src.id)
    return tmp_path / "runs", src.id


def _manual(model, data, mean, std):
    """Accuracy, mean cross-entropy and per-class accuracy, computed in one pass without the evaluator."""
    with torch.no_grad():
        logits = model.eval()(normalize(data.test_x, mean, std))
    pred, y = logits.argmax(1), data.test_y
    per = [float((pred[y == c] == c).double().mean()) for c in range(data.num_classes)]
    return float((pred == y).double().mean()), float(F.cross_entropy(logits, y)), per


def test_accuracy_equals_a_manual_computation(store, digits):
    root, rid = store
    run = open_run(root, rid)
    calls = []
    final = evaluate_run(run, digits, lambda done, n: calls.append((done, n)), device="cpu", batch_size=128)
    mean, std = torch.tensor(run.record.data.mean), torch.tensor(run.record.data.std)
    acc, loss, per = _manual(run.load_model(), digits, mean, std)
    assert final.test_acc == pytest.approx(acc, abs=1e-12)
    assert final.test_loss == pytest.approx(loss, rel=1e-5)
    assert final.test_per_class == pytest.approx(per, abs=1e-12)
    assert final.evaluated_on == f"scikit-learn digits (8x8 upsampled to 32x32), {len(digits.test_y)} test images"
    assert final.train_acc == run.record.final.train_acc  # the training numbers are kept
    n = len(digits.test_y)
    assert calls[-1] == (n, n) and [c[0] for c in calls] == sorted(c[0] for c in calls) and len(calls) == -(-n // 128)
    assert 0.5 < acc <= 1.0  # a trained model: the check is not trivially passed by chance level


def test_record_is_updated_atomically(store, digits, monkeypatch):
    root, rid = store
    run = open_run(root, rid)
    final = evaluate_run(run, digits, device="cpu")
    before = (run.path / "config.json").read_bytes()
    import explorer.atomic as atomic

    def crash(*a):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", crash)  # the writer dies just before its rename
    with pytest.raises(OSError):
        store_evaluation(open_run(root, rid), final)
    assert (run.path / "config.json").read_bytes() == before
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    store_evaluation(open_run(root, rid), final)
    rec = open_run(root, rid, validate=True).record
    assert rec.final == final and rec.final.test_per_class == final.test_per_class


def test_imported_run_gets_its_test_accuracy(store, digits, tmp_path):
    root, rid = store
    source = open_run(root, rid)
    th = tmp_path / "resnet8-digits.th"
    model = source.load_model()
    torch.save({"state_dict": akamaster_layout(model), "best_prec1": 99.0}, th)
    from explorer.jobs.runner import data_info
    run = import_file(th, model.spec, root, data_info=data_info(digits, "digits"))
    assert run.record.final is None and runs_table([run])["test_acc"].isna().all()
    final = evaluate_run(run, eval_data(run), device="cpu")
    store_evaluation(run, final)
    assert final.test_acc == pytest.approx(evaluate_run(source, digits, device="cpu").test_acc, abs=1e-12)
    assert final.test_acc == pytest.approx(source.record.final.test_acc, abs=1e-12)  # as measured during training
    table = runs_table([open_run(root, run.id)])
    assert table["test_acc"].iloc[0] == pytest.approx(final.test_acc)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def test_cli_evaluate_with_progress_bar(store):
    root, rid = store
    r = _cli("evaluate", rid, "--root", root, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert f"{rid}: test acc " in r.stdout and "test images" in r.stdout and "per class: 0 " in r.stdout
    assert "540/540" in r.stderr  # tqdm's bar, on stderr
    rec = open_run(root, rid).record
    assert f"test acc {100 * rec.final.test_acc:.2f}%" in r.stdout
    r = _cli("runs", "--root", root)
    assert f"{100 * rec.final.test_acc:.2f}%" in r.stdout


def _imported(root: Path, data: DataInfo | None):
    torch.manual_seed(0)
    m = build_model("resnet8")
    f = root.parent / "w.th"
    torch.save({"state_dict": akamaster_layout(m)}, f)
    return import_file(f, m.spec, root, data_info=data)


@pytest.mark.parametrize("data,match", [
    (DataInfo("cifar10", "cifar10", "CIFAR-10", "", tuple(CIFAR10_CLASSES)),
     "The test images of CIFAR-10 for run .* are not on this machine; get CIFAR-10 with "
     r"`python -m explorer download-cifar10`, or give the path of a copy \(--data\)\."),
    (DataInfo("/nonexistent/set.zip", "/nonexistent/set.zip", "set.zip", "", tuple("abcdefghij")),
     r"are not on this machine; give the path of a copy of /nonexistent/set.zip \(--data\)\."),
    (None, r"does not say which data set it was trained on; give one \(--data\): digits, cifar10"),
])
def test_missing_data_is_one_sentence(tmp_path, data, match, monkeypatch, explorer_cli):
    run = _imported(tmp_path / "runs", data)
    env = {"EXPLORER_DATA": str(tmp_path / "empty")}
    r = _cli("evaluate", run.id, "--root", tmp_path / "runs", "--no-progress", env=env)  # the real command
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert __import__("re").search(match, r.stderr), r.stderr
    assert open_run(tmp_path / "runs", run.id).record.final is None
    monkeypatch.setenv("EXPLORER_DATA", env["EXPLORER_DATA"])
    code, out, err = explorer_cli("evaluate", run.id, "--root", tmp_path / "runs", "--no-progress", "--data", "digits")
    if data is None:  # --data supplies what the record lacks
        assert code == 0 and "on scikit-learn digits" in out, err
    else:  # another data set with other classes is refused, not silently scored
        assert code == 2 and "was trained on classes" in err, err


@pytest.mark.parametrize("given,match", [
    ("cifar10", r"^CIFAR-10 is not on this machine; get CIFAR-10 with `python -m explorer download-cifar10`, or give "
                r"the path of a copy \(--data\)\.$"),
    ("/nope/x.zip", r"^/nope/x.zip is not on this machine; give the path of an existing folder or .zip with "),
])
def test_missing_given_data_is_one_sentence(tmp_path, monkeypatch, given, match):
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path / "empty"))
    with pytest.raises(EvaluationError, match=match):
        eval_data(_imported(tmp_path / "runs", None), given)


def test_wrong_number_of_classes_is_refused(tmp_path, digits):
    from explorer.importer import ImportRefused
    with pytest.raises(ImportRefused, match="resnet8 has 10 outputs but set.zip has 2 classes"):
        _imported(tmp_path / "runs", DataInfo("set.zip", "set.zip", "set.zip", "", ("a", "b")))
    torch.manual_seed(0)
    m = build_model("resnet8", num_classes=3)
    f = tmp_path / "w3.pt"
    torch.save(m.state_dict(), f)
    run = import_file(f, m.spec, tmp_path / "runs")
    with pytest.raises(EvaluationError, match="model has 3 outputs but scikit-learn digits .* has 10 classes"):
        evaluate_run(run, digits)


# ----------------------------------------------------------------------------- the app's import panel
@pytest.fixture
def app(digits_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_ZOO", str(digits_runs))
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path / "own"))
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path / "no-cifar"))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    return at.switch_page("explorer/ui/pages/train.py").run()


def test_app_import_then_evaluate(app, tmp_path, digits):
    torch.manual_seed(4)
    src = build_model("resnet20")
    buf = __import__("io").BytesIO()
    torch.save({"state_dict": akamaster_layout(src), "best_prec1": 91.2}, buf, _use_new_zipfile_serialization=False)
    at = app
    assert set(at.file_uploader(key="imp_file").allowed_type) == {".th", ".tar", ".ckpt", ".bin", ".pt", ".pth", ".safetensors"}
    at.file_uploader(key="imp_file").set_value(("resnet20-12fca82f.th", buf.getvalue(), "application/octet-stream")).run()
    assert at.selectbox(key="imp_data_choice").value is None  # no silent default data set
    assert any("suggests CIFAR-10" in c.value for c in at.caption)  # the common CIFAR ResNet file name
    at.button(key="imp_go").click().run()
    assert any("Choose the data set" in e.value for e in at.error)
    at.selectbox(key="imp_data_choice").set_value("digits").run()
    at.selectbox(key="imp_norm").set_value("custom").run()
    at.text_input(key="imp_norm_custom").set_value("0.5,0.5,0.5/0.5,0.5,0.5")
    at.button(key="imp_go").click().run()
    assert any("confirm that these weights were trained on digits" in e.value for e in at.error)
    assert not (tmp_path / "own").exists() or not list_runs(tmp_path / "own").runs  # nothing imported unconfirmed
    at.checkbox(key="imp_digits_ok").check().run()
    at.button(key="imp_go").click().run()
    assert not at.error and not at.exception, [e.value for e in at.error]
    assert any("Imported as resnet20" in s.value for s in at.success)
    (run,) = list_runs(tmp_path / "own").runs
    assert run.record.data.normalization == "custom" and run.record.data.mean == (0.5, 0.5, 0.5)
    at.button(key=f"imp_eval_{run.id}").click().run()
    assert not at.error and not at.exception, [e.value for e in at.error]
    rec = open_run(tmp_path / "own", run.id).record
    expected = evaluate_run(open_run(tmp_path / "own", run.id), digits, device="cpu")
    assert rec.final.test_acc == pytest.approx(expected.test_acc, abs=1e-12)
    assert any(f"test accuracy {100 * rec.final.test_acc:.2f}%" in s.value for s in at.success)
    at.run()
    assert not [b for b in at.button if b.key == f"imp_eval_{run.id}"]  # evaluated: no longer offered


def test_app_evaluate_without_the_data_says_how_to_get_it(app, tmp_path):
    run = _imported(tmp_path / "own", DataInfo("cifar10", "cifar10", "CIFAR-10", "", tuple(CIFAR10_CLASSES)))
    at = app.run()
    at.button(key=f"imp_eval_{run.id}").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    # in the app's words: the button that fetches it, not the command line (issue 30)
    assert len(errors) == 1 and "*Download CIFAR-10*" in errors[0] and errors[0].endswith("."), errors
    assert "python -m" not in errors[0] and "--data" not in errors[0], errors
    assert open_run(tmp_path / "own", run.id).record.final is None


def test_app_refuses_a_bad_normalization(app, tmp_path):
    buf = __import__("io").BytesIO()
    torch.save(build_model("resnet20").state_dict(), buf)
    at = app
    at.file_uploader(key="imp_file").set_value(("w.pt", buf.getvalue(), "application/octet-stream"))
    at.selectbox(key="imp_data_choice").set_value("unknown")
    at.selectbox(key="imp_norm").set_value("custom").run()
    at.text_input(key="imp_norm_custom").set_value("0.5,0.5/0.5")
    at.button(key="imp_go").click().run()
    assert any("needs three means" in e.value for e in at.error) and not at.exception
    assert not (tmp_path / "own").exists() or not list_runs(tmp_path / "own").runs
