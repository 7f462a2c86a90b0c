"""Turning a sandboxed run into a grade: per-step verdicts over all cases, scoring, messages.

Runs in the grader's process on plain data only: the child's document is validated here,
every value decoded into a float64 array, and the student's objects never exist here.

Earned credit: a step passes directly when it matches the reference on every case. Otherwise it
passes by error carried forward when on every case it matches either the reference or what the
reference computes from the student's own earlier values (the carried value), at least half of
the carried matches (one at the least) could have failed (`_could_fail`: the carried value
informative, the wrong earlier values on the scale of the right ones, the carried value
depending on them, and not an input or another step's value handed back), and the student's
value is not the same on every case. The rule and its reasons are in docs/feedback.md.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

import numpy as np

from grader import capture, formulas, values
from grader.assignment import Reference, Rubric
from grader.judge import compare, earned
from grader.judge.compare import Check
from grader.judge.feedback import Feedback, review
from grader.models import ERROR, FAIL, GRADED, INVALID, MISSING, NOT_RUN, PASS, TIMEOUT, Case, Grade, StepResult, Submission
from grader.sandbox.client import SandboxReply
from grader.text import printable

_ABSENT = object()
# The value of a step meant per iteration that the student computed without a loop (vectorised): judged
# through what it feeds (right returned values make it count).
NO_LOOP = "not captured: computed without a loop"
# The value of a step meant per iteration whose loop ran to the end without ever assigning it.
NEVER_IN_LOOP = "never assigned inside its loop"
# A per-iteration step right on every row it has where the function raised inside its loop.
_AS_FAR_AS_RAN = Check(compare.OK, "right as far as the code ran")
_MAX_WARNINGS = 10
_HIDDEN_EXAMPLES = 3


class MalformedResult(Exception):
    """The child's document does not have the promised form (a bug, or forged by the student)."""


@dataclass(frozen=True)
class CaseRun:
    """What the student's function produced on one case, decoded."""

    values: dict
    """Step name -> float64 array, a reason string (unusable value), or None; absent if never assigned."""
    exception: str | None
    """The exception it raised, with the place in the notebook, if any."""
    mutated: tuple[str, ...]
    """Arguments it changed in place."""
    returned_problem: str | None
    """What was wrong with the returned value's form, if anything."""
    partial: frozenset[str] = frozenset()
    """Per-iteration steps whose last value is from the iteration that raised (assigned there before the raise)."""
    raised_in_loop: bool = False
    """Whether the function raised inside an iteration of a loop that assigns steps."""


@dataclass(frozen=True)
class StudentRun:
    """The whole child document, validated."""

    function: str
    syntax_error: str | None
    stopped: str | None
    cases: tuple[CaseRun, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]


def unjudged(submission: Submission, rubric: Rubric, status: str, messages: list[str], *,
             output: str = "", seconds: float = 0.0) -> Grade:
    """A grade for a submission whose steps could not be judged."""
    reason = {INVALID: "the notebook could not be read", TIMEOUT: "the code ran out of time",
              ERROR: "the code could not be run"}[status]
    steps = tuple(StepResult(step.name, NOT_RUN, 0.0, step.points, 0, 0, f"not judged: {reason}") for step in rubric.steps)
    return Grade(submission, status, 0.0, rubric.max_score, steps, (), tuple(messages), None, output, seconds)


