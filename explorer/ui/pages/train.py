import time
from pathlib import Path

import streamlit as st
import torch

from explorer.jobs import queue as jobs
from explorer.data import DataError
from explorer.models import ModelSpec
from explorer.train import SCHEDULES, SEED_LIMIT, TrainConfig, recommended_defaults
from explorer import settings
from explorer.ui.common import guarded, model_widgets, own_root
from explorer.ui.datasets import SHARED_ZIP, download_button
from explorer.ui.import_panel import import_panel
from explorer.ui.progress import duration
from explorer.ui.words import app_words

NORM_FREE = {"none": "the default initialisation", "skipinit": "SkipInit (branch scale 0)",
             "fixup": "Fixup initialisation"}
DATA_CHOICES = ["digits (offline, tiny)", "CIFAR-10 JPEG zip", "CIFAR-10 (torchvision)", "image folder or .zip"]


def parse_seeds(text: str) -> list[int]:
    """Seeds as the trainer accepts them: 1 to 10 distinct integers in [0, SEED_LIMIT)."""
    try:
        seeds = [int(s) for s in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"Seeds must be whole numbers separated by commas, e.g. 0, 1, 2; got {text[:40]!r}.") from None
    if not seeds or len(seeds) > 10 or any(not 0 <= s < SEED_LIMIT for s in seeds):
        raise ValueError(f"Give between 1 and 10 seeds, each a whole number from 0 to {SEED_LIMIT - 1}, e.g. 0, 1, 2.")
    return list(dict.fromkeys(seeds))


def data_source(choice: str, path: str) -> tuple[str, bool]:
    """The trainer's data source for the form's choice (checked), and whether it may be downloaded."""
    if choice.startswith("digits"):
        return "digits", False
    if choice == "CIFAR-10 (torchvision)":
        return "cifar10", True
    if not path.strip():
        raise ValueError("Give the path of the data folder or .zip.")
    settings.check_data_path(path)
    p = Path(path).expanduser()
    if not p.exists():
        raise ValueError(f"{settings.shorten(path)} does not exist; expected a folder or .zip with train/<class>/* and test/<class>/*.")
    return str(p.resolve()), False


