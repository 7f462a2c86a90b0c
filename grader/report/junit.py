"""JUnit XML: a test suite per submission, a test case per step.

The common schema that GitLab, Jenkins and JUnit viewers read: a wrong or missing step is a
`<failure>` with the step's message; a step that could not be judged because the
submission's code failed, timed out or was unreadable is an `<error>` carrying why. Nothing
is `<skipped>`: an unjudged step scores 0, and a viewer showing it as skipped would hide
that. Student text is escaped by the XML writer, and characters XML 1.0 cannot hold (control
characters a notebook may print) are replaced first.

It is valid against the JUnit schema Jenkins and pytest follow (junit-10.xsd, kept in the tests):
`<testsuites>` carries no `skipped`. A test case is named `step <name>`, so a step called
`error` does not read as an error status in a CI's test view. Steps are judged together in
one run of the notebook, so only a suite (a submission) has a measured time, its real seconds;
a test case gives none rather than a made-up 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from grader.models import FAIL, MISSING, NOT_RUN, Grade, StepResult
from grader.report import files
from grader.report.writer import Format, Run, Writer

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from grader.report.section import ClassInfo, Section

# What XML 1.0 forbids: controls but tab, newline and return; surrogates; U+FFFE and U+FFFF. Written as the
# characters it forbids (the complement of its Char production): compiling that complement took 8 ms at import.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _testcase(suite: ET.Element, assignment: str, grade: Grade, step: StepResult) -> None:
    import xml.etree.ElementTree as ET

    case = ET.SubElement(suite, "testcase", name=_xml_text(f"step {step.name}"),
                         classname=_xml_text(f"{assignment}.{grade.submission.student}"))
    if step.status in (FAIL, MISSING):
        failure = ET.SubElement(case, "failure", message=_xml_text(step.message), type=step.status)
        details = [step.message]
        if step.public_got is not None:
            details += ["got (public case):", step.public_got, "expected (public case):", step.public_expected or ""]
        failure.text = _xml_text("\n".join(details))
    elif step.status == NOT_RUN:
        error = ET.SubElement(case, "error", message=_xml_text(step.message), type=grade.status)
        error.text = _xml_text("\n".join(grade.messages))


def _suite_output(grade: Grade) -> str:
    """The grader's messages on the submission (exceptions, warnings, diagnoses), then what its code printed."""
    lines = [f"score {grade.adjustment.note}"] if grade.adjustment is not None else []
    lines += list(grade.messages)
    lines += [f"diagnosis ({d.step}): {d.misconception}: {d.message}" for d in grade.diagnoses]
    if grade.output:
        lines += ["", "printed by the notebook:", grade.output]
    return "\n".join(lines)


def _counts(grade: Grade) -> dict[str, int]:
    return {
        "tests": len(grade.steps),
        "failures": sum(step.status in (FAIL, MISSING) for step in grade.steps),
        "errors": sum(step.status == NOT_RUN for step in grade.steps),
    }


def render(assignment: str, grades: Sequence[Grade]) -> str:
    # Imported when a report is rendered: the registry of formats loads this module with the command line, and
    # every command's start (a one-notebook grade, grade-check) would pay for the XML package.
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name=_xml_text(assignment))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    elapsed = 0.0
    for grade in grades:
        counts = _counts(grade)
        suite = ET.SubElement(root, "testsuite", name=_xml_text(grade.submission.student),
                              **{key: str(value) for key, value in counts.items()}, skipped="0",
                              time=f"{grade.seconds:.3f}")
        properties = ET.SubElement(suite, "properties")
        for name, value in (("submission", grade.submission.given), ("status", grade.status),
                            ("score", f"{grade.score:g}"), ("max_score", f"{grade.max_score:g}")):
            ET.SubElement(properties, "property", name=name, value=_xml_text(value))
        if grade.adjustment is not None:
            ET.SubElement(properties, "property", name="original_score", value=f"{grade.adjustment.original:g}")
            ET.SubElement(properties, "property", name="adjustment", value=_xml_text(grade.adjustment.text))
        for step in grade.steps:
            _testcase(suite, assignment, grade, step)
        ET.SubElement(suite, "system-out").text = _xml_text(_suite_output(grade))
        for key, value in counts.items():
            totals[key] += value
        elapsed += grade.seconds
    root.attrib.update({key: str(value) for key, value in totals.items()})
    root.set("time", f"{elapsed:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


class _JunitWriter(Writer):
    """junit.xml, or junit-<assignment>.xml per assignment: each needs its section's grades whole, held until its end."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._info: ClassInfo | None = None
        self._grades: list[Grade] = []

    def begin(self, section: Section) -> None:
        self._info, self._grades = section.info, []

    def add(self, position: int, grade: Grade) -> None:
        self._grades.append(grade)

    def end(self) -> None:
        info, grades, run = self._info, self._grades, self._run
        name = run.per_assignment("junit", ".xml", info)
        run.ledger.attempt(name, lambda: files.write_atomically(run.out / name, render(info.assignment, grades)))
        self._grades = []


FORMATS = (Format("junit", "junit.xml, a test suite per submission and a test case per step, for CI test views",
                  _JunitWriter),)
