"""Training: the loop, the GRPO update, held-out evaluation."""
