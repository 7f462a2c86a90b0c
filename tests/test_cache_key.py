"""The content cache's key changes with anything that can change a verdict, the grader's own code included."""

from __future__ import annotations

import shutil

from grader import store
from tests.notebooks import SOLUTIONS


def test_a_change_to_the_graders_code_is_a_new_cache_key(tmp_path, monkeypatch):
    source = tmp_path / "grader"
    shutil.copytree(store._GRADER_SOURCE, source, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(store, "_GRADER_SOURCE", source)
    limits = {"timeout": 10.0}
    before = store.run_fingerprint(SOLUTIONS / "backward_pass", "backward_pass", 1, limits)
    assert store.run_fingerprint(SOLUTIONS / "backward_pass", "backward_pass", 1, limits) == before
    (source / "judge" / "scoring.py").write_text((source / "judge" / "scoring.py").read_text() + "\n# a fix\n")
    assert store.run_fingerprint(SOLUTIONS / "backward_pass", "backward_pass", 1, limits) != before
