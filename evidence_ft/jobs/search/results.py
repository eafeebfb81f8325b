"""The search's results: the summary, the best configuration as overrides and as a Hydra
experiment file, what is logged on the search run, and the tables printed at the end."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import mlflow
import optuna
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial, TrialState

from evidence_ft import config
from evidence_ft.jobs.search.runs import short
from evidence_ft.jobs.search.space import SEARCH_KEYS, Dimension
from evidence_ft.jobs.search.storage import best_trial
from evidence_ft.report import aligned


def study_summary(
    study: optuna.Study, numbers: list[int], rss_mb: list[float], show: int
) -> dict[str, Any]:
    """Trial counts (whole study and this run), the best trial and the top ``show`` trials."""
    everything = study.get_trials(deepcopy=False)
    ours = set(numbers)
    mine = [t for t in everything if t.number in ours]
    complete = [t for t in everything if t.state == TrialState.COMPLETE]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    complete.sort(key=lambda t: cast(float, t.value), reverse=maximize)
    best = best_trial(study)
    return {
        "study": study.study_name,
        "trials": len(everything),
        "study_counts": _count(everything),
        "run_counts": _count(mine),
        "best": None if best is None else _describe(best),
        "top": [_describe(t) for t in complete[:show]],
        "rss_mb": [round(r, 1) for r in rss_mb],
    }


def _count(trials: list[FrozenTrial]) -> dict[str, int]:
    return {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}


def _describe(trial: FrozenTrial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "value": trial.value,
        "epochs": len(trial.intermediate_values),
        "params": dict(trial.params),
    }


def train_overrides(argv: list[str], dims: list[Dimension]) -> list[str]:
    """The command line's overrides that run_train.py understands, minus the searched keys."""
    searched = {d.key for d in dims}
    kept = []
    for arg in argv:
        key = arg.split("=", 1)[0].lstrip("+~")
        if key.split(".")[0] in (*SEARCH_KEYS, "output_dir") or key in searched or arg == "--cfg":
            continue
        kept.append(arg)
    return kept


