"""The judge's sentences: every word a student reads about a run, its steps and its cases, in one place.

Decides nothing: each function turns facts the other modules established into the sentence the
reports show. Kept apart so the wording can be read, reviewed and changed as a whole, and so the
rules of judging stay free of prose. Sentences about hidden cases name what went wrong and the
cases' input labels, never an expected value. (A single comparison's detail, "2 / 6 elements
differ ...", is `compare`'s; sentences about named mistakes and the oracle are `diagnosis`'s and
`gradient`'s.)
"""

from __future__ import annotations

from collections import Counter

from grader import compare
from grader.assignment import Rubric
from grader.compare import Check
from grader.models import ERROR, INVALID, TIMEOUT, Limits

NO_LOOP = "not captured: computed without a loop"
NEVER_IN_LOOP = "never assigned inside its loop"
UNEVEN_ITERATIONS = ("unsupported value: None on some iterations, or values of different shapes from one iteration "
                     "to the next")
# A per-iteration step right on every row it has where the function raised inside its loop.
AS_FAR_AS_RAN = Check(compare.OK, "right as far as the code ran")
HIDDEN_EXAMPLES = 3
"""How many wrong hidden cases a message names by their input labels."""


# The run as a whole, before any step is judged.

def not_judged(status: str) -> str:
    reason = {INVALID: "the notebook could not be read", TIMEOUT: "the code ran out of time",
              ERROR: "the code could not be run"}[status]
    return f"not judged: {reason}"


def notebook_timed_out(seconds: float) -> str:
    return f"stopped after {seconds:g} s without finishing: is there an endless loop?"


def ended_before_report(exit_description) -> str:
    return f"the notebook's code ended the grading process before it could report ({exit_description})"


def malformed(reason: Exception) -> str:
    return f"the sandboxed run sent back a result that is not well formed ({reason})"


def function_unusable(rubric: Rubric, function: str, syntax_error: str | None) -> str:
    if syntax_error:
        return f"{rubric.function}() could not be read: {syntax_error}"
    if function == "missing":
        return f"the notebook defines no function named {rubric.function}()"
    return f"{rubric.function} is {function}"


def call_timed_out(rubric: Rubric, limits: Limits) -> str:
    return f"{rubric.function}() did not finish within {limits.call:g} s on a case: is there an endless loop?"


def syntax_error(cell, line, message: str) -> str:
    return f"cell {cell}, line {line}: {message}"


def located(kind: str, cell: int, line: int, message: str) -> str:
    return f"{kind}: cell {cell}, line {line}: {message}"


def more_warnings(hidden: int) -> str:
    return f"... and {hidden} more warnings"


# What one case's run returned.

def _wanted(rubric: Rubric) -> str:
    return rubric.returns[0] if len(rubric.returns) == 1 else f"({', '.join(rubric.returns)})"


def returned_none(rubric: Rubric) -> str:
    return f"{rubric.function}() returned None; it must return {_wanted(rubric)}"


def returned_length(rubric: Rubric, length: int) -> str:
    return f"{rubric.function}() returned {length} values; it must return {_wanted(rubric)}"


def returned_type(rubric: Rubric, type_name: str | None) -> str:
    what = f"a {type_name}" if type_name is not None else "an object of a class the notebook defines"
    return f"{rubric.function}() returned {what}; it must return {_wanted(rubric)}"


def not_returned(rubric: Rubric, exception: str) -> str:
    return f"{compare.NOT_RETURNED}, but {rubric.function}() raised {exception} instead"


# A per-iteration step on one case.

def computed_without_loop(rubric: Rubric) -> Check:
    return Check(compare.MISSING, f"has no value per {rubric.iteration[-1]}: it was computed without a loop")


def wrong_from(label: str, check: Check) -> Check:
    return Check(check.kind, f"is wrong from {label} on: {check.detail}")


def right_until_raised(rubric: Rubric, label: str, exception: str, last_from_raise: bool) -> Check:
    if last_from_raise:  # its last row is from the iteration that raised
        return Check(compare.MISSING, f"is right up to {label}, where {rubric.function}() raised {exception}")
    return Check(compare.MISSING, f"is right up to {label}, then has no value: "
                                  f"{rubric.function}() raised {exception} before computing it")


def iteration_count(rubric: Rubric, got: int, expected: int) -> Check:
    return Check(compare.SHAPE, f"has values for {got} iterations ({rubric.iteration[-1]}s) where {expected} are expected")


# A step over all cases.

def step_missing(rubric: Rubric, step: str, how: str, raised: str | None, every_case_ran: bool,
                 fed: tuple[str, ...] = (), skipped: tuple[int, int] = (0, 0)) -> str:
    """`how`: "none" (still None), "no_loop", "raised" (with `raised`, the first exception), "skipped" (assigned
    only in a branch: `skipped` is (cases that ran to the end without it, cases that ran)), or "absent" (no
    variable of that name); `fed` the steps it feeds, through which it is judged, none of them right throughout."""
    if how == "none":
        message = "not attempted: still None"
    elif how == "no_loop":
        message = f"{NO_LOOP}, so it has no value per {rubric.iteration[-1]}: it is judged through the values it feeds"
    elif how == "raised":
        message = f"never computed: {rubric.function}() raised {raised} before reaching it"
    elif how == "skipped":
        message = (f"no value on {skipped[0]} of {skipped[1]} cases, though they ran to the end: {rubric.function}() "
                   f"assigns {step} only in a branch those cases skip")
    else:
        message = f"no variable named {step} in {rubric.function}()"
        if fed:
            message += (f"; it is judged through what it feeds, and {_listed(fed)} "
                        f"{'is' if len(fed) == 1 else 'are'} not right on every case")
    return message if every_case_ran else message + " (not every case ran)"