@guarded
def form():
    st.title("Train")
    cuda = torch.cuda.is_available()
    st.caption(("CUDA is available: " + torch.cuda.get_device_name(0)) if cuda else "No CUDA GPU here: training runs on the CPU.")
    download_button("tr_download_cifar")
    prefill = st.session_state.get("train_prefill") or {}
    # outside the form, so that the defaults below follow the data set as soon as it changes
    choice = st.radio("Data set", DATA_CHOICES, index=1 if SHARED_ZIP.exists() else 0, key="tr_data", horizontal=True)
    rec = {**TrainConfig().to_dict(), **recommended_defaults("digits" if choice.startswith("digits") else choice)}
    per_data = DATA_CHOICES.index(choice)  # widget keys per data set: a value the user changed stays with its data set
    with st.form("train_form"):
        c1, c2 = st.columns(2)
        with c1:
            st.markdown("**Data**")
            path = st.text_input("Path (zip, folder, or torchvision root)", value=str(SHARED_ZIP) if SHARED_ZIP.exists() else "",
                                 key="tr_path")
            download = st.checkbox("download CIFAR-10 if missing (needs internet)", key="tr_download")
            subset = st.number_input("Training subset (0 = all images)", min_value=0, value=0, step=1000, key="tr_subset")
            augment = st.checkbox("augment (random crop + flip)", value=rec["augment"], key=f"tr_augment_{per_data}")
            if choice.startswith("digits"):
                st.caption("Defaults for digits: no augmentation and batch 64 (the trainer's recommended defaults): "
                           "random crops garble the 8x8 digits.")
        with c2:
            st.markdown("**Model**")
            family, depth, residual, batchnorm = model_widgets("tr", prefill)
            scheme = st.selectbox("Without BatchNorm, train it with", list(NORM_FREE), format_func=NORM_FREE.get,
                                  key="tr_scheme",
                                  help="Only for a residual net without BatchNorm (ignored otherwise): SkipInit "
                                       "(De & Smith 2020) or Fixup (Zhang et al. 2019), two ways to make it trainable "
                                       "without normalisation.")
        st.markdown("**Schedule**")
        c3, c4, c5 = st.columns(3)
        d = TrainConfig()
        epochs = c3.number_input("Epochs", min_value=1, max_value=500, value=15, key="tr_epochs")
        batch = c3.number_input("Batch size", min_value=2, max_value=4096, value=rec["batch_size"],
                                key=f"tr_batch_{per_data}")
        lr = c4.number_input("Learning rate", min_value=0.0, value=d.lr, format="%.4f", key="tr_lr")
        schedule = c4.selectbox("Schedule", SCHEDULES, key="tr_schedule")
        warmup = c5.number_input("Warm-up epochs", min_value=0.0, value=0.0, key="tr_warmup")
        seeds_text = c5.text_input("Seeds", value="0", key="tr_seeds", help="comma-separated, one run a seed")
        c6, c7, c8 = st.columns(3)
        momentum = c6.number_input("Momentum (Nesterov)", min_value=0.0, max_value=0.999, value=d.momentum, key="tr_mom")
        wd = c6.number_input("Weight decay", min_value=0.0, value=d.weight_decay, format="%.5f", key="tr_wd")
        smoothing = c7.number_input("Label smoothing", min_value=0.0, max_value=0.99, value=0.0, key="tr_ls")
        bf16 = c7.checkbox("bf16 autocast", key="tr_bf16", help="On the CPU too: fast where the CPU has AMX (on by default on CUDA).")
        device = c8.selectbox("Device", ["auto", "cpu", "cuda"], key="tr_device")
        submitted = st.form_submit_button("Queue training", type="primary")
    if not submitted:
        return
    try:
        seeds = parse_seeds(seeds_text)
        extra = {} if batchnorm or not residual else {"skipinit": {"branch_scale": "skipinit"},
                                                       "fixup": {"init": "fixup"}}.get(scheme, {})
        spec = ModelSpec(family, int(depth), residual, batchnorm, **extra)
        cfg = TrainConfig(epochs=int(epochs), batch_size=int(batch), lr=float(lr), momentum=float(momentum),
                          weight_decay=float(wd), schedule=schedule, warmup_epochs=float(warmup),
                          label_smoothing=float(smoothing), subset=int(subset) or None, seed=seeds[0], device=device,
                          augment=augment, bf16=True if bf16 else None,
                          log_every=5).validate()  # progress every few batches (digits has 20 an epoch)
        source, may_download = data_source(choice, path)
        job = jobs.submit(own_root(), spec, cfg, seeds, source, owner=session_owner(), download=may_download and download,
                          max_active=settings.max_queue() if settings.deploy_mode() else None)
    except (ValueError, DataError) as e:
        st.error(app_words(str(e)))
        return
    st.session_state.setdefault("my_jobs", []).append(job.id)
    st.success(f"Queued: {job.spec.name}, {len(seeds)} seed(s), {job.train.epochs} epochs on {job.data_name}. "
               "It trains in the background; progress below.")


def job_labels(all_jobs) -> dict[str, str]:
    """Job id -> a short label, unique: two jobs of one recipe are told apart by when they were queued."""
    def base(j):
        seeds = f"seed {j.seeds[0]}" if len(j.seeds) == 1 else f"seeds {', '.join(map(str, j.seeds[:4]))}" + (
            "…" if len(j.seeds) > 4 else "")
        if j.resume:
            return f"{j.spec.name}, resuming run {j.resume}"
        return f"{j.spec.name}, {seeds}, {j.train.epochs} ep, lr {j.train.lr:g}, {settings.shorten(j.data_name, 20)}"
    out = {j.id: base(j) for j in all_jobs}
    for j in all_jobs:
        if list(out.values()).count(base(j)) > 1:
            out[j.id] = f"{base(j)} · queued {time.strftime('%H:%M:%S', time.localtime(j.created))}"
    for j in all_jobs:  # queued within one second: the job's id
        if list(out.values()).count(out[j.id]) > 1:
            out[j.id] = f"{base(j)} · {j.id}"
    return out