def judge(submission: Submission, rubric: Rubric, cases: list[Case], reply: SandboxReply,
          reference: Reference | None = None, *, public_values: bool = False, feedback: Feedback | None = None) -> Grade:
    """Grade one submission from its sandbox reply.

    `reference` enables error carried forward; `public_values` attaches the public case's got
    and expected values to every step (the self-check), not only to the first wrong one;
    `feedback` adds diagnoses of known mistakes and the gradient check.
    """
    # What the notebook printed is shown only when no hidden case ran in that process (the self-check):
    # printing or writing to a copy of stdout during a hidden case could show its inputs or values.
    output = _output_excerpt(reply) if all(case.public for case in cases) else ""
    if reply.failure:
        return unjudged(submission, rubric, ERROR, [reply.failure], output=output, seconds=reply.seconds)
    if reply.document is None:
        if reply.timed_out:
            message = f"stopped after {rubric.limits.timeout:g} s without finishing: is there an endless loop?"
            return unjudged(submission, rubric, TIMEOUT, [message], output=output, seconds=reply.seconds)
        message = f"the notebook's code ended the grading process before it could report ({reply.exit})"
        return unjudged(submission, rubric, ERROR, [message], output=output, seconds=reply.seconds)
    try:
        run = parse(reply.document, rubric, cases)
    except MalformedResult as error:
        message = f"the sandboxed run sent back a result that is not well formed ({error})"
        return unjudged(submission, rubric, ERROR, [message], output=output, seconds=reply.seconds)
    context = list(run.notes) + list(run.warnings)
    if run.function != "defined":
        if run.syntax_error:
            message = f"{rubric.function}() could not be read: {run.syntax_error}"
        elif run.function == "missing":
            message = f"the notebook defines no function named {rubric.function}()"
        else:
            message = f"{rubric.function} is {run.function}"
        return unjudged(submission, rubric, ERROR, [message] + context, output=output, seconds=reply.seconds)
    if run.stopped == "timeout":
        limit = rubric.limits.call
        message = f"{rubric.function}() did not finish within {limit:g} s on a case: is there an endless loop?"
        return unjudged(submission, rubric, TIMEOUT, [message] + context, output=output, seconds=reply.seconds)
    judgement = _Judgement(submission, rubric, cases, run, reference, public_values, feedback)
    return judgement.grade(context, output, reply.seconds)


def _output_excerpt(reply: SandboxReply) -> str:
    text = reply.stdout[:2000]
    if reply.stdout_bytes > len(reply.stdout[:2000].encode()):
        text += f"\n[... {reply.stdout_bytes} bytes in all]"
    return text


def parse(document: dict, rubric: Rubric, cases: list[Case]) -> StudentRun:
    """Validate the child's document strictly and decode its values."""
    try:
        if "internal" in document:
            # Only the kind of failure: the traceback names the grader's files, and may quote the notebook.
            last = str(document["internal"]).strip().splitlines()[-1:] or ["?"]
            raise MalformedResult(f"the runner failed ({_text(last[0].split(':')[0], 80)})")
        function = _text(document["function"])
        decoder = values.Decoder(document["f8"])
        raw_cases = document["cases"]
        if not isinstance(raw_cases, list) or len(raw_cases) > len(cases):
            raise MalformedResult("wrong number of cases")
        if function == "defined" and document.get("stopped") is None and len(raw_cases) != len(cases):
            raise MalformedResult("wrong number of cases")
        syntax = document.get("syntax_error")
        syntax_text = None
        if isinstance(syntax, dict):
            syntax_text = f"cell {syntax.get('cell')}, line {syntax.get('line')}: {_text(syntax.get('message'))}"
        return StudentRun(
            function=function,
            syntax_error=syntax_text,
            stopped=document.get("stopped") if document.get("stopped") in (None, "timeout") else "timeout",
            cases=tuple(_parse_case(raw, case, rubric, decoder) for raw, case in zip(raw_cases, cases)),
            warnings=tuple(_located(entry, "warning") for entry in document.get("warnings", [])),
            notes=tuple(_located(entry, "note") for entry in document.get("notes", [])),
        )
    except MalformedResult:
        raise
    except Exception as error:  # anything malformed, forged values (1e999 where an int belongs) included
        raise MalformedResult(type(error).__name__) from None


def _text(value, limit: int = 400) -> str:
    """Text from the child, bounded and stripped of control characters before it can reach a report."""
    if not isinstance(value, str):
        raise TypeError("expected text")
    return printable(value[:limit])


def _count(value) -> int:
    """A cell, line or length from the child: a plain, bounded int, or the document is malformed."""
    if type(value) is not int or not 0 <= value < 10_000_000:
        raise MalformedResult("a count is not a small whole number")
    return value


def _located(entry: dict, kind: str) -> str:
    return f"{kind}: cell {_count(entry['cell'])}, line {_count(entry['line'])}: {_text(entry['message'])}"


