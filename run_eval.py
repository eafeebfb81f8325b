"""Evaluate a trained checkpoint: pair, per-symptom and post-level metrics, plots, MLflow run.

python run_eval.py checkpoint=outputs/<date>/<time>/model     # the run's own test posts
python run_eval.py checkpoint=runs:/<run_id>/model split=validation
python run_eval.py checkpoint=models:/evidence_ft/1 log=false
"""

import sys

from evidence_ft.cli import run
from evidence_ft.evaluation import evaluate


def job(cfg):  # type: ignore[no-untyped-def]
    # The command line decides which data keys replace the training run's own (data_config).
    evaluate(cfg, overrides=sys.argv[1:])


if __name__ == "__main__":
    run("run_eval.py", "eval", job)
