"""Evaluate a trained checkpoint: pair, per-symptom and post-level metrics, plots, MLflow run.

python run_eval.py checkpoint=outputs/<date>/<time>/model     # the run's own test posts
python run_eval.py checkpoint=runs:/<run_id>/model split=validation
python run_eval.py checkpoint=models:/evidence_ft/1 log=false
"""

from hydra.core.hydra_config import HydraConfig

from evidence_ft.cli import run
from evidence_ft.jobs.evaluate import evaluate


def job(cfg):  # type: ignore[no-untyped-def]
    # The command line decides which data keys replace the training run's own (data_config).
    evaluate(cfg, overrides=list(HydraConfig.get().overrides.task))


if __name__ == "__main__":
    run("eval", job)
