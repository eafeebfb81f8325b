"""Find the evidence sentences of new posts with a trained model; write files and report.html.

python run_predict.py checkpoint=outputs/<date>/<time>/model input=posts.csv
python run_predict.py checkpoint=models:/evidence_ft/1 input=posts.jsonl log=true
python run_predict.py checkpoint=runs:/<run_id>/model input=notes/        # folder of .txt
python run_predict.py checkpoint=outputs/<date>/<time>/model text="I can't sleep anymore."
"""

from evidence_ft.cli import run
from evidence_ft.jobs.predict import predict_posts


def job(cfg):  # type: ignore[no-untyped-def]
    predict_posts(cfg)


if __name__ == "__main__":
    run("predict", job, text_keys=("text",))
