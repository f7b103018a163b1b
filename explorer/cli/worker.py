"""`worker JOB_FILE`: train what a job file asks for, writing progress and a result file beside it.

Started by the app's job queue (explorer.jobs.queue); not meant to be typed by hand.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..atomic import atomic_write_json
from .common import Bar, Stopper


def add_parser(sub):
    w = sub.add_parser("worker", help="run a queued training job (used by the app)")
    w.add_argument("job_file", type=Path)
    return w


JOB_CAP = 1024 * 1024  # a job file is a few KB


def read_job(path: Path):
    """The job in ``path``, through the reading door and validated; a ValueError of one sentence otherwise."""
    from ..atomic import FileRefused, read_json_capped
    from ..jobs.queue import Job, JobError

    try:
        job = Job.from_json(read_json_capped(path, JOB_CAP, what="job file"))
    except (FileRefused, JobError) as e:
        raise ValueError(f"Not a usable job file: {e}") from None
    if path.name != f"{job.id}.json":
        raise ValueError(f"Not a usable job file: {path.name} holds job {job.id}; a job file is named <id>.json.")
    return job


def run(a) -> int:
    from ..jobs.queue import SeedResult
    from ..jobs.runner import progress_file_writer
    from .train import train_seeds

    job = read_job(a.job_file)
    base = a.job_file.with_suffix("")
    result_file, progress_file = Path(f"{base}.result.json"), Path(f"{base}.progress.json")
    results: list[SeedResult] = []

    def write(error: str = "") -> None:
        atomic_write_json(result_file, {"results": [dataclasses.asdict(r) for r in results], "error": error})

    def on_result(seed, run_, res) -> None:
        results.append(SeedResult(seed, None if run_ is None else run_.id, res.status, res.message))
        write()

    bar = Bar(enabled=False)
    bar.also = progress_file_writer(progress_file)
    write()
    try:
        return train_seeds(job.spec, job.train, job.seeds, job.data, Path(job.root), download=job.download, bar=bar,
                           should_stop=Stopper(), on_result=on_result)
    except BaseException as e:
        done = {r.seed for r in results}
        failed = next((s for s in job.seeds if s not in done), job.seeds[0])
        reason = str(e)[:500] if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"[:500]
        results.append(SeedResult(failed, getattr(e, "run_id", None), "cancelled" if isinstance(e, KeyboardInterrupt) else "failed", reason))
        write(reason)
        if isinstance(e, (ValueError, OSError, KeyboardInterrupt)):
            return 2
        raise
