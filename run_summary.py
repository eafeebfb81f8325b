"""Print the multi-seed summaries of -m sweeps again, from their runs in MLflow.

python run_summary.py sweep=outputs/multirun/<date>/<time>  # one sweep's tables
python run_summary.py tracking.experiment=evidence_ft        # every sweep of an experiment
python run_summary.py sweep=... log=true                     # (re)log the parent runs too
"""

from evidence_ft.cli import run
from evidence_ft.jobs.summary import summary_job

if __name__ == "__main__":
    run("summary", summary_job)
