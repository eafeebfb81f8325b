"""Train the criterion-sentence evidence classifier.

python run_train.py data=sample                 # bundled sample, offline MiniLM
python run_train.py model=deberta_v3 seed=7     # any Hydra override of configs/
accelerate launch run_train.py                  # several GPUs / nodes
"""

from evidence_ft.cli import run
from evidence_ft.report import print_train_summary
from evidence_ft.train import train


def job(cfg):  # type: ignore[no-untyped-def]
    metrics, objects = train(cfg)
    print_train_summary(metrics, objects)


if __name__ == "__main__":
    run("run_train.py", "train", job)
