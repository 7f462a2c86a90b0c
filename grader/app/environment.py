"""What a run takes from the machine it runs on: the solutions folder, the seed from the environment, the
sandbox layers in effect."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import ConfigError

if TYPE_CHECKING:
    from grader.sandbox.layers import Layer


def solutions_folder(chosen: Path | None) -> Path:
    """--solutions, else $GRADER_SOLUTIONS, else ./solutions; ConfigError if it is not a folder."""
    folder = chosen or Path(os.environ.get("GRADER_SOLUTIONS") or "solutions")
    if not folder.is_dir():
        raise ConfigError(f"solutions folder {folder} not found: pass --solutions DIR or set GRADER_SOLUTIONS")
    return folder


def seed(option: int | None) -> int | None:
    """--seed, else $GRADER_SEED, else None: each assignment's rubric seed."""
    if option is not None:
        return option
    text = os.environ.get("GRADER_SEED")
    if text:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"GRADER_SEED must be an integer, not {text!r}") from None
    return None


def sandbox_layers() -> tuple[Layer, ...]:
    """The sandbox layers a probe child finds on this machine."""
    from grader.sandbox.pipeline import Pipeline  # here: every command imports this module, few ask for the layers

    with Pipeline([], 1) as pipeline:
        return pipeline.layers()
