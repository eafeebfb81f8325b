"""Command-line plumbing shared by the run_*.py scripts: Hydra, logging, one-line errors."""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import datasets
import hydra
import transformers

# Hydra's own argv parser (no public equivalent), so this module reads argv as Hydra will.
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from evidence_ft.config import CONFIG_DIR, finish_config, load_config, one_line
from evidence_ft.errors import UserError, exit_on_user_error
from evidence_ft.options import describe
from evidence_ft.run_folder import drop_unused, hydra_folder, register_resolvers
from evidence_ft.schema import (
    EvalConfig,
    ModelConfig,
    PredictConfig,
    SummaryConfig,
    TrainConfig,
)
from evidence_ft.search_schema import SearchConfig, SearchGroupConfig

# Sweep combinations composed and validated before a -m sweep starts (each takes ~0.1 s).
MAX_CHECKED = 64


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
    config_name: str, job: Callable[[DictConfig], object], text_keys: tuple[str, ...] = ()
) -> None:
    """Run ``job`` under ``@hydra.main`` with ``configs/<config_name>.yaml``.

    Everything Hydra offers works (``-m`` sweeps, ``--cfg job``, ``--info``, ``--help``,
    ``--shell-completion``, ``+experiment=<name>``). Bad overrides are found before Hydra
    starts, and user errors in a job end as one line and exit 2 (Hydra's own report spans
    lines and exits 1). ``text_keys`` take free text (``text="..."``), set as typed.
    """
    argv, texts = free_text(sys.argv[1:], text_keys)
    argv = _bare_cfg(argv)
    flags = get_args_parser().parse_known_args(argv)[0]
    if _runs_jobs(flags):
        exit_on_user_error(lambda: check_overrides(config_name, flags.overrides, flags.multirun))
    register_resolvers()
    if not OmegaConf.has_resolver("config_keys"):  # --help's list of keys (configs/hydra/help)
        OmegaConf.register_new_resolver("config_keys", keys_help)
    sys.argv = [sys.argv[0], *argv]

    def task(cfg: DictConfig) -> None:
        folder = hydra_folder()
        try:
            exit_on_user_error(lambda: job(job_config(cfg, texts, folder)))
        except SystemExit:
            drop_unused(folder)  # a job refused before it wrote anything leaves no folder
            raise

    hydra.main(config_path=str(CONFIG_DIR), config_name=config_name, version_base="1.3")(task)()


def _bare_cfg(argv: list[str]) -> list[str]:
    """``--cfg`` alone (this project's older spelling) means Hydra's ``--cfg job --resolve``."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        following = argv[i + 1] if i + 1 < len(argv) else ""
        if arg in ("--cfg", "-c") and following not in ("job", "hydra", "all"):
            out += ["job", "--resolve"]
    return out


def _runs_jobs(flags: argparse.Namespace) -> bool:
    """Whether the command line runs the job (not --help, --cfg, --info, --shell-completion)."""
    shows = (flags.help, flags.hydra_help, flags.cfg, flags.info, flags.shell_completion)
    other = (flags.config_path, flags.config_name, flags.config_dir, flags.experimental_rerun)
    return not any(shows) and not any(other)


def check_overrides(config_name: str, overrides: list[str], multirun: bool) -> None:
    """Compose and validate the config of each job the overrides describe; raise UserError.

    With ``-m`` a sweep (``seed=0,1,2``, ``model=minilm,bert_base``) is expanded and each
    combination checked (up to ``MAX_CHECKED``), so a typo stops the sweep before its first
    job. Hydra's own keys (``hydra.*``) and non-enumerable sweeps are left to Hydra.
    """
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise UserError(one_line(err)) from err
    if not multirun:
        load_config([str(o.input_line) for o in parsed if not o.is_hydra_override()], config_name)
        return
    choices = []
    for override in parsed:
        if override.is_hydra_override():
            continue
        if override.is_discrete_sweep():
            key = override.get_key_element()
            choices.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        elif not override.is_sweep_override():
            choices.append([str(override.input_line)])
    for combination in itertools.islice(itertools.product(*choices), MAX_CHECKED):
        load_config(list(combination), config_name)


def job_config(cfg: DictConfig, texts: dict[str, str], folder: Path | None) -> DictConfig:
    """Hydra's config for the job: resolved, validated, free text set, output_dir = its folder."""
    cfg = finish_config(cfg)
    for key, value in texts.items():  # a literal: OmegaConf's escape keeps ${ as typed
        cfg[key] = value.replace("${", "\\${")
    if folder is not None and "output_dir" in cfg:
        cfg.output_dir = str(folder)
    setup_logging()
    return cfg


# The schemas of each script's config (for its --help), with the key prefix each sits under.
HELP_SCHEMAS: dict[str, tuple[tuple[type, str], ...]] = {
    "train": ((TrainConfig, ""), (ModelConfig, "model.")),
    "search": (
        (TrainConfig, ""),
        (ModelConfig, "model."),
        (SearchConfig, ""),
        (SearchGroupConfig, "search."),
    ),
    "eval": ((EvalConfig, ""),),
    "predict": ((PredictConfig, ""),),
    "summary": ((SummaryConfig, ""),),
}


def keys_help(config_name: str) -> str:
    """The ``config_keys`` resolver of configs/hydra/help: one line per key with its help.

    ``$`` is doubled: Hydra fills the help template with ``string.Template``.
    """
    lines = [
        line
        for schema, prefix in HELP_SCHEMAS.get(str(config_name), ())
        for line in describe(schema, prefix)
    ]
    return "\n".join(lines).replace("$", "$$")
