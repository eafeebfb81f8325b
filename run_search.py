"""Search hyperparameters with Optuna through the Trainer; refit the best configuration.

python run_search.py data=sample n_trials=5         # study in ./optuna.db; run again to resume
python run_search.py n_trials=30 study_name=x storage=sqlite:///optuna.db pruner=none sampler_seed=1
optuna-dashboard sqlite:///optuna.db                # watch the study (docs/SEARCH.md)
"""

from hydra.core.hydra_config import HydraConfig

from evidence_ft.cli import run
from evidence_ft.jobs.search import print_summary, search


def job(cfg):  # type: ignore[no-untyped-def]
    # The overrides as typed go into the experiment file, so that file alone reproduces the refit.
    print_summary(search(cfg, overrides=list(HydraConfig.get().overrides.task)))


if __name__ == "__main__":
    run("search", job)
