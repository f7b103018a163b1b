"""Runs: the typed record, conditions and labels, the store on disk, and its bounded file reads."""
from .conditions import (Labels, condition_fields, condition_id, did_not_train, label_runs, main_experiment, main_runs,
                         replicates, series_labels)
from .files import RunError, load_gradlog, load_weights_into, save_gradlog, write_weights
from .locks import acquire_lock, lock_alive, release_lock
from .record import (STATUSES, DataInfo, Final, ImportSource, Provenance, RecordError, RunRecord, parse_record)
from .store import (BrokenRun, Listing, Run, create_run, delete_run, escaped_name, list_runs, load_resume_state,
                    new_run_id, open_run, run_path, save_epoch, update_record, validate_run, versions, write_record)
from ..settings import zoo_root

DEFAULT_ROOT = zoo_root()

__all__ = [
    "Labels", "condition_fields", "condition_id", "did_not_train", "label_runs", "main_experiment", "main_runs", "replicates", "series_labels", "RunError", "load_gradlog",
    "load_weights_into", "save_gradlog", "write_weights", "acquire_lock", "lock_alive", "release_lock", "STATUSES",
    "DataInfo", "Final", "ImportSource", "Provenance", "RecordError", "RunRecord", "parse_record", "BrokenRun",
    "Listing", "Run", "create_run", "delete_run", "escaped_name", "list_runs", "load_resume_state", "new_run_id",
    "open_run", "run_path", "save_epoch", "update_record", "validate_run", "versions", "write_record", "DEFAULT_ROOT",
]
