"""Scoring: from a sandbox reply to a Grade, each step's result built once from its verdicts.

Decides the status and points of every step and of the whole submission, the first wrong step,
and which steps show the public case's got and expected values. A step passes on every case
directly (full points) or by error carried forward (the rubric's share of them); a step right
only as far as the code ran on most cases fails, and is named first wrong only when no other step
fails; when every returned value is right and not carried, the steps feeding them count as right
whatever their own values (a student may name or compute intermediates differently). Runs in the
grader's process on plain data only (`evidence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grader import compare
from grader.assignment import Reference, Rubric
from grader.judge import demo_sizes, wording
from grader.judge.evidence import ABSENT, NO_LOOP, MalformedResult, StudentRun, parse
from grader.judge.feedback import Feedback, changed_in_place, review
from grader.judge.source import SourceFacts
from grader.judge.verdicts import Remembered, Verdict, Verdicts
from grader.models import ERROR, FAIL, GRADED, MISSING, NOT_RUN, PASS, TIMEOUT, Case, Grade, Limits, Step, StepResult, Submission
from grader.sandbox.wire import SandboxReply

_MAX_WARNINGS = 10


def unjudged(submission: Submission, rubric: Rubric, status: str, messages: list[str], *,
             output: str = "", seconds: float = 0.0) -> Grade:
    """A grade for a submission whose steps could not be judged."""
    message = wording.not_judged(status)
    steps = tuple(StepResult(step.name, NOT_RUN, 0.0, step.points, 0, 0, message) for step in rubric.steps)
    return Grade(submission, status, 0.0, rubric.max_score, steps, (), tuple(messages), None, output, seconds)


def judge(submission: Submission, rubric: Rubric, cases: list[Case], reply: SandboxReply,
          reference: Reference | None = None, *, limits: Limits, public_values: bool = False,
          feedback: Feedback | None = None, source: SourceFacts | None = None,
          remembered: Remembered | None = None) -> Grade:
    """Grade one submission from its sandbox reply.

    `limits` are those the run gave the sandbox (the timeout messages name them); `reference`
    enables error carried forward; `public_values` attaches the public case's got and expected
    values to every step (the self-check), not only to the first wrong one; `feedback` adds
    diagnoses of known mistakes and the gradient check; `source` the facts read from the student's
    code (`judge.source`): steps never named, notebook globals read, arguments changed in place;
    `remembered` the runs and verdicts of earlier replies of this rubric, cases and reference, found again for
    the same document bytes (no parse) or the same evidence.
    """
    # What the notebook printed is shown only when no hidden case ran in that process (the self-check):
    # printing or writing to a copy of stdout during a hidden case could show its inputs or values.
    output = _output_excerpt(reply) if all(case.public for case in cases) else ""
    if reply.failure:
        return unjudged(submission, rubric, ERROR, [reply.failure], output=output, seconds=reply.seconds)
    if reply.document is None:
        if reply.timed_out:
            return unjudged(submission, rubric, TIMEOUT, [wording.notebook_timed_out(limits.timeout)],
                            output=output, seconds=reply.seconds)
        return unjudged(submission, rubric, ERROR, [wording.ended_before_report(reply.exit)],
                        output=output, seconds=reply.seconds)
    # A memory made for other rubric, cases or reference is not used.
    memory = remembered if remembered is not None and remembered.rubric is rubric and remembered.cases is cases \
        and remembered.reference is reference else None
    found = memory.found(reply.digest) if memory is not None else None
    if found is not None:
        run, verdicts = found
        context = list(run.notes) + list(run.warnings)
    else:
        try:
            run = parse(reply.document, rubric, cases)
        except MalformedResult as error:
            return unjudged(submission, rubric, ERROR, [wording.malformed(error)], output=output, seconds=reply.seconds)
        context = list(run.notes) + list(run.warnings)
        if run.function != "defined":
            message = wording.function_unusable(rubric, run.function, run.syntax_error)
            return unjudged(submission, rubric, ERROR, [message] + context, output=output, seconds=reply.seconds)
        if run.stopped == "timeout":
            return unjudged(submission, rubric, TIMEOUT, [wording.call_timed_out(rubric, limits)] + context,
                            output=output, seconds=reply.seconds)
        verdicts = memory.of(run) if memory is not None else Verdicts(rubric, cases, run, reference)
        if memory is not None:
            memory.keep(reply.digest, run, verdicts)
    table = verdicts.table()
    steps = _Steps(rubric, run, verdicts, table, source)
    not_attempted = _not_attempted(run)
    # Right returned values make every step count: worked out first, from the returned steps alone.
    returned_right = bool(rubric.returns) and all(steps.outcome(name).directly_passed for name in rubric.returns)
    outcomes = [steps.implied(step) if returned_right else steps.outcome(step.name) for step in rubric.steps]
    first_wrong = next((o.name for o in outcomes if o.status == FAIL and not o.short),
                       next((o.name for o in outcomes if o.status == FAIL), None))
    if first_wrong is None and not returned_right and not not_attempted:
        first_wrong = next((o.name for o in outcomes if o.status == MISSING), None)
    results = [steps.result(outcome, public_values or outcome.name == first_wrong) for outcome in outcomes]
    messages = _messages(rubric, run, verdicts, table, results, first_wrong, not_attempted, source)
    raised = sum(case.exception is not None for case in run.cases)
    status = ERROR if run.cases and raised == len(run.cases) else GRADED
    score = round(sum(result.score for result in results), 4)

    def reviewed():
        return review(feedback, rubric, verdicts.cases, [case.values for case in run.cases], results, table)

    # Review reads the values, the verdicts, the feedback and, of the results, each step's status and carried mark.
    read = tuple((result.name, result.status, result.carried_forward) for result in results)
    diagnoses, advice = memory.worked_out(verdicts, read, feedback, reviewed) if memory is not None else reviewed()
    if source is not None:
        diagnoses = changed_in_place(rubric, run, results, source, diagnoses)
    more = len(context) - _MAX_WARNINGS
    return Grade(submission, status, score, rubric.max_score, tuple(results), diagnoses,
                 tuple(messages + advice + context[:_MAX_WARNINGS] + ([wording.more_warnings(more)] if more > 0 else [])),
                 first_wrong, output, reply.seconds)


def _output_excerpt(reply: SandboxReply) -> str:
    text = reply.stdout[:2000]
    if reply.stdout_bytes > len(reply.stdout[:2000].encode()):
        text += f"\n[... {reply.stdout_bytes} bytes in all]"
    return text


@dataclass(frozen=True)
class _Outcome:
    """A step's verdict over all cases: every field of its StepResult but the public case's values."""

    name: str
    status: str
    score: float
    max_score: float
    cases_passed: int
    cases_total: int
    message: str
    carried_forward: bool = False
    hidden_detail: str | None = None
    public_message: str | None = None
    short: bool = False
    """Right only as far as the code ran, on most cases: failed, but not where the code went wrong first."""

    @property
    def directly_passed(self) -> bool:
        return self.status == PASS and not self.carried_forward


class _Steps:
    """Each step's outcome from its verdicts, worked out once and remembered, and its one StepResult."""

    def __init__(self, rubric: Rubric, run: StudentRun, verdicts: Verdicts, table: dict[str, tuple[Verdict, ...]],
                 source: SourceFacts | None = None):
        self.rubric, self.run, self.verdicts, self.table, self.source = rubric, run, verdicts, table, source
        self.cases = verdicts.cases
        self.hidden_total = sum(not case.public for case in self.cases)
        self._by_name = {step.name: step for step in rubric.steps}
        self._outcomes: dict[str, _Outcome] = {}

    def outcome(self, name: str) -> _Outcome:
        if name not in self._outcomes:
            self._outcomes[name] = self._judged(self._by_name[name], self.table[name])
        return self._outcomes[name]

    def implied(self, step: Step) -> _Outcome:
        """The step's outcome when every returned value is right: it counts as right whatever its own values."""
        outcome = self.outcome(step.name)
        if outcome.directly_passed:
            return outcome
        message = wording.implied(self.rubric, step.name, outcome.status == MISSING, outcome.message)
        return _Outcome(step.name, PASS, outcome.max_score, outcome.max_score, outcome.cases_total, outcome.cases_total,
                        message)

    def result(self, outcome: _Outcome, public_values: bool) -> StepResult:
        got, expected = self._public_values(outcome.name) if public_values else (None, None)
        return StepResult(outcome.name, outcome.status, outcome.score, outcome.max_score, outcome.cases_passed,
                          outcome.cases_total, outcome.message, outcome.carried_forward, got, expected,
                          outcome.hidden_detail, outcome.public_message)

    def _judged(self, step: Step, verdicts: Sequence[Verdict]) -> _Outcome:
        rubric, run, total = self.rubric, self.run, len(self.cases)
        got_any = [self.verdicts.value(step.name, i) for i in range(len(run.cases))]
        if all(value is ABSENT or value is None or value is NO_LOOP for value in got_any):
            return self._missing(step, got_any)
        passed = sum(verdict.ok for verdict in verdicts)
        if passed == total and any(verdict.carried for verdict in verdicts):
            credit = rubric.carried_forward_credit
            message = wording.carried_pass(wording.wrong_upstream(self._wrong_upstream(step.name)), credit)
            return _Outcome(step.name, PASS, step.points * credit, step.points, passed, total, message, True)
        cut = sum(verdict.check is wording.AS_FAR_AS_RAN for verdict in verdicts)
        if passed == total and 2 * cut <= total:
            return _Outcome(step.name, PASS, step.points, step.points, passed, total, wording.correct(rubric, total, cut))
        public_parts, hidden_detail, remarks = self._failure_parts(step.name, verdicts)
        public_message = "; ".join(public_parts + remarks) if hidden_detail is not None else None
        right = [verdict.ok for verdict in verdicts]
        sized = demo_sizes.conditions(self.cases[: len(right)], right) if len(right) == total else None
        if sized:
            labels = [case.label for case, ok in zip(self.cases, right) if not ok and not case.public]
            remarks.append(wording.demo_sized(sized, passed, total - passed, labels[:wording.HIDDEN_EXAMPLES]))
        if passed == total:
            # Right only as far as the code ran, on most cases: a loop stopped early (by a raise) shows
            # little of a per-iteration step, so it earns nothing; the step that raised is named first.
            return _Outcome(step.name, FAIL, 0.0, step.points, passed - cut, total, wording.short_of_end(rubric, cut, total),
                            hidden_detail=hidden_detail, public_message=public_message, short=True)
        message = "; ".join(public_parts + ([hidden_detail] if hidden_detail else []) + remarks)
        return _Outcome(step.name, FAIL, 0.0, step.points, passed, total, message,
                        hidden_detail=hidden_detail, public_message=public_message)

    def _missing(self, step: Step, got_any: list) -> _Outcome:
        """A step with no value on any case: still None, computed without a loop, never named, skipped, or raised first.

        A step the function never names (its value lives inside another expression) is judged
        through the steps it feeds: right when each of them is right on every case on its own.
        """
        rubric, run, total = self.rubric, self.run, len(self.cases)
        raised = [case.exception for case, value in zip(run.cases, got_any) if value is ABSENT and case.exception]
        ended_without = sum(value is ABSENT and not case.exception for case, value in zip(run.cases, got_any))
        unnamed = self.source is not None and step.name not in self.source.bound
        fed: tuple[str, ...] = ()
        if got_any and all(value is None for value in got_any):
            how = "none"
        elif any(value is NO_LOOP for value in got_any):
            how = "no_loop"
        elif unnamed or (self.source is None and (ended_without or not raised)):
            how = "absent"
            fed = self._fed(step.name)
            if fed and all(self.outcome(name).directly_passed for name in fed) and len(run.cases) >= total:
                return _Outcome(step.name, PASS, step.points, step.points, total, total,
                                wording.judged_through(rubric, step.name, fed, total))
        elif ended_without or not raised:
            how = "skipped"
        else:
            how = "raised"
        message = wording.step_missing(rubric, step.name, how, raised[0] if raised else None, len(run.cases) >= total,
                                       fed, (ended_without, len(run.cases)))
        return _Outcome(step.name, MISSING, 0.0, step.points, 0, total, message)

    def _fed(self, name: str) -> tuple[str, ...]:
        """The steps with a value of their own that `name` feeds in the reference, through steps never named."""
        reference = self.verdicts.reference
        if reference is None:
            return ()
        names = self.rubric.step_names
        fed: list[str] = []
        for later in names[names.index(name) + 1:]:
            if name not in reference.formulas[later].co_names:
                continue
            if any(isinstance(self.verdicts.value(later, index), np.ndarray) for index in range(len(self.run.cases))):
                fed.append(later)
            elif self.source is not None and later not in self.source.bound:
                fed.extend(step for step in self._fed(later) if step not in fed)
            else:
                return ()  # it feeds a step that has no value for another reason: nothing to judge it through
        return tuple(fed)

    def _wrong_upstream(self, step: str) -> list[str]:
        """The earlier steps that are wrong in their own right (not merely carrying an earlier mistake)."""
        names = []
        for earlier in self.rubric.step_names:
            if earlier == step:
                break
            for index in range(len(self.run.cases)):
                if isinstance(self.verdicts.value(earlier, index), np.ndarray) and not self.table[earlier][index].ok:
                    names.append(earlier)
                    break
        return names

    def _failure_parts(self, step: str, verdicts: Sequence[Verdict]) -> tuple[list[str], str | None, list[str]]:
        """What a failed step's message says about the public case, about the hidden cases, and cases that did not run."""
        ran = len(self.run.cases)
        public_parts = [wording.public_case(step, verdicts[i].check, "" if verdicts[i].ok else self._absent_reason(step, i))
                        for i in range(ran) if self.cases[i].public]
        hidden = [i for i in range(ran) if not self.cases[i].public]
        hidden_detail = None
        if hidden:
            wrong = [i for i in hidden if not verdicts[i].ok]
            hidden_detail = wording.hidden_detail([verdicts[i].check for i in wrong],
                                                  [self.cases[i].label for i in wrong[:wording.HIDDEN_EXAMPLES]],
                                                  self.hidden_total)
        remarks = [wording.cases_not_run(len(self.cases) - ran)] if ran < len(self.cases) else []
        return public_parts, hidden_detail, remarks

    def _absent_reason(self, step: str, index: int) -> str:
        check, got = self.table[step][index].check, self.verdicts.value(step, index)
        if step in self.verdicts.per_iteration and isinstance(got, np.ndarray):
            return check.detail
        return wording.absent_reason(self.rubric, step, check, self.run.cases[index].exception, got is ABSENT)

    def _public_values(self, step: str) -> tuple[str | None, str | None]:
        """The student's and the expected value of `step` on the public case, formatted, if the public case ran."""
        for index, case in enumerate(self.cases[: len(self.run.cases)]):
            if not case.public:
                continue
            got = self.verdicts.value(step, index)
            wrong_row = self.verdicts.first_wrong_row(step, index)
            if wrong_row is not None:
                # A long sequence would be cut in the middle: the iteration that went wrong first is the one to see.
                label = self.rubric.label(case.positions[step][wrong_row])
                return (wording.at_iteration(label, got[wrong_row]),
                        wording.at_iteration(label, case.expected[step][wrong_row]))
            if got is ABSENT and self.run.cases[index].exception:
                return wording.raised_first(self.rubric), compare.format_value(case.expected[step])
            return compare.format_value(None if got is ABSENT else got), compare.format_value(case.expected[step])
        return None, None


