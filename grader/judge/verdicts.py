"""The verdicts: for every step and every case that ran, the check against the reference and whether it passed
only by error carried forward.

Decides right and wrong, and nothing about points or words. A step's value on a case passes
directly when it matches the reference. Otherwise it passes by error carried forward when it
matches what the reference computes from the student's own earlier values (the carried value),
and such passes stand only when earned as a whole: at least half of them (one at the least) could
have failed (`_could_fail`: the carried value informative, the wrong earlier values on the scale of
the right ones, the carried value depending on them, and not an input or another step's value
handed back), and the student's value is not the same on every case. The rule and its reasons are
in docs/feedback.md.

The table is filled lazily and remembered, because judging is on the batch's hot path: one
vectorised comparison per step settles the cases that are right (most of them); a direct check is
made once per (step, case) however often scoring and messages ask; carried values are evaluated
only for wrong values with a wrong earlier step; and whether a carried match could have failed is
asked case by case only until the step's answer is known.

Where the function raised inside a loop, per-iteration steps are judged as far as the code ran:
each such case is cut to the reference's first rows (`_as_far_as_ran`), and `cases` holds the cut
cases every later judgement uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from grader import compare, formulas
from grader.assignment import Reference, Rubric
from grader.compare import Check
from grader.judge import earned, wording
from grader.judge.evidence import ABSENT, NEVER_IN_LOOP, NO_LOOP, CaseRun, StudentRun
from grader.models import Case, Tolerance

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """One step on one case: its check against the reference, and whether it passed only by error carried forward."""

    check: Check
    carried: bool = False

    @property
    def ok(self) -> bool:
        return self.check.ok


PASSED = Verdict(compare.PASSED)
_CARRIED = Verdict(compare.PASSED, True)


class Verdicts:
    """The per-case verdicts of one completed run, filled lazily (see the module's docstring)."""

    def __init__(self, rubric: Rubric, cases: list[Case], run: StudentRun, reference: Reference | None):
        self.rubric, self.run, self.reference = rubric, run, reference
        # Not cut when it raised on every case: then such rows earn nothing (nothing ran to the end).
        raised_everywhere = bool(run.cases) and all(case.exception for case in run.cases)
        self._cut: list[frozenset[str]] = [frozenset()] * len(cases)
        self.cases = list(cases)
        """The cases, each cut to the iterations that ran where the function raised inside a loop."""
        if not raised_everywhere:
            for index, case_run in enumerate(run.cases):
                if case_run.raised_in_loop:
                    self.cases[index], self._cut[index] = _as_far_as_ran(cases[index], case_run, rubric.iteration_steps)
        self._direct: dict[tuple[str, int], Check] = {}
        self._checked: dict[tuple[str, int], Verdict] = {}
        self._carried_at: dict[tuple[str, int], tuple[dict, np.ndarray]] = {}
        """Each carried-forward pass's (student values, carried value): whether it could have failed is asked lazily."""
        self._depends: dict[str, bool] = {}
        self._upstream: dict[tuple[str, int], list[str]] = {}
        self._step_names = rubric.step_names
        self.per_iteration = frozenset(rubric.iteration_steps)
        self._got = {step: [case.values.get(step, ABSENT) for case in run.cases] for step in self._step_names}
        self._passing = {step: self._all_close(step, cases) for step in rubric.step_names}
        self._table: dict[str, tuple[Verdict, ...]] | None = None

    def table(self) -> dict[str, tuple[Verdict, ...]]:
        """Every step's verdicts, one per case that ran, carried-forward passes kept only where earned (remembered)."""
        if self._table is None:
            raw = {step: [PASSED if index in self._passing[step] else self._check(step, index)
                          for index in range(len(self.run.cases))] for step in self._step_names}
            self._table = {step: self._earned_or_undone(step, verdicts) for step, verdicts in raw.items()}
        return self._table

    def value(self, step: str, index: int):
        """The student's decoded value of `step` on case `index`, or ABSENT."""
        return self._got[step][index]

    def first_wrong_row(self, step: str, index: int) -> int | None:
        """For a per-iteration step with values per iteration on this case, the first iteration that is wrong."""
        got, expected = self.value(step, index), self.cases[index].expected[step]
        if step not in self.per_iteration or not isinstance(got, np.ndarray) or got.ndim == 0:
            return None
        rows = range(min(len(got), len(expected), len(self.cases[index].positions.get(step, ()))))
        return next((row for row in rows
                     if not compare.check(got[row], expected[row], self.rubric.tolerance, explain=False).ok), None)

    def _all_close(self, step: str, cases: list[Case]) -> frozenset[int]:
        """Cases whose value of `step` has the expected shape and is finite and within tolerance.

        One vectorised comparison over every case at once, against the expected values laid end to
        end once per run (`_Expected`): on a right step (most of them) it replaces one comparison per
        case, and `compare.check` would pass exactly these. A case cut to the iterations that ran
        has its own, shorter expected value: judged alone.
        """
        got, tolerance = self._got[step], self.rubric.tolerance
        laid, ndarray = _laid_out(cases, step, tolerance), np.ndarray
        own = [index for index, case in enumerate(self.cases) if case is not cases[index]]
        members = [index for index, shape in zip(laid.indices, laid.shapes)
                   if type(got[index]) is ndarray and got[index].shape == shape]
        if own:
            members = [index for index in members if index not in own]
        passing = laid.passing([got[index] for index in members], members) if members else []
        for index in own:
            case = self.cases[index]
            if step not in self._cut[index]:
                value, expected = got[index], case.expected[step]
                if type(value) is np.ndarray and value.shape == expected.shape and expected.size:
                    with np.errstate(invalid="ignore", over="ignore"):
                        if (np.isfinite(value) & compare.close(value, expected, tolerance)).all():
                            passing.append(index)
        return frozenset(passing)

    def _direct_check(self, step: str, index: int) -> Check:
        """The check of the student's own value against the reference's, remembered."""
        if index in self._passing[step]:
            return compare.PASSED
        key = (step, index)
        if key not in self._direct:
            got = self.value(step, index)
            case = self.cases[index]
            if step in self.per_iteration:
                self._direct[key] = self._iteration_check(step, index, None if got is ABSENT else got)
            else:
                self._direct[key] = compare.check(None if got is ABSENT else got, case.expected[step],
                                                  self.rubric.tolerance, explain=case.public, words=self.rubric.words)
        return self._direct[key]

    def _iteration_check(self, step: str, index: int, got) -> Check:
        """A per-iteration step's values against the reference's, naming the first wrong iteration."""
        case, rubric = self.cases[index], self.rubric
        expected, positions = case.expected[step], case.positions.get(step, ())
        if got is NO_LOOP:
            return wording.computed_without_loop(rubric)
        if not isinstance(got, np.ndarray) or got.ndim == 0:
            return compare.check(got, expected, rubric.tolerance, explain=case.public)
        word = rubric.iteration[-1]
        for row in range(min(len(got), len(expected))):
            check = compare.check(got[row], expected[row], rubric.tolerance, explain=case.public, words=rubric.words)
            if not check.ok:
                return wording.wrong_from(rubric.label(positions[row]) if row < len(positions) else f"{word} {row + 1}",
                                          check)
        case_run = self.run.cases[index]
        if len(got) < len(expected) and case_run.exception:
            return wording.right_until_raised(rubric, rubric.label(positions[len(got) - 1]), case_run.exception,
                                              step in case_run.partial)
        if len(got) != len(expected):
            return wording.iteration_count(rubric, len(got), len(expected))
        return wording.AS_FAR_AS_RAN if step in self._cut[index] else compare.PASSED

    def _check(self, step: str, index: int) -> Verdict:
        """The verdict of `step` on case `index` before the earned rule, remembered."""
        key = (step, index)
        if key not in self._checked:
            self._checked[key] = self._fresh_check(step, index)
        return self._checked[key]

    def _fresh_check(self, step: str, index: int) -> Verdict:
        got = self.value(step, index)
        direct = self._direct_check(step, index)
        if direct.ok or got is ABSENT or got is None or isinstance(got, str):
            return Verdict(direct)
        found = self._carried_scope(step, index)
        carried = None if found is None else self._evaluate(step, index, found)
        if carried is not None and compare.check(got, carried, self.rubric.tolerance, explain=False).ok:
            self._carried_at[(step, index)] = (found, carried)
            return _CARRIED
        return Verdict(direct)

    def _earned_or_undone(self, step: str, verdicts: list[Verdict]) -> tuple[Verdict, ...]:
        """A step's verdicts, its carried-forward passes undone unless they are earned as a whole.

        They are earned when at least half of them (one at the least) could have failed, and the
        step does not give one and the same value on every case. A carried match that could not have
        failed (a saturated case, where every value is below the tolerance) then neither counts for
        the step nor against it.
        """
        carried = [index for index, verdict in enumerate(verdicts) if verdict.carried]
        if earned.varies([self.value(step, index) for index in carried], self.rubric.tolerance):
            # Asked case by case only until the answer is known: each question evaluates formulas.
            needed, could_fail = (len(carried) + 1) // 2 if carried else 1, 0
            for position, index in enumerate(carried):
                could_fail += self._could_fail(step, index, *self._carried_at[(step, index)])
                if could_fail >= needed or could_fail + len(carried) - position - 1 < needed:
                    break
            if could_fail >= needed:
                return tuple(verdicts)
        for index in carried:
            self._checked[(step, index)] = Verdict(self._direct_check(step, index))
        return tuple(self._checked[(step, index)] if index in carried else verdict
                     for index, verdict in enumerate(verdicts))

    def _carried_scope(self, step: str, index: int) -> dict | None:
        """The student's own earlier step values on this case, when one of those is wrong.

        Once any earlier step is wrong, every earlier value the student produced is used, even
        those within tolerance: a tiny wrong value (a saturated sigmoid) must not be swapped back
        for the reference's and then blamed on the later step. The formula also sees the
        arguments and the reference's own locals (`formulas`).
        """
        if self.reference is None:
            return None
        # Checked before building anything: most steps of most cases have only right inputs.
        if not self._wrong_upstream_on(step, index):
            return None
        names = self._step_names[: self._step_names.index(step) + 1]
        return {name: got for name in names if isinstance(got := self.value(name, index), np.ndarray)}

    def _input_dependent(self, step: str) -> bool:
        """Whether the student's values of `step` change with the inputs' values (earned.input_dependent), remembered."""
        if step not in self._depends:
            self._depends[step] = earned.input_dependent(self._got[step], self.rubric.tolerance)
        return self._depends[step]

    def _wrong_upstream_on(self, step: str, index: int) -> list[str]:
        """The earlier steps whose value on this case is the student's own and wrong, remembered."""
        key = (step, index)
        if key not in self._upstream:
            self._upstream[key] = [earlier for earlier in self._step_names[: self._step_names.index(step)]
                                   if isinstance(self._got[earlier][index], np.ndarray)
                                   and not self._direct_check(earlier, index).ok]
        return self._upstream[key]

    def _evaluate(self, step: str, index: int, found: dict) -> np.ndarray | None:
        """What the reference computes for `step` from the student's values; None when their shapes do not fit it."""
        assert self.reference is not None
        return formulas.evaluate(self.reference.formulas[step], self.reference.namespace, self.rubric.steps,
                                 self.cases[index], found, step)

    def _could_fail(self, step: str, index: int, found: dict, carried: np.ndarray) -> bool:
        """Whether matching the carried value on this case could have failed (docs/feedback.md, "Earned credit").

        The carried value must be well above the tolerance and not one number repeated; every wrong
        earlier value it comes from must be on the scale of the value it stands for; scaling those
        values must change it (it depends on them as the reference's does); and it must not be all
        ones, an input, an earlier value or another step's right value, which a student can hand
        back without computing anything.
        """
        tolerance, case = self.rubric.tolerance, self.cases[index]
        if earned.degenerate(carried, tolerance):
            return False
        wrong = self._wrong_upstream_on(step, index)
        if not all(earned.comparable(found[name], case.expected[name], tolerance) for name in wrong):
            return False
        # A wrong earlier value that is the same on every case of a shape (1.0, ones) was computed from
        # nothing: what the reference makes of it is a formula with that factor left out, not this step.
        if not all(self._input_dependent(name) for name in wrong):
            return False
        perturbed = self._evaluate(step, index, {**found, **{name: found[name] * earned.PERTURBATION for name in wrong}})
        if perturbed is None or earned.same(perturbed, carried, tolerance):
            return False
        others = [np.asarray(value, dtype=np.float64) for value in case.arguments.values()]
        others += [found[name] for name in self._step_names if name in found and name != step]
        others += [case.expected[name] for name in self._step_names if name != step]
        if step in self.per_iteration:
            # An iteration's value that is an input or another step's value of that iteration, on every iteration.
            rows = [[other[row] for other in others[len(case.arguments):] if other.shape[:1] == carried.shape[:1]]
                    for row in range(len(carried))]
            arguments = others[: len(case.arguments)]
            if all(earned.recycled(carried[row], arguments + rows[row], tolerance) for row in range(len(carried))):
                return False
        return not earned.recycled(carried, others, tolerance)


class Remembered:
    """The verdicts of the runs judged lately in this grading run, found again by the evidence they were made from.

    Students who make one mistake the same way send bit for bit the same values, and the same
    values get the same verdicts: those are worked out once (error carried forward and the earned
    rule are most of judging a wrong submission). A run is found only by the SHA-256 of all its
    cases (every value's dtype, shape and bytes, the text of every exception and reason,
    the steps cut short or changed in place, the markers of steps computed without a loop by
    identity): any difference is a new entry. The rubric, cases and reference are this object's
    own, so every verdict it gives is the one `Verdicts` would give. The last `size` are kept,
    each with what was worked out from it (`worked_out`).
    """

    def __init__(self, rubric: Rubric, cases: list[Case], reference: Reference | None, size: int = 32) -> None:
        self.rubric, self.cases, self.reference, self._size = rubric, cases, reference, size
        self._kept: OrderedDict[bytes, Verdicts] = OrderedDict()
        self._derived: dict[int, tuple[Verdicts, dict[Hashable, tuple[object, object]]]] = {}
        self._documents: OrderedDict[bytes, tuple[StudentRun, Verdicts]] = OrderedDict()

    def found(self, digest: bytes | None) -> tuple[StudentRun, Verdicts] | None:
        """The run and verdicts of a child's document judged lately, found by the SHA-256 of its bytes
        (`SandboxReply.digest`), or None: the same bytes parse to the same run, so neither is worked out again."""
        entry = self._documents.get(digest) if digest is not None else None
        if entry is not None:
            self._documents.move_to_end(digest)
        return entry

    def keep(self, digest: bytes | None, run: StudentRun, verdicts: Verdicts) -> None:
        """Remember `run` (parsed from the document whose bytes have this SHA-256) and its verdicts (`of`)."""
        if digest is None:
            return
        self._documents[digest] = (run, verdicts)
        if len(self._documents) > self._size:
            self._documents.popitem(last=False)

    def of(self, run: StudentRun) -> Verdicts:
        """The verdicts of `run`, worked out now or found again."""
        key = _evidence_digest(run.cases)
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
            return found
        made = Verdicts(self.rubric, self.cases, run, self.reference)
        self._kept[key] = made
        self._derived[id(made)] = (made, {})
        if len(self._kept) > self._size:
            _, evicted = self._kept.popitem(last=False)
            del self._derived[id(evicted)]
        return made

    def worked_out(self, verdicts: Verdicts, key: Hashable, owner: object, make: Callable[[], T]) -> T:
        """`make()`, found again for verdicts this object gave and the same `key` and `owner` (by identity).

        For what is a function of the run's values and verdicts, `owner` (an object it also reads)
        and `key` alone: the same evidence then gives the same answer. Verdicts this object does not
        keep are worked out afresh.
        """
        entry = self._derived.get(id(verdicts))
        if entry is None or entry[0] is not verdicts:
            return make()
        derived = entry[1]
        found = derived.get(key)
        if found is not None and found[0] is owner:
            return found[1]  # type: ignore[return-value]
        made = make()
        derived[key] = (owner, made)
        return made


def _evidence_digest(cases: tuple[CaseRun, ...]) -> bytes:
    """The SHA-256 of everything `Verdicts` reads of a run's cases: every part's length, then the parts (no two runs alike)."""
    parts: list[bytes] = []
    for case in cases:
        parts.append(_case_header(case))
        for name, value in case.values.items():
            parts.append(name.encode())
            if type(value) is np.ndarray:
                parts.append(_array_header(value))
                parts.append(value.tobytes())
            elif value is NO_LOOP or value is NEVER_IN_LOOP:
                # Told apart by identity, not by their text (which a reason string could repeat).
                parts.append(b"marker no loop" if value is NO_LOOP else b"marker never in loop")
            else:
                parts.append(f"value {value!r}".encode())
    lengths = np.fromiter(map(len, parts), dtype="<u8", count=len(parts)).tobytes()
    return hashlib.sha256(len(parts).to_bytes(8, "little") + lengths + b"".join(parts)).digest()


# The headers of the digest's parts, by what they are made from: a run of 41 cases has about 250 arrays of a dozen
# shapes and cases of a few kinds, and formatting each header was a fifth of judging a right run afresh.
_HEADERS: dict[tuple, bytes] = {}
_MAX_HEADERS = 1024


def _case_header(case: CaseRun) -> bytes:
    """A case's facts in the digest; most cases of most runs share them (no exception, nothing changed in place).

    Only those are kept: an exception's text, a returned value's problem and the names of changed arguments come
    from one child (a hostile one could make them long), and keeping each would grow with the class.
    """
    if case.exception is not None or case.returned_problem is not None or case.mutated:
        return _case_text(case).encode()
    key = (case.partial, case.raised_in_loop, type(case.raised_in_loop), len(case.values))
    return _HEADERS.get(key) or _remember(key, _case_text(case))


def _case_text(case: CaseRun) -> str:
    return repr((case.exception, case.mutated, case.returned_problem, sorted(case.partial), case.raised_in_loop,
                 len(case.values)))


def _array_header(value: np.ndarray) -> bytes:
    key = (value.dtype, value.shape)
    return _HEADERS.get(key) or _remember(key, f"array {value.dtype.str} {value.shape}")


def _remember(key: tuple, text: str) -> bytes:
    if len(_HEADERS) >= _MAX_HEADERS:
        _HEADERS.clear()
    header = _HEADERS[key] = text.encode()
    return header


class _Expected:
    """The non-empty expected values of one step over the cases, laid end to end, with what closeness needs of them."""

    def __init__(self, indices: list[int], expected: list[np.ndarray], tolerance: Tolerance) -> None:
        self.indices, self.shapes = indices, [value.shape for value in expected]
        self.row = {index: row for row, index in enumerate(indices)}
        self.sizes = np.array([value.size for value in expected])
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.flat = np.concatenate(expected, axis=None)
        # The two sides of compare.close that depend only on the expected values, computed as it computes them.
        self.bound = tolerance.atol + tolerance.rtol * np.abs(self.flat)
        self.finite = np.isfinite(self.flat)

    def passing(self, values: list[np.ndarray], members: list[int]) -> list[int]:
        """Those of `members` (cases of `indices`, whose `values` have the expected shapes) that are all close."""
        expected, bound, finite, starts = self.flat, self.bound, self.finite, self.starts
        if len(members) != len(self.indices):
            chosen = np.zeros(len(self.indices), dtype=bool)
            chosen[[self.row[index] for index in members]] = True
            elements = np.repeat(chosen, self.sizes)
            expected, bound, finite = expected[elements], bound[elements], finite[elements]
            sizes = self.sizes[chosen]
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        got = np.concatenate(values, axis=None)
        with np.errstate(invalid="ignore", over="ignore"):
            good = np.isfinite(got) & ((np.abs(got - expected) <= bound) & finite)
        return [index for index, ok in zip(members, np.logical_and.reduceat(good, starts)) if ok]


# The expected values per (the run's list of cases, step, tolerance): the same for every submission of
# a run. An entry keeps the cases it was made from and is used only for those very objects.
_LAID_OUT: dict[tuple, tuple[list[Case], _Expected]] = {}
_MAX_LAID_OUT = 256


def _same_objects(first: list, second: list) -> bool:
    return len(first) == len(second) and all(map(operator.is_, first, second))


def _laid_out(cases: list[Case], step: str, tolerance: Tolerance) -> _Expected:
    """The non-empty expected values of `step` over `cases`, laid end to end, remembered."""
    key = (id(cases), step, tolerance)
    if key not in _LAID_OUT or not _same_objects(_LAID_OUT[key][0], cases):
        if len(_LAID_OUT) >= _MAX_LAID_OUT:
            _LAID_OUT.clear()
        expected = [case.expected[step] for case in cases]
        indices = [index for index, value in enumerate(expected) if value.size]
        _LAID_OUT[key] = (list(cases), _Expected(indices, [expected[index] for index in indices], tolerance))
    return _LAID_OUT[key][1]


def _as_far_as_ran(case: Case, case_run: CaseRun, steps: tuple[str, ...]) -> tuple[Case, frozenset[str]]:
    """The case cut to the iterations that ran before the function raised, and the steps right only that far.

    A step with a value from the iteration that raised is expected on its rows; one without is expected
    on one row more (the iteration that raised, where it has no value). The reference's positions and
    locals are cut alike, so error carried forward and the earned rule work on the rows that exist.
    """
    cut = {}
    for step in steps:
        got = case_run.values.get(step, ABSENT)
        if got is not ABSENT and not (isinstance(got, np.ndarray) and got.ndim >= 1):
            continue
        rows = 0 if got is ABSENT else len(got)
        expected = len(case.expected[step])
        wanted = min(rows if step in case_run.partial else rows + 1, expected)
        if wanted < expected:
            cut[step] = wanted
    if not cut:
        return case, frozenset()

    def shortened(by_step: dict) -> dict:
        return {**by_step, **{step: by_step[step][:rows] for step, rows in cut.items() if step in by_step}}

    run = case.run and dataclasses.replace(case.run, iterations=shortened(case.run.iterations),
                                           before=shortened(case.run.before))
    case = dataclasses.replace(case, expected=shortened(case.expected), positions=shortened(case.positions), run=run)
    return case, frozenset(step for step in cut if step in case_run.partial)


