"""Combining the results.json of every shard (`grade --shard K/N`) into the reports of one class."""

from __future__ import annotations

import json
from pathlib import Path

from grader import records
from grader.errors import ConfigError
from grader.models import Grade
from grader.report.class_reports import ClassInfo
from grader.report.summary import ClassSummary, SummaryBuilder

_SAME_EVERYWHERE = ("grader_version", "assignment", "max_score")


def load(paths: list[Path]) -> tuple[ClassInfo, list[tuple[int, Grade]]]:
    """The class and its grades in the order of the whole class, from shard reports (files or folders)."""
    documents, entries, shards = [], [], set()
    for given in paths:
        path = given / "results.json" if given.is_dir() else given
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            shard = document["shard"]
            shards.add((int(shard["index"]), int(shard["count"])))
            entries += [(int(entry.pop("position")), entry) for entry in document["submissions"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigError(f"{path} is not the results.json of a `grade --shard K/N` run ({error!r})") from None
        documents.append(document)
    first = documents[0]
    for document in documents[1:]:
        differing = [name for name in _SAME_EVERYWHERE if document[name] != first[name]]
        if differing:
            raise ConfigError(f"the shards differ in {', '.join(differing)}: they are not one run")
    counts = {count for _, count in shards}
    if len(counts) != 1 or len(shards) != len(paths):
        raise ConfigError("each shard must be given once, all from the same --shard K/N split")
    missing = sorted(set(range(1, counts.pop() + 1)) - {index for index, _ in shards})
    if missing:
        raise ConfigError(f"shard(s) {', '.join(map(str, missing))} missing: merge needs every shard")
    entries.sort(key=lambda entry: entry[0])
    if len({position for position, _ in entries}) != len(entries):
        raise ConfigError("two shards hold the same submission")
    grades = [(position, records.from_record(entry)) for position, entry in entries]
    steps = tuple(step["name"] for step in entries[0][1]["steps"]) if entries else ()
    info = ClassInfo(first["assignment"], first["shard"]["title"], steps, first["max_score"])
    return info, grades


def summarise(info: ClassInfo, grades: list[tuple[int, Grade]]) -> ClassSummary:
    builder = SummaryBuilder(info.step_names, info.max_score)
    for _, grade in grades:
        builder.add(grade)
    return builder.build()
