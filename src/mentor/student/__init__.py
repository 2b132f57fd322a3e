"""The student: a Hugging Face causal LM that samples groups of attempts and is trained by GRPO.

Submodules are imported where they are used (`mentor.student.policy`, `.bundled`, `.prompt`, `.tiny`),
so that importing the prompt builder (as the TRL and verl adapters do) does not load torch.
"""
