#!/usr/bin/env bash
# GRPO in verl 0.9.1 with Mentor's reward, advantage estimator and task selection. GPU only (vLLM
# rollout); one GPU is enough for SmolLM2-135M. Not run by Mentor's CI (it has no GPU): the
# overrides are composed against verl's config by tests/test_verl_host.py.
#
#   pip install 'verl[vllm]==0.9.1' 'mentor-rl[verl]'   # its own environment: verl pins transformers<5.11
#   python examples/verl/prepare_data.py                 # -> data/mentor_verl/{train,test}.parquet
#   bash examples/verl/run_grpo.sh                       # extra Hydra overrides may follow, e.g. trainer.total_epochs=3
#
# MODEL: a Hugging Face id or directory (default: the embedded default's student, from the Hub).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
model="${MODEL:-HuggingFaceTB/SmolLM2-135M-Instruct}"
# Fail here, not after Ray is up, if the estimator cannot register (verl logs plugin errors at debug level only).
python -c "import mentor.integrations.verl_plugin"
mapfile -t overrides < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$here/grpo_overrides.txt")
exec python -m verl.trainer.main_ppo "${overrides[@]}" "actor_rollout_ref.model.path=$model" "$@"
