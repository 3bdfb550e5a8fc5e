"""Errors of the evaluation harness, in the project's one exception tree (``models.errors``)."""

from __future__ import annotations

from models.errors import ConfigError, SmartReplyError

__all__ = ["DatasetError", "EvalConfigError"]


class DatasetError(SmartReplyError, ValueError):
    """A data file is missing, of the wrong format, or inconsistent with its partner file."""

    code = "dataset_error"


class EvalConfigError(ConfigError):
    """An evaluation option or system spec that cannot be run (unknown system, bad switch)."""

    code = "eval_config_error"
