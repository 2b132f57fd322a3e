"""`MentorTaskDataset`: verl's `RLHFDataset` whose training rows are chosen by a Mentor selector.

    data.custom_cls.path=pkg://mentor.integrations.verl_dataset
    data.custom_cls.name=MentorTaskDataset
    data.dataloader_num_workers=0 trainer.use_v1=False
    +data.mentor.group_size=${actor_rollout_ref.rollout.n}
    # optional: +data.mentor.selector.name=bayes  +data.mentor.seed=1

The rows are the parquet `write_verl_dataset` writes (each row's `extra_info.task_id` and
`mentor_task`). For `data.train_files` it ignores the sampler's index and hands out the tasks that
`TaskSelection` picks; `on_batch_end` feeds the trained batch's outcomes to the selector. For
`data.val_files` it is verl's dataset unchanged. Its `state_dict` travels in verl's dataloader
checkpoint (`data.pt`), so a resumed run selects as the uninterrupted one would. Why the v0 trainer
and no workers: `mentor.integrations.verl_tasks`. This module imports verl.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from verl.utils.dataset.rl_dataset import RLHFDataset

from mentor.errors import ConfigError, TaskError
from mentor.integrations import TASK_COLUMN, decode_task
from mentor.integrations.verl_tasks import WHERE, TaskSelection, build_selection, outcomes_from_batch
from mentor.types import Task

__all__ = ["MentorTaskDataset"]


def _plain(value: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # verl depends on omegaconf; plain dicts still work without it
        return value
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig | ListConfig) else value


def _as_list(files: Any) -> list[str]:
    files = _plain(files)
    return [str(f) for f in (files if isinstance(files, list | tuple) else [files])]


def _task_id(info: Any) -> str:
    if isinstance(info, Mapping) and info.get("task_id") is not None:
        return str(info["task_id"])
    if isinstance(info, Mapping) and info.get(TASK_COLUMN) is not None:
        return decode_task(info[TASK_COLUMN]).id
    raise TaskError("a trained sample's extra_info names no Mentor task", where=WHERE,
                    fix="write the rows with mentor.integrations.verl.write_verl_dataset")


class MentorTaskDataset(RLHFDataset):
    def __init__(self, data_files: Any, tokenizer: Any, config: Any, processor: Any = None,
                 max_samples: int = -1) -> None:
        self.selection: TaskSelection | None = None
        super().__init__(data_files, tokenizer, config, processor=processor, max_samples=max_samples)
        train, val = _as_list(config.get("train_files")), _as_list(config.get("val_files"))
        if _as_list(data_files) != train:
            return  # the validation set: every row, in order, as verl's own dataset
        if train == val:
            raise ConfigError("data.train_files and data.val_files are the same files: the selector would pick "
                              "validation rows too", where="data.val_files",
                              fix="write a held-out split: write_verl_dataset(heldout, 'test.parquet', split='test')")
        workers = int(config.get("dataloader_num_workers", 0) or 0)
        if workers:
            raise ConfigError(f"Mentor's task selection needs data.dataloader_num_workers=0, not {workers}: "
                              "worker processes would select from copies of the selector that never see an outcome",
                              where="data.dataloader_num_workers", fix="add data.dataloader_num_workers=0")
        batch_size = int(config.get("gen_batch_size") or config.get("train_batch_size"))
        self.selection = build_selection(self._pool(), _plain(config.get("mentor")), batch_size=batch_size)

    def _pool(self) -> list[Task]:
        """The tasks of the rows verl kept (after max_samples and the overlong-prompt filter)."""
        infos = self.dataframe["extra_info"]
        tasks, self._row_of = [], {}
        for i, info in enumerate(infos):
            if not isinstance(info, Mapping) or info.get(TASK_COLUMN) is None:
                raise TaskError(f"row {i} of {self.data_files} carries no Mentor task (extra_info.{TASK_COLUMN})",
                                where=WHERE, fix="write the rows with mentor.integrations.verl.write_verl_dataset")
            task = decode_task(info[TASK_COLUMN])
            self._row_of[task.id] = i
            tasks.append(task)
        return tasks

    def __getitem__(self, item: int) -> dict:
        if self.selection is None:
            return super().__getitem__(item)
        return super().__getitem__(self._row_of[self.selection.next_task().id])

    def on_batch_end(self, batch: Any) -> None:
        """verl's RayPPOTrainer calls this with each trained batch (a DataProto)."""
        if self.selection is None:
            return
        infos = batch.non_tensor_batch["extra_info"]
        mask = batch.batch["response_mask"].float()  # [B, T]
        scores = batch.batch["token_level_scores"].sum(dim=-1)  # [B]; NaN = unscorable
        adv = batch.batch["advantages"] if "advantages" in batch.batch.keys() else torch.zeros_like(mask)  # noqa: SIM118 (a TensorDict refuses `in`)
        mean_abs = (adv.abs() * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1.0)  # [B]
        outcomes = outcomes_from_batch(self.selection.by_id, [_task_id(info) for info in infos],
                                       list(batch.non_tensor_batch["uid"]), scores.tolist(), mean_abs.tolist())
        self.selection.observe(outcomes)

    def resume_dataset_state(self) -> None:
        super().resume_dataset_state()
        if self.selection is not None:
            self._pool()  # the dataframe was re-read: refresh the task -> row map

    # torchdata's StatefulDataLoader saves a dataset with these two methods inside its own state
    def state_dict(self) -> dict[str, Any]:
        return {} if self.selection is None else {"mentor_selection": self.selection.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.selection is not None and state.get("mentor_selection") is not None:
            self.selection.load_state_dict(state["mentor_selection"])