def best_overrides(context: list[str], params: dict[str, Any]) -> list[str]:
    """Override lines for run_train.py: the search's own context, then the best values.

    >>> best_overrides(["data=sample"], {"training.focal_gamma": 1.5, "training.seed": 3})
    ['data=sample', 'training.focal_gamma=1.5', 'training.seed=3']
    """

    def fmt(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return [*context, *(f"{key}={fmt(value)}" for key, value in params.items())]


def experiment_name(study_name: str) -> str:
    """The study's name as a file name and a Hydra option: other characters become ``_``.

    >>> experiment_name("lr/bert base:2")
    'lr_bert_base_2'
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", study_name).strip("_") or "search"


def experiment_yaml(name: str, lines: list[str], summary: dict[str, Any]) -> str:
    """``lines`` (best_overrides.txt) as a Hydra experiment: group choices under ``defaults``
    as ``override /group: option``, the other keys nested, the command that runs it on top.

    >>> print(experiment_yaml("s", ["data=sample", "training.learning_rate=0.001"],
    ...                       {"study": "s", "best": {"number": 2, "value": 0.5},
    ...     "objective": "eval_f1", "storage": "sqlite:///optuna.db"}))  # doctest: +ELLIPSIS
    # @package _global_
    # python run_train.py +experiment=s
    #
    # The best trial (2, eval_f1 0.5000) of study s in sqlite:///optuna.db, written by
    # run_search.py on ...; a later export of the same study overwrites this file.
    defaults:
    - override /data: sample
    training:
      learning_rate: 0.001
    <BLANKLINE>
    """
    groups: list[dict[str, Any]] = []
    values = OmegaConf.create()
    for override in OverridesParser.create().parse_overrides(lines):
        key = override.key_or_group
        if override.is_delete():
            continue  # ~key: an experiment can only set keys, not remove them
        if (config.CONFIG_DIR / key).is_dir():  # a group choice: data=sample
            groups.append({f"{'' if override.is_add() else 'override '}/{key}": override.value()})
        else:
            OmegaConf.update(values, key, override.value(), force_add=True)
    tree: dict[str, Any] = {"defaults": groups} if groups else {}
    tree.update(cast(dict[str, Any], OmegaConf.to_container(values)))
    best = summary["best"]
    header = [
        "# @package _global_",
        f"# python run_train.py +experiment={name}",
        "#",
        f"# The best trial ({best['number']}, {summary['objective']} {best['value']:.4f}) of "
        f"study {summary['study']} in {summary['storage']}, written by",
        f"# run_search.py on {datetime.now():%Y-%m-%d %H:%M}; a later export of the same study "
        "overwrites this file.",
    ]
    body = yaml.safe_dump(tree, sort_keys=False, default_flow_style=False)
    return "\n".join(header) + "\n" + body


def write_results(
    summary: dict[str, Any], study: optuna.Study, out: Path, context: list[str], experiments: Path
) -> None:
    """best_overrides.txt, the experiment file, trials.csv and search_summary.json in ``out``
    (the experiment also in ``experiments``, configs/experiment/), all logged on the search run.
    """
    files = [out / "trials.csv", out / "search_summary.json"]
    study.trials_dataframe().to_csv(files[0], index=False)
    files[1].write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    best = summary["best"]
    if best is not None:
        lines = best_overrides(context, best["params"])
        files.append(out / "best_overrides.txt")
        files[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
        summary["overrides_file"] = str(files[-1])
        name = experiment_name(study.study_name)
        text = experiment_yaml(name, lines, summary)
        shared = experiments / f"{name}.yaml"
        shared.parent.mkdir(parents=True, exist_ok=True)
        for path in (shared, out / "experiment.yaml"):
            path.write_text(text, encoding="utf-8")
        files.append(out / "experiment.yaml")
        summary["experiment"] = name
        summary["experiment_file"] = str(shared)
        mlflow.log_params({f"best.{k}": v for k, v in best["params"].items()})
        mlflow.log_metric("best_objective", best["value"])
        mlflow.set_tag("best_trial", str(best["number"]))
    for scope in ("study", "run"):
        for state in ("complete", "pruned", "fail"):
            mlflow.log_metric(f"{scope}_trials_{state}", summary[f"{scope}_counts"][state])
    for path in files:
        mlflow.log_artifact(str(path))


def print_summary(summary: dict[str, Any]) -> None:
    """Counts, the best trials, memory, and where the results are."""
    run, study = summary["run_counts"], summary["study_counts"]
    print()
    print(
        f"study {summary['study']} ({summary['storage']}): {summary['trials']} trials "
        f"({_counts(study)})"
    )
    print(f"this run: {sum(run.values())} trials: {_counts(run)}")
    if summary["top"]:
        print(f"best trials by {summary['objective']} (validation, best epoch of the trial):")
        print(trials_table(summary["top"], summary["objective"]))
    rss = " ".join(f"{r:.0f}" for r in summary["rss_mb"])
    print(f"resident memory (MB) at each trial start, then after the search: {rss}")
    if summary.get("overrides_file"):
        print(f"best overrides: {summary['overrides_file']}")
        print(f"experiment:     {summary['experiment_file']}")
        print(f"train them:     python run_train.py +experiment={summary['experiment']}")
    else:
        print("no trial completed: nothing to export or refit")
    if summary.get("refit"):
        refit_run = summary["refit"]
        f1 = refit_run["metrics"].get("test_f1")
        print(
            f"refit:          {refit_run['run_dir']}  (mlflow run {refit_run['run_id']}"
            + (f", test f1 {f1:.4f})" if f1 is not None else ")")
        )
    print(f"results:        {summary['out']}  (trials.csv, search_summary.json)")
    print(f"watch it:       optuna-dashboard {summary['storage']}")
    print(f"mlflow:         mlflow ui --backend-store-uri {summary['tracking_uri']}")


def _counts(counts: dict[str, int]) -> str:
    """``3 complete, 1 pruned, 0 failed``, and the running trials (other workers') if any.

    >>> _counts({"complete": 3, "pruned": 1, "fail": 0, "running": 2, "waiting": 0})
    '3 complete, 1 pruned, 0 failed, 2 running'
    """
    shown = f"{counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed"
    return shown + (f", {counts['running']} running" if counts.get("running") else "")


def trials_table(rows: list[dict[str, Any]], objective: str) -> str:
    """One line per trial: number, objective, epochs run, then each parameter.

    >>> print(trials_table([{"number": 3, "value": 0.5, "epochs": 2,
    ...                      "params": {"training.learning_rate": 3e-05}}], "eval_f1"))
    trial  eval_f1  epochs  learning_rate
    3       0.5000       2          3e-05
    """
    keys = list(rows[0]["params"]) if rows else []
    header = ["trial", objective, "epochs", *(k.split(".")[-1] for k in keys)]
    body = [
        [
            str(r["number"]),
            f"{r['value']:.4f}",
            str(r["epochs"]),
            *(short(r["params"].get(k)) for k in keys),
        ]
        for r in rows
    ]
    return aligned([header, *body])
