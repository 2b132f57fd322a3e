"""The student: a Hugging Face causal LM that samples groups of attempts and is trained by GRPO."""

from mentor.student.bundled import BUNDLED_NAME, bundled_model_dir, load_bundled
from mentor.student.policy import HFPolicy, load_policy

__all__ = ["BUNDLED_NAME", "HFPolicy", "bundled_model_dir", "load_bundled", "load_policy"]