def _parse_case(raw: dict, case: Case, rubric: Rubric, decoder: values.Decoder) -> CaseRun:
    if raw["name"] != case.name:
        raise MalformedResult("cases out of order")
    per_iteration = set(rubric.iteration_steps)
    iterations = raw.get("iterations", {})
    if not isinstance(iterations, dict):
        raise MalformedResult("iterations are not an object")
    raised_at = raw.get("raised_at")
    if raised_at is not None and (not isinstance(raised_at, list) or not 0 < len(raised_at) <= 16):
        raise MalformedResult("raised_at is not a short list")
    looped = _names(raw["looped"], per_iteration, "looped")
    partial = _names(raw["partial"], set(iterations), "partial")
    if partial and raised_at is None:
        raise MalformedResult("values of an iteration that raised, but no iteration raised")
    found: dict = {}
    for name, encoded in raw["locals"].items():
        if name not in case.expected:
            raise MalformedResult(f"unknown step {name!r}")
        value = decoder.decode(encoded)
        if name not in per_iteration or value is None:
            found[name] = value
        elif name not in looped:
            # A step meant per iteration that has a value but no loop around it: computed without one (vectorised).
            found[name] = NO_LOOP
        elif raw.get("exception") is None:
            found[name] = NEVER_IN_LOOP
        # Else its loop raised before it was ever assigned there: it has no value (the exception says why).
    for name, entries in iterations.items():
        if name not in per_iteration or not isinstance(entries, list) or not 0 < len(entries) <= capture.MAX_ITERATIONS + 1:
            raise MalformedResult(f"bad iterations of {name!r}")
        found[name] = _sequence([decoder.decode(entry) for entry in entries])
    where_raised = f" on {rubric.label([_count(number) for number in raised_at])}" if raised_at else ""
    problem = None
    returned = raw.get("returned")
    exception = raw.get("exception")
    if returned is not None:
        kind = returned["kind"]
        if kind == "sequence":
            items = returned["values"]
            if not isinstance(items, list) or len(items) != len(rubric.returns):
                raise MalformedResult("returned values of the wrong length")
            found.update(zip(rubric.returns, (decoder.decode(item) for item in items)))
        else:
            wanted = rubric.returns[0] if len(rubric.returns) == 1 else f"({', '.join(rubric.returns)})"
            if kind == "none":
                problem = f"{rubric.function}() returned None; it must return {wanted}"
            elif kind == "length":
                problem = f"{rubric.function}() returned {_count(returned['length'])} values; it must return {wanted}"
            else:
                named = returned["type"]
                what = f"a {_text(named, 80)}" if named is not None else "an object of a class the notebook defines"
                problem = f"{rubric.function}() returned {what}; it must return {wanted}"
            found.update({name: problem for name in rubric.returns})
    exception_text = None
    if exception is not None:
        where = f" (cell {_count(exception['cell'])}, line {_count(exception['line'])})" if exception.get("cell") else ""
        exception_text = _text(exception["message"]) + where_raised + where
        if returned is None and all(isinstance(found.get(name), np.ndarray) for name in rubric.returns):
            # Every value to return was computed, and then the function raised (an assert left in, say):
            # right values that never reach the caller do not count. When it raised before computing
            # them all, those it did compute are judged, so the first wrong step is where it failed.
            found.update({name: f"{compare.NOT_RETURNED}, but {rubric.function}() raised {exception_text} instead"
                          for name in rubric.returns})
    mutated = tuple(name for name in raw.get("mutated", []) if isinstance(name, str) and name not in rubric.updates)[:10]
    return CaseRun(found, exception_text, mutated, problem, partial, raised_at is not None and exception is not None)


def _names(value, allowed: set[str], what: str) -> frozenset[str]:
    """A list of distinct step names from the child, each one of `allowed`, or the document is malformed."""
    if not isinstance(value, list) or len(value) > len(allowed) or len(set(map(str, value))) != len(value) \
            or not all(isinstance(name, str) and name in allowed for name in value):
        raise MalformedResult(f"bad {what} steps")
    return frozenset(value)


def _as_far_as_ran(case: Case, case_run: CaseRun, steps: tuple[str, ...]) -> tuple[Case, frozenset[str]]:
    """The case cut to the iterations that ran before the function raised, and the steps right only that far.

    A step with a value from the iteration that raised is expected on its rows; one without is expected
    on one row more (the iteration that raised, where it has no value). The reference's positions and
    locals are cut alike, so error carried forward and the earned rule work on the rows that exist.
    """
    cut = {}
    for step in steps:
        got = case_run.values.get(step, _ABSENT)
        if got is not _ABSENT and not (isinstance(got, np.ndarray) and got.ndim >= 1):
            continue
        rows = 0 if got is _ABSENT else len(got)
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


