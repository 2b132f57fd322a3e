"""The local judge under a grammar compiled from the verdict schema: every verdict parses, whatever
the model (here a random one), and probability-weighted scoring reads the level distribution."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("llguidance", reason="constrained decoding needs llguidance (the dev extra installs it)")

from mentor.errors import JudgeError
from mentor.grade import Grader, TransformersJudge, compile_rubric, parse_rubric
from mentor.grade.judge import (
    JudgeRequest,
    JudgeView,
    build_view,
    parse_output,
    render_messages,
)
from mentor.grade.rubric import EvidenceRules
from mentor.testing import tiny_model
from mentor.types import Task

TASK = Task("sky", "Explain why the sky is blue.")
ATTEMPTS = ["Air molecules scatter blue sunlight more than red light. So the sky looks blue.",
            "Blue light has a short wavelength. It scatters. The sky is blue.",
            "Because of the ocean."]


def _bundle(max_new_tokens: int = 400) -> Any:
    return compile_rubric(parse_rubric({"name": "e", "judge": {"max_retries": 0, "max_new_tokens": max_new_tokens},
                                        "criteria": [
        {"name": "mechanism", "text": "Names the scattering mechanism.", "kind": "judge", "scale": "0/1/2"},
        {"name": "clarity", "text": "Is clear.", "kind": "judge",
         "scale": {"min": 1, "max": 4, "labels": {1: "no", 2: "meh", 3: "ok", 4: "very"}}}]}))


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    model, tok = tiny_model(seed=3)
    model.config.max_position_embeddings = 4096
    return model, tok


@pytest.mark.parametrize("decoding", ["constrained", "probability"])
def test_every_verdict_of_a_random_model_parses(tiny: tuple[Any, Any], decoding: str) -> None:
    model, tok = tiny
    bundle = _bundle()
    judge = TransformersJudge(model, tok, model_name="tiny", decoding=decoding)
    for text in ATTEMPTS:
        view = build_view(bundle, text, defences=True)
        req = JudgeRequest(render_messages(bundle, TASK, view), "h", 0, 0, 0.7, 400, view, schema={"type": "object"})
        raw = judge.generate([req])[0]
        assert isinstance(raw, str)
        try:
            parsed = parse_output(raw, view, EvidenceRules())
        except JudgeError as exc:  # only the evidence may fail, never the shape
            pytest.fail(f"constrained verdict did not parse: {exc.message}\n{raw}")
        assert list(parsed.votes) == ["mechanism", "clarity"]  # rubric order, names fixed by the grammar
        if decoding == "probability":
            assert parsed.level_probs is not None and len(parsed.level_probs) == 2
            for dist, (lo, hi) in zip(parsed.level_probs, [(0, 2), (1, 4)], strict=True):
                assert set(dist) <= set(range(lo, hi + 1)) and sum(dist.values()) == pytest.approx(1.0, abs=1e-4)


def test_free_decoding_of_the_same_model_does_not_parse(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    g = Grader(_bundle(), TransformersJudge(model, tok, model_name="tiny", decoding="free")).grade(TASK, ATTEMPTS[0])
    assert g.score is None  # the contrast the grammar removes


def test_decoding_mode_is_part_of_the_cache_identity(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    ids = {TransformersJudge(model, tok, model_name="m", decoding=d).identity
           for d in ("free", "constrained", "probability")}
    assert len(ids) == 3


def test_requests_without_a_schema_decode_free(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    view = JudgeView(("x",), (False,), (), True)
    req = JudgeRequest(({"role": "user", "content": "list wrong steps"},), "h", 0, 0, 0.7, 12, view,
                       prefill='{"wrong_steps": [')
    out = TransformersJudge(model, tok, decoding="constrained").generate([req])[0]
    assert isinstance(out, str) and out.startswith('{"wrong_steps": [')


def test_expected_level_replaces_a_verified_claim() -> None:
    bundle = compile_rubric(parse_rubric({"name": "e", "criteria": [
        {"name": "mechanism", "text": "Names the mechanism.", "kind": "judge", "scale": "0/1/2"}]}))
    view = build_view(bundle, ATTEMPTS[0], defences=True)
    verdict = {"criteria": [{"name": "mechanism", "reason": "r", "verdict": 2,
                             "quotes": [{"sentence": 1, "text": "Air molecules scatter blue sunlight"}]}]}
    raw = json.dumps(verdict) + "\n" + json.dumps({"level_probs": [{"0": 0.2, "1": 0.2, "2": 0.6}]})
    parsed = parse_output(raw, view, EvidenceRules())
    assert parsed.expected_level(0, parsed.votes["mechanism"], 0) == pytest.approx(1.4)
    from mentor.grade import ScriptedJudge

    g = Grader(bundle, ScriptedJudge.from_outputs([raw])).grade(TASK, ATTEMPTS[0])
    assert g.score == pytest.approx(0.7)  # 1.4 of 2
    low = json.dumps({"criteria": [{"name": "mechanism", "reason": "r", "verdict": 0, "quotes": []}]})
    g = Grader(bundle, ScriptedJudge.from_outputs([low + "\n" + raw.split("\n")[1]])).grade(TASK, ATTEMPTS[0])
    assert g.score == 0.0  # a lowest-level claim is not lifted by the probabilities of higher levels
