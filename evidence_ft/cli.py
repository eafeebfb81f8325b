"""Command-line plumbing shared by the run_*.py scripts: help, --cfg, logging, errors."""

from __future__ import annotations

import itertools
import logging
import os
import sys
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import datasets
import transformers
from omegaconf import DictConfig

from evidence_ft.config import load_config, to_yaml
from evidence_ft.errors import exit_on_user_error

USAGE = """usage: python {script} [--cfg] [key=value | group=option ...]

Hydra overrides of configs/{config}.yaml, e.g. data=sample training.num_train_epochs=1 seed=7.
Groups: data=redsm5|sample  model=minilm|bert_base|bert_large|deberta_v3
        training=default|optimized  (training.* keys are TrainingArguments fields)
  --cfg   print the composed config and exit
"""


def setup_logging() -> None:
    """INFO lines from our modules and the Trainer; quiet third-party chatter."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for noisy in ("alembic", "mlflow", "urllib3", "httpx", "datasets", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    # The Trainer forks DataLoader workers after tokenizing; keep the Rust tokenizers quiet.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def fresh_output_folder(kind: str) -> Path:
    """A new, empty ``outputs/<kind>/<date>/<time>`` folder under the working directory.

    Claimed with an atomic mkdir: two commands started in the same second get ``<time>`` and
    ``<time>-1``, never one folder between them.
    """
    base = Path(f"outputs/{kind}/{datetime.now():%Y-%m-%d/%H-%M-%S}").absolute()
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count():
        path = base.with_name(f"{base.name}-{n}") if n else base
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def free_text(argv: list[str], keys: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Take ``key=<any text>`` out of argv: Hydra's override grammar rejects much of what a post
    holds (``text=I can't (really)``, and ``${...}`` would be an interpolation).

    >>> free_text(["input=x.csv", "text=I can't (really)"], ("text",))
    (['input=x.csv'], {'text': "I can't (really)"})
    """
    rest, texts = [], {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in keys:
            texts[key] = value
        else:
            rest.append(arg)
    return rest, texts


def run(
    script: str,
    config_name: str,
    job: Callable[[DictConfig], object],
    text_keys: tuple[str, ...] = (),
) -> None:
    """Parse argv into a config and run ``job``; user errors exit 2 with one line.

    ``text_keys`` take free text (``text="..."``), set on the composed config as typed.
    """
    argv, texts = free_text(sys.argv[1:], text_keys)
    if {"-h", "--help"} & set(argv):
        print(USAGE.format(script=script, config=config_name))
        return
    show = "--cfg" in argv
    overrides = [a for a in argv if a != "--cfg"]

    def main() -> None:
        cfg = load_config(overrides, config_name)
        for key, value in texts.items():  # a literal: OmegaConf's escape keeps ${ as typed
            cfg[key] = value.replace("${", "\\${")
        if show:
            print(to_yaml(cfg), end="")
            return
        setup_logging()
        job(cfg)

    exit_on_user_error(main)
