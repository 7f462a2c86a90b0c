"""Judging: comparing values, the earned rule, named mistakes, the oracle, the feedback beyond right and wrong."""
