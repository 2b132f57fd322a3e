"""Grading: answer verifiers, programmatic checks, locked rubrics, LLM judges, evidence, calibration."""
