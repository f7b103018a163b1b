"""The Train page's import panel: upload weights trained elsewhere, and evaluate own runs that lack a test accuracy."""
from __future__ import annotations

import streamlit as st

from .. import settings
from ..models import ModelSpec
from .common import guarded, model_widgets, own_root
from .datasets import SHARED_ZIP, dataset_for

NORM_CHOICES = {"data": "the data set's own statistics", "cifar10": "CIFAR-10 (0.4914, 0.4822, 0.4465 / 0.2470, 0.2435, 0.2616)",
                "imagenet": "ImageNet (0.485, 0.456, 0.406 / 0.229, 0.224, 0.225)", "custom": "custom: M1,M2,M3/S1,S2,S3"}


def _normalization():
    from ..importer import parse_normalization

    kind = st.selectbox("Input normalisation the weights expect", list(NORM_CHOICES), format_func=NORM_CHOICES.get,
                        key="imp_norm", help="the mean and std the training code subtracted and divided by, "
                                             "in [0, 1] pixel units")
    custom = st.text_input("Custom mean / std (M1,M2,M3/S1,S2,S3)", value="", key="imp_norm_custom",
                           disabled=kind != "custom")
    return lambda: parse_normalization(custom if kind == "custom" else kind)


DATA_CHOICES = {"cifar-zip": "CIFAR-10 (the JPEG copy's zip)", "cifar10": "CIFAR-10 (torchvision's files)",
                "digits": "digits (scikit-learn's 8x8, upsampled)", "path": "another folder or .zip", "unknown": "unknown"}


def suggest_data(filename: str) -> str | None:
    """The data set a checkpoint's file name suggests: CIFAR-10 for the common CIFAR ResNet files
    (``resnet20-12fca82f.th``, names with "cifar"), digits for names with "digits"; None otherwise."""
    import re
    name = (filename or "").lower()
    if "digits" in name:
        return "digits"
    if "cifar" in name or re.fullmatch(r"resnet\d+-[0-9a-f]{8}\.th", name):
        return "cifar-zip" if SHARED_ZIP.exists() else "cifar10"
    return None


def _trained_on(up) -> tuple[str | None, bool]:
    """The data set the user says the weights were trained on (no silent default), and whether it is confirmed."""
    hint = suggest_data(up.name) if up is not None else None
    choice = st.selectbox("Data set it was trained on", list(DATA_CHOICES), format_func=DATA_CHOICES.get, index=None,
                          placeholder="choose the data set the weights were trained on", key="imp_data_choice",
                          help="It decides which test images the run is evaluated on and which probe set it is analysed "
                               "with; a wrong one gives wrong numbers without a word.")
    if hint and choice is None:
        st.caption(f"The file's name suggests {DATA_CHOICES[hint]}.")
    path = st.text_input("Folder or .zip", value="", key="imp_data_path", disabled=choice != "path")
    confirmed = True
    if choice == "digits":  # every model here takes 32x32 RGB input: digits and CIFAR-10 models look alike
        confirmed = st.checkbox("Yes, these weights were trained on digits (a CIFAR-10 model evaluated on digits "
                                "scores near chance)", key="imp_digits_ok")
    source = {"cifar-zip": str(SHARED_ZIP), "cifar10": "cifar10", "digits": "digits", "path": path.strip(),
              "unknown": ""}.get(choice)
    return source, confirmed


def _upload(owner: str) -> None:
    from ..importer import EXTENSIONS, import_file
    from ..jobs.runner import data_info

    st.caption("The format is judged from the file's bytes (safetensors, PyTorch zip, or PyTorch before 1.6); PyTorch files "
               "are read with weights_only=True, so a file that would run code is refused, and sizes are checked "
               "before anything is unpacked. Key names of the common CIFAR ResNet code (conv1/bn1/layerN/linear, "
               "`module.` prefixes, `{'state_dict': ...}` wrappers) and torchvision (downsample/fc) are mapped.")
    up = st.file_uploader("Weights file", type=[e.lstrip(".") for e in EXTENSIONS], key="imp_file")
    family, depth, residual, batchnorm = model_widgets("imp")
    trained_on, confirmed = _trained_on(up)
    norm = _normalization()
    if not st.button("Import", key="imp_go"):
        return
    if up is None:
        st.error("Choose a weights file first.")
        return
    if trained_on is None:
        st.error("Choose the data set the weights were trained on (or 'unknown').")
        return
    if not confirmed:
        st.error("Tick the box to confirm that these weights were trained on digits, or choose another data set.")
        return
    cap = settings.max_upload_bytes()
    if up.size > cap:  # refused by its declared size, before its bytes are parsed
        st.error(f"{settings.shorten(up.name, 80)} is {up.size / 1e6:.1f} MB; this server accepts at most {cap / 1e6:.0f} MB.")
        return
    normalization = norm()
    info, spec = None, ModelSpec(family, int(depth), residual, batchnorm)
    if trained_on.strip():
        if trained_on.strip() not in ("digits", "cifar10"):
            settings.check_data_path(trained_on)
        ds = dataset_for(trained_on.strip())
        info = data_info(ds, trained_on.strip())
        spec = ModelSpec(family, int(depth), residual, batchnorm, num_classes=ds.num_classes)
    run = import_file(None, spec, own_root(), data=up.getvalue(), filename=up.name, max_bytes=cap, data_info=info,
                      normalization=normalization, owner=owner)
    st.success(f"Imported as {spec.label}: run {run.id}. It is listed under *own runs*; evaluate it below.")


def _unevaluated(owner: str):
    from ..runs import list_runs

    runs = [r for r in list_runs(own_root(), validate=False).runs
            if r.status in ("finished", "imported") and (r.record.final is None or r.record.final.test_acc is None)]
    if settings.deploy_mode():  # on a shared server a session evaluates only what it made
        runs = [r for r in runs if r.record.provenance.owner == owner]
    return runs


def _evaluate(owner: str) -> None:
    from ..analysis.evaluation import eval_data, evaluate_run, store_evaluation

    runs = _unevaluated(owner)
    if not runs:
        return
    st.markdown("**Evaluate** (test accuracy, loss and per-class accuracy on the full test split)")
    override = st.text_input("Data set to evaluate on (blank: the one each run records)", value="",
                             key="imp_eval_data").strip()
    for r in runs:
        c1, c2 = st.columns([5, 1])
        c1.caption(f"{r.id} ({r.spec.label}, {r.record.data.description}): no test accuracy yet")
        if not c2.button("Evaluate", key=f"imp_eval_{r.id}"):
            continue
        if override and override not in ("digits", "cifar10"):
            settings.check_data_path(override)
        data = eval_data(r, override or None, loader=dataset_for)
        bar = st.progress(0.0, text=f"evaluating {r.id} on {data.description}…")
        final = evaluate_run(r, data, lambda i, n: bar.progress(i / n, text=f"{i} / {n} test images"))
        store_evaluation(r, final)
        st.success(f"{r.id}: test accuracy {100 * final.test_acc:.2f}% on {final.evaluated_on}.")


@guarded
def import_panel(owner: str) -> None:
    """The panel; ``owner`` is the app session that imports (deploy mode keeps sessions' runs apart)."""
    with st.expander("Import a model trained elsewhere, or evaluate own runs"):
        guarded(_upload)(owner)
        guarded(_evaluate)(owner)
