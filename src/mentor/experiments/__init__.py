"""Experiments over whole runs: `mentor compare` (Mentor against vanilla GRPO at the same rollout budget)."""