def judged_through(rubric: Rubric, step: str, fed: tuple[str, ...], total: int) -> str:
    """A step with no variable of its name, right because every step it feeds is right on its own."""
    where = "on the public case" if total == 1 else f"on all {total} cases"
    return (f"no variable named {step} in {rubric.function}(), but what it feeds, {_listed(fed)}, "
            f"{'is' if len(fed) == 1 else 'are'} right {where}, so it counts as right")


def demo_sized(conditions: list[str], right: int, wrong: int, labels: list[str]) -> str:
    """A step right exactly on the cases whose sizes are the demo's: `conditions` those sizes, in code."""
    examples = "; ".join(dict.fromkeys(labels))
    return (f"right on all {right} cases where {' and '.join(conditions)} (the demo's sizes), wrong on all {wrong} "
            f"others (e.g. {examples}): does the code assume the demo's sizes?")


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


def carried_pass(upstream: str, credit: float) -> str:
    message = f"correct given your own {upstream} (error carried forward)"
    return message + f": {credit:.0%} of the points" if credit < 1 else message


def wrong_upstream(names: list[str]) -> str:
    return " and ".join(names) or "earlier steps"


def short_of_end(rubric: Rubric, cut: int, total: int) -> str:
    return (f"right as far as the code ran, but {rubric.function}() raised before the end of its "
            f"loop on {cut} of {total} cases: its later values were never computed")


def correct(rubric: Rubric, total: int, cut: int) -> str:
    where = "on the public case" if total == 1 else f"on all {total} cases"
    if cut:
        where += (f" ({'' if total == 1 else f'{cut} of them '}as far as the code ran: "
                  f"{rubric.function}() raised before the end of its loop)")
    return f"correct {where}"


def public_case(step: str, check: Check, reason: str) -> str:
    return "public case: " + ("right" if check.ok else f"{step} {reason}")


def absent_reason(rubric: Rubric, step: str, check: Check, exception: str | None, never_assigned: bool) -> str:
    """Why a step failed on the public case, when it has no value there."""
    if check.kind == compare.MISSING and exception:
        return f"has no value: {rubric.function}() raised {exception} before computing it"
    if check.kind == compare.MISSING and never_assigned:
        return f"has no value: no variable named {step}"
    return check.detail


def hidden_detail(wrong: list[Check], labels: list[str], hidden_total: int) -> str:
    """What the hidden cases showed: `wrong` the failed checks, `labels` the first wrong cases' input labels."""
    if not wrong:
        return f"hidden cases: right on all {hidden_total}"
    kinds = Counter(_hidden_kind(check) for check in wrong)
    examples = "; ".join(dict.fromkeys(labels))
    return f"hidden cases: wrong on {len(wrong)} of {hidden_total} ({', '.join(kinds)}; e.g. {examples})"


def cases_not_run(count: int) -> str:
    return f"{count} cases did not run"


def implied(rubric: Rubric, step: str, status_missing: bool, message: str) -> str:
    """A step that counts as right because every returned value is; `message` what it was judged before."""
    returned = f"{' and '.join(rubric.returns)} {'is' if len(rubric.returns) == 1 else 'are'}"
    if status_missing and NO_LOOP in message:
        return f"{NO_LOOP}, but your {returned} right, so it counts as right"
    if status_missing:
        return f"not found under this name, but your {returned} right, so it counts as right"
    return f"your {step} differs from the expected value, but your {returned} right, so it counts as right"


def at_iteration(label: str, value) -> str:
    return f"{label}: {compare.format_value(value)}"


def raised_first(rubric: Rubric) -> str:
    return f"no value ({rubric.function}() raised first)"


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


# The grade's messages.

def not_attempted(rubric: Rubric) -> str:
    return f"Not attempted yet: every step of {rubric.function}() is still None."


def fix_exception_first(rubric: Rubric, step: str) -> str:
    # The formula hint would point at a line that may well be right: the crash comes first.
    return (f"First wrong step: {step}, which has no value wherever {rubric.function}() "
            "raised before producing it: fix the exception below first; the formula itself may be right.")


def first_wrong(step: str, hint: str | None) -> str:
    return f"First wrong step: {step}.{f' Hint: {hint}' if hint else ''}"


ALL_RIGHT = "All steps are right."


def raised_on(rubric: Rubric, raised: int, ran: int, example: str, public: bool) -> str:
    where = "on the public case" if public else "for example"
    return f"{rubric.function}() raised an exception on {raised} of {ran} cases; {where}: {example}"


def reads_globals(rubric: Rubric, names: tuple[str, ...]) -> str:
    return (f"{rubric.function}() reads {_listed(names)} from the notebook instead of from its parameters: "
            f"graded on other inputs, it still sees the notebook's value{'s' if len(names) > 1 else ''}. "
            "Use only the function's arguments.")


def changed_in_place(step: str, parameter: str, cell: int, line: int) -> str:
    return (f"Your {step} is computed from {parameter} after your function changed that argument in place "
            f"(cell {cell}, line {line}): it sees the changed array, not the one passed in. "
            f"Hint: compute {step} before changing {parameter}, or change a copy (np.copy) instead.")


def mutated(rubric: Rubric, names: list[str]) -> str:
    return (f"{rubric.function}() changes its argument(s) {', '.join(names)} in place; "
            "a function like this should leave its inputs unchanged (work on a copy).")
