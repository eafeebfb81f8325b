"""Train the criterion-sentence evidence classifier.

python run_train.py data=sample                 # bundled sample, offline MiniLM
python run_train.py model=deberta_v3 seed=7     # any Hydra override of configs/
python run_train.py -m seed=0,1,2 data=sample   # a sweep: one job (and MLflow run) per seed
python run_train.py +experiment=<name>          # a named experiment of configs/experiment/
python run_train.py data=sample cv.folds=5      # grouped 5-fold CV; test posts untouched
accelerate launch run_train.py                  # several GPUs / nodes
python run_train.py resume=outputs/<date>/<time> # continue a stopped run (kill, crash)
"""

from hydra.core.hydra_config import HydraConfig

from evidence_ft.cli import run
from evidence_ft.jobs.cv import cross_validate
from evidence_ft.jobs.train import refuse_resume_key, train
from evidence_ft.report import print_cv_summary, print_train_summary
from evidence_ft.run_folder import resume_config


def job(cfg):  # type: ignore[no-untyped-def]
    refuse_resume_key(cfg)
    if cfg.resume:
        cfg = resume_config(cfg.resume, list(HydraConfig.get().overrides.task))
    if cfg.cv.folds:
        print_cv_summary(cross_validate(cfg))
        return
    metrics, objects = train(cfg)
    print_train_summary(metrics, objects)


if __name__ == "__main__":
    run("train", job)
