"""backprop-grader: grades notebooks step by step against a reference, running student code in a sandbox."""

__version__ = "0.1.0"
