"""Where an assignment's files are: the folder, and the files its rubric.toml names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """The files of one assignment folder, by their names in the rubric."""

    directory: Path
    notebook: str
    """File name of the reference notebook (and of the stub)."""
    cases_module: str
    misconceptions: str | None = None
    """File holding the misconception catalogue ([feedback] table), if any."""
    oracle: str | None = None
    """Python file computing the returned values independently ([feedback] table), if any."""

    @property
    def reference(self) -> Path:
        return self.directory / self.notebook

    @property
    def cases(self) -> Path:
        return self.directory / self.cases_module


def layout_from(data: dict, directory: Path) -> Layout:
    """The file names of a parsed rubric.toml; KeyError, TypeError or ValueError when one is missing or bad."""
    feedback = data.get("feedback", {})
    return Layout(directory, str(data["assignment"]["notebook"]), str(data["cases"]["module"]),
                  _optional_name(feedback, "misconceptions"), _optional_name(feedback, "oracle"))


def _optional_name(table: dict, key: str) -> str | None:
    return None if table.get(key) is None else str(table[key])
