"""Judging: from the child's document and the cases to a Grade, in the grader's process, on plain data only.

One module per decision, each a step of the same pipeline:
- `evidence`: the child's document validated and decoded into one run per case;
- `verdicts`: each step's check on each case against the reference, and error carried forward;
- `scoring`: each step's result and the grade, from the verdicts;
- `wording`: every sentence those three put in front of a student;
- `compare`, `earned`: one value against another, and when a carried match could have failed;
- `feedback` (with `diagnosis` and `gradient`): named mistakes, the oracle's check, a swapped return.
"""

from grader.judge.evidence import MalformedResult, parse
from grader.judge.scoring import judge, unjudged

__all__ = ["MalformedResult", "judge", "parse", "unjudged"]
