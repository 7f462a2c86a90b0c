"""Importing the instructor's Python files of an assignment folder (the case module, the oracle)."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

from grader.errors import ConfigError, InternalError

CASE_FUNCTIONS = ("public_inputs", "hidden_inputs", "arguments")


def load_module(path: Path, what: str) -> types.ModuleType:
    """Import an instructor's Python file of the solutions folder; `what` names it in errors."""
    spec = importlib.util.spec_from_file_location(f"backprop_grader_{path.stem}_{abs(hash(path))}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ConfigError(f"{what} {path} is missing")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise InternalError(f"{what} {path} fails to import: {error!r}") from None
    return module


def load_cases_module(path: Path) -> types.ModuleType:
    """The case module, with the functions the case builder calls."""
    module = load_module(path, "case definition")
    for name in CASE_FUNCTIONS:
        if not callable(getattr(module, name, None)):
            raise ConfigError(f"case definition {path} does not define {name}()")
    return module
