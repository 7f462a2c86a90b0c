"""`python -m grader PATH...` is `grade PATH...`."""

from grader.entry import grade

grade(prog_name="grade")