def _sequence(decoded: list) -> np.ndarray | str | None:
    """A step's values over the iterations as one array (first axis: the iteration), a reason string, or None."""
    reasons = [value for value in decoded if isinstance(value, str)]
    if reasons:
        return reasons[0]
    if all(value is None for value in decoded):
        return None
    if any(value is None for value in decoded) or len({value.shape for value in decoded}) != 1:
        return "unsupported value: None on some iterations, or values of different shapes from one iteration to the next"
    return np.stack(decoded)


class _Judgement:
    """The step-by-step verdict on a run that completed."""

    def __init__(self, submission, rubric: Rubric, cases: list[Case], run: StudentRun, reference: Reference | None,
                 public_values: bool, feedback: Feedback | None):
        self.submission, self.rubric, self.run, self.reference = submission, rubric, run, reference
        self.public_values, self.feedback = public_values, feedback
        # Where the function raised inside a loop, per-iteration steps are judged as far as the code ran: on the
        # reference's first rows. Not when it raised on every case: then such rows earn nothing (nothing ran to the end).
        self._raised_everywhere = bool(run.cases) and all(case.exception for case in run.cases)
        self._cut: list[frozenset[str]] = [frozenset()] * len(cases)
        self._short: set[str] = set()
        """Steps right only as far as the code ran, on most cases: failed, but not where the code went wrong first."""
        self.cases = list(cases)
        if not self._raised_everywhere:
            for index, case_run in enumerate(run.cases):
                if case_run.raised_in_loop:
                    self.cases[index], self._cut[index] = _as_far_as_ran(cases[index], case_run, rubric.iteration_steps)
        self.hidden_total = sum(not case.public for case in cases)
        # Direct checks against the reference, by (step, case index): carried-forward scoring and
        # messages ask for the same ones many times.
        self._direct: dict[tuple[str, int], Check] = {}
        self._checked: dict[tuple[str, int], tuple[Check, bool]] = {}
        # For each carried-forward pass, whether matching it could have failed there (see _could_fail).
        self._carried_at: dict[tuple[str, int], tuple[dict, np.ndarray]] = {}
        """Each carried-forward pass's (student values, carried value): whether it could have failed is asked lazily."""
        self._depends: dict[str, bool] = {}
        self._step_names = rubric.step_names
        self._per_iteration = frozenset(rubric.iteration_steps)
        self._got = {step: [case.values.get(step, _ABSENT) for case in run.cases] for step in self._step_names}
        self._passing = {step: self._all_close(step) for step in rubric.step_names}

    def grade(self, context: list[str], output: str, seconds: float) -> Grade:
        rubric, run = self.rubric, self.run
        checks = {step.name: [(compare.PASSED, False) if index in self._passing[step.name] else self._check(step.name, index)
                              for index in range(len(run.cases))] for step in rubric.steps}
        checks = {name: self._earned_or_undone(name, step_checks) for name, step_checks in checks.items()}
        results = [self._step_result(step, checks[step.name]) for step in rubric.steps]
        results = [self._with_hidden_detail(result, checks[result.name]) for result in results]
        returned_right = bool(rubric.returns) and all(
            result.status == PASS and not result.carried_forward for result in results if result.name in rubric.returns
        )
        if returned_right:
            results = [self._implied(result) for result in results]
        first_wrong = next((r.name for r in results if r.status == FAIL and r.name not in self._short),
                           next((r.name for r in results if r.status == FAIL), None))
        if first_wrong is None and not returned_right and not self._not_attempted():
            first_wrong = next((r.name for r in results if r.status == MISSING), None)
        results = [self._with_public_values(result) if self.public_values or result.name == first_wrong else result
                   for result in results]
        messages = self._messages(results, first_wrong)
        raised = sum(case.exception is not None for case in run.cases)
        status = ERROR if run.cases and raised == len(run.cases) else GRADED
        score = round(sum(result.score for result in results), 4)
        diagnoses, advice = review(self.feedback, rubric, self.cases, [case.values for case in run.cases], results, checks)
        return Grade(self.submission, status, score, rubric.max_score, tuple(results), diagnoses,
                     tuple(messages + advice + context[: _MAX_WARNINGS] + self._more(context)), first_wrong, output, seconds)

    @staticmethod
    def _more(context: list[str]) -> list[str]:
        hidden = len(context) - _MAX_WARNINGS
        return [f"... and {hidden} more warnings"] if hidden > 0 else []

    def _value(self, step: str, index: int):
        return self._got[step][index]

    def _all_close(self, step: str) -> frozenset[int]:
        """Cases whose value of `step` has the expected shape and is finite and within tolerance.

        One vectorised comparison over every case at once: on a right step (most of them) it
        replaces one comparison per case, and `compare.check` would pass exactly these.
        """
        indices, got_parts, expected_parts = [], [], []
        for index, got in enumerate(self._got[step]):
            expected = self.cases[index].expected[step]
            if step in self._cut[index]:
                continue  # right only as far as the code ran: `_iteration_check` says so
            if type(got) is np.ndarray and got.shape == expected.shape and expected.size:
                indices.append(index)
                got_parts.append(got)
                expected_parts.append(expected)
        if not indices:
            return frozenset()
        got_all, expected_all = np.concatenate(got_parts, axis=None), np.concatenate(expected_parts, axis=None)
        with np.errstate(invalid="ignore", over="ignore"):
            good = np.isfinite(got_all) & compare.close(got_all, expected_all, self.rubric.tolerance)
        starts = np.cumsum([0] + [part.size for part in got_parts[:-1]])
        return frozenset(index for index, ok in zip(indices, np.logical_and.reduceat(good, starts)) if ok)

    def _direct_check(self, step: str, index: int) -> Check:
        """The check of the student's own value against the reference's, remembered."""
        if index in self._passing[step]:
            return compare.PASSED
        key = (step, index)
        if key not in self._direct:
            got = self._value(step, index)
            case = self.cases[index]
            if step in self._per_iteration:
                self._direct[key] = self._iteration_check(step, index, None if got is _ABSENT else got)
            else:
                self._direct[key] = compare.check(None if got is _ABSENT else got, case.expected[step],
                                                  self.rubric.tolerance, explain=case.public, words=self.rubric.words)
        return self._direct[key]

    def _iteration_check(self, step: str, index: int, got) -> Check:
        """A per-iteration step's values against the reference's, naming the first wrong iteration."""
        case, rubric = self.cases[index], self.rubric
        expected, positions = case.expected[step], case.positions.get(step, ())
        if got is NO_LOOP:
            return Check(compare.MISSING, f"has no value per {rubric.iteration[-1]}: it was computed without a loop")
        if not isinstance(got, np.ndarray) or got.ndim == 0:
            return compare.check(got, expected, rubric.tolerance, explain=case.public)
        word = rubric.iteration[-1]
        for row in range(min(len(got), len(expected))):
            check = compare.check(got[row], expected[row], rubric.tolerance, explain=case.public, words=rubric.words)
            if not check.ok:
                label = rubric.label(positions[row]) if row < len(positions) else f"{word} {row + 1}"
                return Check(check.kind, f"is wrong from {label} on: {check.detail}")
        case_run = self.run.cases[index]
        if len(got) < len(expected) and case_run.exception:
            if step in case_run.partial:  # its last row is from the iteration that raised
                return Check(compare.MISSING, f"is right up to {rubric.label(positions[len(got) - 1])}, where "
                                              f"{rubric.function}() raised {case_run.exception}")
            return Check(compare.MISSING, f"is right up to {rubric.label(positions[len(got) - 1])}, then has no value: "
                                          f"{rubric.function}() raised {case_run.exception} before computing it")
        if len(got) != len(expected):
            return Check(compare.SHAPE, f"has values for {len(got)} iterations ({word}s) where {len(expected)} are expected")
        return _AS_FAR_AS_RAN if step in self._cut[index] else compare.PASSED

    def _check(self, step: str, index: int) -> tuple[Check, bool]:
        """(check against the reference, passed only thanks to error carried forward), remembered."""
        key = (step, index)
        if key not in self._checked:
            self._checked[key] = self._fresh_check(step, index)
        return self._checked[key]

    def _fresh_check(self, step: str, index: int) -> tuple[Check, bool]:
        got = self._value(step, index)
        direct = self._direct_check(step, index)
        if direct.ok or got is _ABSENT or got is None or isinstance(got, str):
            return direct, False
        found = self._carried_scope(step, index)
        carried = None if found is None else self._evaluate(step, index, found)
        if carried is not None and compare.check(got, carried, self.rubric.tolerance, explain=False).ok:
            self._carried_at[(step, index)] = (found, carried)
            return compare.PASSED, True
        return direct, False

    def _earned_or_undone(self, step: str, checks: list[tuple[Check, bool]]) -> list[tuple[Check, bool]]:
        """A step's checks, its carried-forward passes undone unless they are earned as a whole.

        They are earned when at least half of them (one at the least) could have failed, and the
        step does not give one and the same value on every case. A carried match that could not have
        failed (a saturated case, where every value is below the tolerance) then neither counts for
        the step nor against it.
        """
        carried = [index for index, (_, was_carried) in enumerate(checks) if was_carried]
        if earned.varies([self._value(step, index) for index in carried], self.rubric.tolerance):
            # Asked case by case only until the answer is known: each question evaluates formulas.
            needed, could_fail = (len(carried) + 1) // 2 if carried else 1, 0
            for position, index in enumerate(carried):
                could_fail += self._could_fail(step, index, *self._carried_at[(step, index)])
                if could_fail >= needed or could_fail + len(carried) - position - 1 < needed:
                    break
            if could_fail >= needed:
                return checks
        for index in carried:
            self._checked[(step, index)] = (self._direct_check(step, index), False)
        return [self._checked[(step, index)] if index in carried else check for index, check in enumerate(checks)]

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
        return {name: got for name in names if isinstance(got := self._value(name, index), np.ndarray)}

    def _input_dependent(self, step: str) -> bool:
        """Whether the student's values of `step` change with the inputs' values (earned.input_dependent), remembered."""
        if step not in self._depends:
            self._depends[step] = earned.input_dependent(self._got[step], self.rubric.tolerance)
        return self._depends[step]

    def _wrong_upstream_on(self, step: str, index: int) -> list[str]:
        """The earlier steps whose value on this case is the student's own and wrong."""
        return [earlier for earlier in self._step_names[: self._step_names.index(step)]
                if isinstance(self._value(earlier, index), np.ndarray) and not self._direct_check(earlier, index).ok]

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
        if step in self._per_iteration:
            # An iteration's value that is an input or another step's value of that iteration, on every iteration.
            rows = [[other[row] for other in others[len(case.arguments):] if other.shape[:1] == carried.shape[:1]]
                    for row in range(len(carried))]
            arguments = others[: len(case.arguments)]
            if all(earned.recycled(carried[row], arguments + rows[row], tolerance) for row in range(len(carried))):
                return False
        return not earned.recycled(carried, others, tolerance)

    def _step_result(self, step, checks: list[tuple[Check, bool]]) -> StepResult:
        total = len(self.cases)
        got_any = [self._value(step.name, i) for i in range(len(self.run.cases))]
        if all(value is _ABSENT or value is None or value is NO_LOOP for value in got_any):
            raised = [case.exception for case, value in zip(self.run.cases, got_any) if value is _ABSENT and case.exception]
            if got_any and all(value is None for value in got_any):
                message = "not attempted: still None"
            elif any(value is NO_LOOP for value in got_any):
                message = (f"{NO_LOOP}, so it has no value per {self.rubric.iteration[-1]}: "
                           "it is judged through the values it feeds")
            elif raised:
                message = f"never computed: {self.rubric.function}() raised {raised[0]} before reaching it"
            else:
                message = f"no variable named {step.name} in {self.rubric.function}()"
            if len(self.run.cases) < total:
                message += " (not every case ran)"
            return StepResult(step.name, MISSING, 0.0, step.points, 0, total, message)
        passed = sum(check.ok for check, _ in checks)
        carried = any(was_carried for _, was_carried in checks)
        if passed == total:
            if carried:
                upstream = self._wrong_upstream(step.name)
                credit = self.rubric.carried_forward_credit
                message = f"correct given your own {upstream} (error carried forward)"
                if credit < 1:
                    message += f": {credit:.0%} of the points"
                return StepResult(step.name, PASS, step.points * credit, step.points, passed, total, message, True)
            where = "on the public case" if total == 1 else f"on all {total} cases"
            cut = sum(check is _AS_FAR_AS_RAN for check, _ in checks)
            if 2 * cut > total:
                # Right only as far as the code ran, on most cases: a loop stopped early (by a raise) shows
                # little of a per-iteration step, so it earns nothing; the step that raised is named first.
                self._short.add(step.name)
                message = (f"right as far as the code ran, but {self.rubric.function}() raised before the end of its "
                           f"loop on {cut} of {total} cases: its later values were never computed")
                return StepResult(step.name, FAIL, 0.0, step.points, passed - cut, total, message)
            if cut:
                where += (f" ({'' if total == 1 else f'{cut} of them '}as far as the code ran: "
                          f"{self.rubric.function}() raised before the end of its loop)")
            return StepResult(step.name, PASS, step.points, step.points, passed, total, f"correct {where}")
        return StepResult(step.name, FAIL, 0.0, step.points, passed, total, self._failure_message(step.name, checks))

    def _wrong_upstream(self, step: str) -> str:
        """The earlier steps that are wrong in their own right (not merely carrying an earlier mistake)."""
        names = []
        for earlier in self.rubric.step_names:
            if earlier == step:
                break
            for index in range(len(self.run.cases)):
                got = self._value(earlier, index)
                if isinstance(got, np.ndarray) and not self._check(earlier, index)[0].ok:
                    names.append(earlier)
                    break
        return " and ".join(names) or "earlier steps"

    def _failure_message(self, step: str, checks: list[tuple[Check, bool]]) -> str:
        public_parts, hidden_detail, remarks = self._failure_parts(step, checks)
        return "; ".join(public_parts + ([hidden_detail] if hidden_detail else []) + remarks)

    def _with_hidden_detail(self, result: StepResult, checks: list[tuple[Check, bool]]) -> StepResult:
        """A failed step with its hidden-case part apart, for reports that hold it back until the due date."""
        if result.status != FAIL:
            return result
        public_parts, hidden_detail, remarks = self._failure_parts(result.name, checks)
        if hidden_detail is None:
            return result
        return dataclasses.replace(result, hidden_detail=hidden_detail, public_message="; ".join(public_parts + remarks))

    def _failure_parts(self, step: str, checks: list[tuple[Check, bool]]) -> tuple[list[str], str | None, list[str]]:
        """What a failed step's message says about the public case, about the hidden cases, and cases that did not run."""
        public_parts, remarks = [], []
        ran = len(self.run.cases)
        public = [i for i in range(ran) if self.cases[i].public]
        hidden = [i for i in range(ran) if not self.cases[i].public]
        for i in public:
            check = checks[i][0]
            public_parts.append("public case: " + ("right" if check.ok else f"{step} {self._absent_reason(step, i, check)}"))
        wrong_hidden = [i for i in hidden if not checks[i][0].ok]
        hidden_detail = None
        if hidden:
            if wrong_hidden:
                kinds = Counter(_hidden_kind(checks[i][0]) for i in wrong_hidden)
                examples = "; ".join(dict.fromkeys(self.cases[i].label for i in wrong_hidden[:_HIDDEN_EXAMPLES]))
                hidden_detail = (f"hidden cases: wrong on {len(wrong_hidden)} of {self.hidden_total} "
                                 f"({', '.join(kinds)}; e.g. {examples})")
            else:
                hidden_detail = f"hidden cases: right on all {self.hidden_total}"
        if ran < len(self.cases):
            remarks.append(f"{len(self.cases) - ran} cases did not run")
        return public_parts, hidden_detail, remarks

    def _absent_reason(self, step: str, index: int, check: Check) -> str:
        case_run = self.run.cases[index]
        if step in self._per_iteration and isinstance(self._value(step, index), np.ndarray):
            return check.detail
        if check.kind == compare.MISSING and case_run.exception:
            return f"has no value: {self.rubric.function}() raised {case_run.exception} before computing it"
        if check.kind == compare.MISSING and self._value(step, index) is _ABSENT:
            return f"has no value: no variable named {step}"
        return check.detail

    def _implied(self, result: StepResult) -> StepResult:
        if result.status == PASS and not result.carried_forward:
            return result
        returned = f"{' and '.join(self.rubric.returns)} {'is' if len(self.rubric.returns) == 1 else 'are'}"
        if result.status == MISSING and NO_LOOP in result.message:
            message = f"{NO_LOOP}, but your {returned} right, so it counts as right"
        elif result.status == MISSING:
            message = f"not found under this name, but your {returned} right, so it counts as right"
        else:
            message = f"your {result.name} differs from the expected value, but your {returned} right, so it counts as right"
        return StepResult(result.name, PASS, result.max_score, result.max_score, result.cases_total,
                          result.cases_total, message)

    def _with_public_values(self, result: StepResult) -> StepResult:
        for index, case in enumerate(self.cases[: len(self.run.cases)]):
            if case.public:
                got = self._value(result.name, index)
                wrong_row = self._first_wrong_row(result.name, index)
                if wrong_row is not None:
                    # A long sequence would be cut in the middle: the iteration that went wrong first is the one to see.
                    label = self.rubric.label(case.positions[result.name][wrong_row])
                    return dataclasses.replace(
                        result, public_got=f"{label}: {compare.format_value(got[wrong_row])}",
                        public_expected=f"{label}: {compare.format_value(case.expected[result.name][wrong_row])}")
                if got is _ABSENT and self.run.cases[index].exception:
                    return dataclasses.replace(result, public_got=f"no value ({self.rubric.function}() raised first)",
                                               public_expected=compare.format_value(case.expected[result.name]))
                return dataclasses.replace(result, public_got=compare.format_value(None if got is _ABSENT else got),
                                           public_expected=compare.format_value(case.expected[result.name]))
        return result

    def _first_wrong_row(self, step: str, index: int) -> int | None:
        """For a per-iteration step with values per iteration on this case, the first iteration that is wrong."""
        got, expected = self._value(step, index), self.cases[index].expected[step]
        if step not in self._per_iteration or not isinstance(got, np.ndarray) or got.ndim == 0:
            return None
        rows = range(min(len(got), len(expected), len(self.cases[index].positions.get(step, ()))))
        return next((row for row in rows
                     if not compare.check(got[row], expected[row], self.rubric.tolerance, explain=False).ok), None)

    def _lacks_value_only_by_raising(self, step: str) -> bool:
        """Whether `step` fails only on cases where the function raised before giving it a value."""
        failing = [index for index in range(len(self.run.cases)) if not self._check(step, index)[0].ok]
        return bool(failing) and all(self._check(step, index)[0].kind == compare.MISSING and self.run.cases[index].exception
                                     for index in failing)

    def _not_attempted(self) -> bool:
        """Every step of every case still None, as in the untouched stub."""
        run = self.run
        return (all(value is None for case in run.cases for value in case.values.values())
                and not any(case.exception for case in run.cases))

    def _messages(self, results: list[StepResult], first_wrong: str | None) -> list[str]:
        rubric, run = self.rubric, self.run
        messages = []
        if self._not_attempted():
            messages.append(f"Not attempted yet: every step of {rubric.function}() is still None.")
        elif first_wrong is not None and self._lacks_value_only_by_raising(first_wrong):
            # The formula hint would point at a line that may well be right: the crash comes first.
            messages.append(f"First wrong step: {first_wrong}, which has no value wherever {rubric.function}() "
                            "raised before producing it: fix the exception below first; the formula itself may be right.")
        elif first_wrong is not None:
            step = next(s for s in rubric.steps if s.name == first_wrong)
            hint = f" Hint: {step.hint}" if step.hint else ""
            messages.append(f"First wrong step: {first_wrong}.{hint}")
        elif all(result.status == PASS for result in results):
            messages.append("All steps are right.")
        raised = [(case.exception, self.cases[index].public) for index, case in enumerate(run.cases) if case.exception]
        if raised:
            # The public case's exception is the one a student can reproduce with the demo cell.
            example, public = next((item for item in raised if item[1]), raised[0])
            where = "on the public case" if public else "for example"
            messages.append(f"{rubric.function}() raised an exception on {len(raised)} of {len(run.cases)} cases; "
                            f"{where}: {example}")
        problems = [case.returned_problem for case in run.cases if case.returned_problem]
        if problems:
            messages.append(problems[0])
        mutated = sorted({name for case in run.cases for name in case.mutated})
        if mutated:
            names = ", ".join(mutated)
            messages.append(f"{rubric.function}() changes its argument(s) {names} in place; "
                            "a function like this should leave its inputs unchanged (work on a copy).")
        return messages


def _hidden_kind(check: Check) -> str:
    """What went wrong on a hidden case, in words that reveal no expected value."""
    if check.detail.startswith(compare.NOT_RETURNED):
        return "computed but not returned: the function raised"
    return {
        compare.MISSING: "no value",
        compare.TYPE: "not a number or array",
        compare.SHAPE: "wrong shape",
        compare.TRANSPOSED: "transposed",
        compare.NONFINITE: "NaN or infinite values",
        compare.VALUES: "wrong values",
    }[check.kind]
