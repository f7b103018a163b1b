"""The studies as objects, declared once (``base.Study``), registered once (``registry``), and their cached
tables (``tables.study_table``): what the CLI, the Mechanisms page, the background jobs, the report and the
verdict read."""
from .base import REGISTRY, Study, StudyError, get, register, setting, unregister
from .registry import REGISTRY as _registered  # noqa: F401 (fills the registry)
from .tables import study_table

__all__ = ["REGISTRY", "Study", "StudyError", "get", "register", "setting", "unregister", "study_table"]
