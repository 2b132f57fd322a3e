"""Write Mentor's task mix as verl parquet: the training pool and the held-out set.

    python examples/verl/prepare_data.py                       # the embedded default's mix
    python examples/verl/prepare_data.py --config my_run.yaml  # the `tasks:` section of a Mentor config
    python examples/verl/prepare_data.py --out data/mentor_verl --set tasks.train_size=2048

Needs pandas and pyarrow (`pip install 'mentor-rl[verl]'`). examples/verl/run_grpo.sh reads the
default output directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mentor.config import RunConfig, build_config, read_yaml
from mentor.integrations.verl import write_verl_dataset
from mentor.tasks.mix import load_task_mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a Mentor run config (YAML); its tasks section is used")
    parser.add_argument("--set", action="append", default=[], help="a.b=c overrides, as for `mentor train`")
    parser.add_argument("--out", default="data/mentor_verl", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cfg: RunConfig = build_config(read_yaml(args.config) if args.config else {}, args.set,
                                  source=args.config or "defaults")
    train, heldout = load_task_mix(cfg.tasks, args.seed)
    out = Path(args.out)
    write_verl_dataset(train, out / "train.parquet", cfg.prompt)
    write_verl_dataset(heldout, out / "test.parquet", cfg.prompt, split="test")
    print(f"{len(train)} training tasks -> {out / 'train.parquet'}; {len(heldout)} held-out -> {out / 'test.parquet'}")


if __name__ == "__main__":
    main()