def _not_attempted(run: StudentRun) -> bool:
    """Every step of every case still None, as in the untouched stub."""
    return (all(value is None for case in run.cases for value in case.values.values())
            and not any(case.exception for case in run.cases))


def _lacks_value_only_by_raising(run: StudentRun, verdicts: Sequence[Verdict]) -> bool:
    """Whether a step fails only on cases where the function raised before giving it a value."""
    failing = [index for index, verdict in enumerate(verdicts) if not verdict.ok]
    return bool(failing) and all(verdicts[index].check.kind == compare.MISSING and run.cases[index].exception
                                 for index in failing)


def _messages(rubric: Rubric, run: StudentRun, verdicts: Verdicts, table: dict[str, tuple[Verdict, ...]],
              results: list[StepResult], first_wrong: str | None, not_attempted: bool,
              source: SourceFacts | None) -> list[str]:
    messages = []
    if not_attempted:
        messages.append(wording.not_attempted(rubric))
    elif first_wrong is not None and _lacks_value_only_by_raising(run, table[first_wrong]):
        messages.append(wording.fix_exception_first(rubric, first_wrong))
    elif first_wrong is not None:
        messages.append(wording.first_wrong(first_wrong, next(s for s in rubric.steps if s.name == first_wrong).hint))
    elif all(result.status == PASS for result in results):
        messages.append(wording.ALL_RIGHT)
    raised = [(case.exception, verdicts.cases[index].public) for index, case in enumerate(run.cases) if case.exception]
    if raised:
        # The public case's exception is the one a student can reproduce with the demo cell.
        example, public = next((item for item in raised if item[1]), raised[0])
        messages.append(wording.raised_on(rubric, len(raised), len(run.cases), example, public))
    problems = [case.returned_problem for case in run.cases if case.returned_problem]
    if problems:
        messages.append(problems[0])
    mutated = sorted({name for case in run.cases for name in case.mutated})
    if mutated:
        messages.append(wording.mutated(rubric, mutated))
    if source is not None and source.globals_read:
        messages.append(wording.reads_globals(rubric, source.globals_read[:5]))
    return messages
