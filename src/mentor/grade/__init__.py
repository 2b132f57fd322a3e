"""Grading: answer verifiers, programmatic checks, locked rubrics, LLM judges, evidence, calibration.

Loop-facing API: `load_grader(rubric_or_bundle, judge=...)` -> `Grader`; `Grader.grade(task, text)`
-> `Grade` (score in [0, 1], or None with `unscorable_reason`); `Grader.bundle_hash`.
"""

from mentor.grade.answer import VERIFIERS, answer_grade, extract_answer, register_verifier
from mentor.grade.attacks import AttackReport, run_attack_suite
from mentor.grade.backends import JudgeCache, OpenAICompatibleJudge, ScriptedJudge, make_judge
from mentor.grade.bundle import Bundle, compile_rubric, load_bundle, lock_rubric
from mentor.grade.calibrate import Calibration, agreement, calibration_report, fit_calibration
from mentor.grade.checks import CHECKS, register_check, run_check
from mentor.grade.grader import Grader, GradeResult, load_grader
from mentor.grade.judge_io import JudgeBackend
from mentor.grade.local_judge import TransformersJudge
from mentor.grade.rubric import Rubric, load_rubric, parse_rubric

__all__ = [
    "CHECKS",
    "VERIFIERS",
    "AttackReport",
    "Bundle",
    "Calibration",
    "GradeResult",
    "Grader",
    "JudgeBackend",
    "JudgeCache",
    "OpenAICompatibleJudge",
    "Rubric",
    "ScriptedJudge",
    "TransformersJudge",
    "agreement",
    "answer_grade",
    "calibration_report",
    "compile_rubric",
    "extract_answer",
    "fit_calibration",
    "load_bundle",
    "load_grader",
    "load_rubric",
    "lock_rubric",
    "make_judge",
    "parse_rubric",
    "register_check",
    "register_verifier",
    "run_attack_suite",
    "run_check",
]