@st.fragment(run_every=2)
@guarded
def job_panel():
    root = own_root()
    all_jobs = jobs.tick(root, settings.max_running())
    if not all_jobs:
        st.caption("No training jobs yet.")
        return
    st.subheader("Jobs")
    names = job_labels(all_jobs)
    for job in reversed(all_jobs[-12:]):
        prog = job.progress or {}
        cols = st.columns([5, 1])
        with cols[0]:
            st.markdown(f"**{names[job.id]}** — {job.status}", help=job.label)
            if job.status == "running" and prog.get("steps"):
                frac = min(1.0, prog["step"] / prog["steps"])
                acc = f", test accuracy {100 * prog['test_acc']:.1f}%" if "test_acc" in prog else ""
                # the estimate was made when the event was written: count down the time since
                left = max(0.0, prog.get("eta_s", 0) - max(0.0, time.time() - prog.get("time", time.time())))
                st.progress(frac, text=f"epoch {int(prog['epoch'])}/{int(prog['epochs'])}, step {int(prog['step'])}/"
                                       f"{int(prog['steps'])}, loss {prog['loss']:.3f}{acc}; about {duration(left)} left")
            elif job.status == "running":
                st.progress(0.0, text="loading data…")
            if job.message:
                (st.error if job.status == "failed" else st.caption)(job.message)
            for r in job.results:
                st.caption(f"seed {r.seed}: {result_text(root, r)}" + (f" → run {r.run_id}" if r.run_id else ""))
        with cols[1]:
            mine = job.id in st.session_state.get("my_jobs", []) or not settings.deploy_mode()
            if job.status in ("queued", "running") and mine:
                if st.button("Cancel", key=f"cancel_{job.id}"):
                    jobs.cancel(root, job.id)
            resumable = [r.run_id for r in job.results if r.status == "cancelled" and r.run_id
                         and not any(j.resume == r.run_id and j.status in jobs.ACTIVE for j in all_jobs)]
            for rid in resumable if mine else []:
                if st.button("Resume", key=f"resume_{job.id}_{rid}", help=f"continue run {rid} from its last epoch"):
                    try:
                        new = jobs.resume(root, rid, owner=session_owner())
                        st.session_state.setdefault("my_jobs", []).append(new.id)
                    except (ValueError, OSError) as e:
                        st.error(app_words(str(e)))
    if any(j.status == "finished" for j in all_jobs):
        st.caption(f"Finished runs are in {root}/ and appear in the sidebar under *own runs*.")


def result_text(root, r) -> str:
    """A seed's outcome in words: a finished run's test accuracy, a diverged or cancelled run's reason."""
    from explorer.runs import RunError, open_run
    if r.status == "finished" and r.run_id:
        try:
            final = open_run(root, r.run_id).record.final
        except (RunError, ValueError, OSError):
            final = None
        if final is not None and final.test_acc is not None:
            return f"finished, test accuracy {100 * final.test_acc:.1f}%"
    return r.status + (f" ({r.reason})" if r.reason and r.status != "failed" else "")


def session_owner() -> str:
    return st.session_state.setdefault("session_owner", f"s{time.time_ns()}")


@guarded
def manage_panel():
    from explorer.runs import delete_run, list_runs

    runs = list_runs(own_root(), validate=False).runs
    if settings.deploy_mode():  # on a shared server a session deletes only what it made
        runs = [r for r in runs if r.record.provenance.owner == session_owner()]
    if not runs:
        return
    with st.expander("Delete own runs"):
        pick = st.selectbox("Run", [r.id for r in runs], key="del_pick")
        if st.button("Delete", key="del_go"):
            delete_run(own_root(), pick)
            st.success(f"Deleted {pick}.")


form()
import_panel(session_owner())
manage_panel()
job_panel()
