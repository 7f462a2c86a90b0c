"""`python -m grader PATH...` is `grade PATH...`."""

from grader.cli import grade

grade(prog_name="grade")
