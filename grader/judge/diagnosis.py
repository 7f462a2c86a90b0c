"""Recognising known mistakes: a failing step matched numerically against the misconception catalogue.

The catalogue is instructor data (a TOML file of the solutions folder, named by the rubric's
[feedback] table). Each entry is an alternative formula for one step, evaluated the way the
reference's own step formulas are for error carried forward: over the graded function's
arguments and the earlier steps, with the student's own earlier values, so a mistake is
recognised even downstream of another one. Runs in the grader's process on decoded float64
arrays only.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grader import compare, formulas
from grader.assignment import Catalogue, Misconception, Rubric
from grader.judge import earned
from grader.models import Case, Diagnosis, Tolerance


def diagnose(catalogue: Catalogue, rubric: Rubric, cases: Sequence[Case], values: Sequence[Mapping[str, Any]],
             wrong: Mapping[str, Sequence[int]]) -> tuple[Diagnosis, ...]:
    """The known mistakes behind the failing steps, at most one per step.

    `values` holds the student's decoded step values on each case that ran; `wrong` maps each
    failing step to the cases where its value was judged wrong. A formula of an entry matches
    when it equals the student's value on every case where the student produced one; it is
    supported by the cases that tell it apart (`_telling`). Of the entries whose formula matches
    with support, the best-supported names the step's mistake: right values alone, or values from
    which nothing can be read (zeros, tiny numbers, one number repeated, an input handed back, the
    same value on every case), never earn a diagnosis,
    and two mistakes of one step are never both claimed.
    """
    diagnoses = []
    for step in rubric.step_names:
        if step not in wrong:
            continue
        produced = [index for index, found_values in enumerate(values) if isinstance(found_values.get(step), np.ndarray)]
        if not set(produced) & set(wrong[step]):
            continue
        if not earned.varies([values[index][step] for index in produced], rubric.tolerance):
            continue  # one value on every case: computed from nothing, it tells no mistake
        entries = [entry for entry in catalogue.entries if entry.step == step]
        candidates = _Candidates(catalogue, entries, cases, values, step, rubric)
        matching = [(entry, formula) for entry in entries for formula in range(len(entry.formulas))
                    if all(_same_value(values[index][step], candidates.value(entry, formula, index), rubric.tolerance)
                           for index in produced)]
        telling = [index for index in produced if index in wrong[step]]
        # One candidate needs one case that tells it apart; several are ranked by how many do.
        supported = [(_support(candidates, entry, formula, telling, values, cases, step, rubric, len(matching) > 1),
                      position, entry) for position, (entry, formula) in enumerate(matching)]
        best = max(supported, key=lambda item: (item[0], -item[1]), default=None)
        if best is not None and best[0] > 0:
            diagnoses.append(Diagnosis(step, best[2].name, best[2].message))
    if not any(diagnosis.step in rubric.returns for diagnosis in diagnoses):
        diagnoses += _through_the_returned_values(catalogue, rubric, cases, values, wrong)
    return tuple(diagnoses)


def _support(candidates: _Candidates, entry: Misconception, formula: int, telling: Sequence[int],
             values: Sequence[Mapping[str, Any]], cases: Sequence[Case], step: str, rubric: Rubric, count: bool) -> int:
    """How many of the wrong cases tell this formula apart (`count`), or 1 if any does."""
    told = (_telling(candidates.on(index), entry, formula, values[index], cases[index], step, rubric) for index in telling)
    return sum(told) if count else int(any(told))


_Computed = tuple[dict[Misconception, list[np.ndarray | None]], np.ndarray | None]


class _Candidates:
    """Every formula's value for one step (None where it raises) and the reference's own, each evaluated once, when asked.

    Most entries differ from the student's value on the first case looked at: asking lazily evaluates
    them there only.
    """

    def __init__(self, catalogue: Catalogue, entries: Sequence[Misconception], cases: Sequence[Case],
                 values: Sequence[Mapping[str, Any]], step: str, rubric: Rubric) -> None:
        self._catalogue, self._entries, self._cases, self._values = catalogue, entries, cases, values
        self._step, self._steps = step, rubric.steps
        self._evaluated: dict[tuple[int, int, int], np.ndarray | None] = {}
        self._position = {id(entry): position for position, entry in enumerate(entries)}
        self._right: dict[int, np.ndarray | None] = {}

    def value(self, entry: Misconception, formula: int, index: int) -> np.ndarray | None:
        key = (self._position[id(entry)], formula, index)
        if key not in self._evaluated:
            self._evaluated[key] = formulas.evaluate(entry.formulas[formula], self._catalogue.namespace, self._steps,
                                                     self._cases[index], self._values[index], self._step)
        return self._evaluated[key]

    def on(self, index: int) -> _Computed:
        """On one case: every formula's value for the step, and the reference's own."""
        if index not in self._right:
            self._right[index] = formulas.evaluate(self._catalogue.steps[self._step], self._catalogue.namespace,
                                                   self._steps, self._cases[index], self._values[index], self._step)
        computed = {entry: [self.value(entry, formula, index) for formula in range(len(entry.formulas))]
                    for entry in self._entries}
        return computed, self._right[index]


def _telling(computed: _Computed, entry: Misconception, formula: int, found: Mapping[str, Any], case: Case,
             step: str, rubric: Rubric) -> bool:
    """Whether this case tells the entry's formula apart from the right formula and from the step's other entries.

    It does when the student's value and every wrong earlier value of theirs are neither degenerate
    nor an input handed back (or all ones), and the formula's value there is informative and differs
    from the reference's and from every other entry's.
    """
    tolerance = rubric.tolerance
    formulas, right = computed
    value = formulas[entry][formula]
    arguments = [np.asarray(argument, dtype=np.float64) for argument in case.arguments.values()]

    def unreadable(own: np.ndarray) -> bool:
        return earned.degenerate(own, tolerance) or earned.recycled(own, arguments, tolerance)

    if value is None or unreadable(found[step]) or not earned.informative(value, tolerance):
        return False
    names = rubric.step_names
    upstream = [found.get(name) for name in names[: names.index(step)]]
    if any(isinstance(own, np.ndarray) and not _same_value(own, case.expected[name], tolerance) and unreadable(own)
           for own, name in zip(upstream, names)):
        return False
    rivals = [other for rival, values in formulas.items() if rival is not entry for other in values] + [right]
    return not any(rival is not None and _same_value(rival, value, tolerance) for rival in rivals)


def _same_value(got: np.ndarray, value: np.ndarray | None, tolerance: Tolerance) -> bool:
    return value is not None and _same(got, value, tolerance)


def _through_the_returned_values(catalogue: Catalogue, rubric: Rubric, cases: Sequence[Case],
                                 values: Sequence[Mapping[str, Any]], wrong: Mapping[str, Sequence[int]]) -> list[Diagnosis]:
    """Mistakes in steps the student computed under other names, recognised in the values returned.

    For a step with no value of the student's on any case, each of its entries is carried through
    the reference's later step formulas (the student's own later values where they have them);
    when that gives the student's wrong returned values on every case, and on at least one case
    the returned values are not degenerate and differ from every other entry's carried values,
    the entry names the mistake (the best-supported one per step).
    """
    returned = [name for name in rubric.returns if name in wrong]
    produced = [index for index, found in enumerate(values)
                if all(isinstance(found.get(name), np.ndarray) for name in returned)]
    if not returned or not produced or not any(set(produced) & set(wrong[name]) for name in returned):
        return []
    if not all(earned.varies([values[index][name] for index in produced], rubric.tolerance) for name in returned):
        return []
    unnamed = [step for step in rubric.step_names
               if step not in rubric.returns and not any(isinstance(found.get(step), np.ndarray) for found in values)]
    found_here = []
    for step in unnamed:
        entries = [entry for entry in catalogue.entries if entry.step == step]
        carried = {index: {(entry, number): _carried(formula, catalogue, cases[index], values[index], step, returned, rubric)
                           for entry in entries for number, formula in enumerate(entry.formulas)} for index in produced}
        support = {}
        for key in (key for key in carried[produced[0]]):
            if all(_gives(carried[index][key], values[index], returned, rubric.tolerance) for index in produced):
                support[key] = sum(_tells_returned(carried[index], key, values[index], returned, rubric.tolerance)
                                   for index in produced if any(index in wrong[name] for name in returned))
        best = max(support, key=lambda key: support[key], default=None)
        if best is not None and support[best] > 0:
            entry = best[0]
            found_here.append(Diagnosis(step, entry.name, f"{entry.message} (Recognised in the values your function returns.)"))
    return found_here


def _carried(formula: types.CodeType, catalogue: Catalogue, case: Case, found: Mapping[str, Any], step: str,
             returned: Sequence[str], rubric: Rubric) -> dict[str, np.ndarray] | None:
    """The returned values the mistake in `step` gives, carried through the later formulas; None if it raises."""
    names = rubric.step_names
    carried = dict(found)
    carried[step] = formulas.evaluate(formula, catalogue.namespace, rubric.steps, case, carried, step, chained=True)
    for later in names[names.index(step) + 1:]:
        own = found.get(later)
        if not (isinstance(own, np.ndarray) and later not in rubric.returns):
            carried[later] = formulas.evaluate(catalogue.steps[later], catalogue.namespace, rubric.steps, case, carried,
                                               later, chained=True)
    if any(carried.get(name) is None for name in [step, *returned]):
        return None  # shapes that do not broadcast: not what the student computed
    return {name: carried[name] for name in returned}


def _gives(carried: dict[str, np.ndarray] | None, found: Mapping[str, Any], returned: Sequence[str],
           tolerance: Tolerance) -> bool:
    return carried is not None and all(_same(found[name], carried[name], tolerance) for name in returned)


def _tells_returned(carried: Mapping[tuple, dict[str, np.ndarray] | None], key: tuple, found: Mapping[str, Any],
                    returned: Sequence[str], tolerance: Tolerance) -> bool:
    """Whether the student's returned values here are not degenerate and no other entry gives them too."""
    if any(earned.degenerate(found[name], tolerance) for name in returned):
        return False
    return not any(other[0] is not key[0] and _gives(values, found, returned, tolerance) for other, values in carried.items())


def _same(got: np.ndarray, value: np.ndarray, tolerance: Tolerance) -> bool:
    """Equal within tolerance with the same shape; single numbers match whatever their number of axes."""
    if got.shape != value.shape:
        if not got.size == value.size == 1:
            return False
        got = got.reshape(value.shape)
    return compare.all_close(got, value, tolerance)
