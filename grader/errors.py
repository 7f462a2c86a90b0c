"""The grader's own failures, kept apart from a student's failures (which are verdicts)."""


class GraderError(Exception):
    """Base of the errors the command line reports without a traceback."""

    exit_code = 3


class ConfigError(GraderError):
    """The user's configuration or arguments are wrong (missing solutions folder, bad rubric...)."""

    exit_code = 2


class InternalError(GraderError):
    """The grader itself failed, including a reference solution that fails its own cases."""

    exit_code = 3
