"""The model card (README.md) saved with every trained model."""

from __future__ import annotations

from typing import Any

from evidence_ft.report import decisions_table, interval_note, metrics_table

LIMITS = """\
## Intended use and limits

A research tool for studying how sentences in social-media posts relate to DSM-5
major-depression criteria. It is **not a diagnostic instrument** and must not be used to
screen, diagnose or make decisions about any person.

- Trained on Reddit text (ReDSM5) annotated by a single licensed psychologist; labels carry
  that one annotator's judgement, and Reddit users are not a representative population.
- It scores a (criterion, sentence) pair in isolation: it sees no context, history or
  clinical information, and a post-level reading built from its outputs is only a sketch.
- P(evidence) is calibrated (temperature scaling) on the annotated validation pairs only:
  it is not the probability of a condition, and on other sentences (every sentence of a
  post) it is not calibrated. The decision threshold above was chosen on the validation
  split to maximise the metric named beside it.
"""


USAGE = """\
## Scores and decisions

The temperature T = {temperature:.4f} (`config.evidence_temperature`, fitted on the
validation pairs; 1 = not calibrated) and the decision threshold t = {t:.4f} are built
into the classifier's last layer (its weights and bias divided by T; the logit gap of
`evidence` over `no_evidence` shifted by -logit(t), recorded as
`config.evidence_logit_offset`), so every loader gets the calibrated P(evidence) and its
predicted label is `evidence` exactly when that P(evidence) >= t, as in `run_eval.py`.{own}

```python
from transformers import pipeline
clf = pipeline("text-classification", model="<this folder>")
clf({{"text": "<criterion text>", "text_pair": "<sentence>"}})  # {{"label": ..., "score": s}}
```

The pipeline's `score` is the probability re-centred on the threshold, not P(evidence):
the `evidence` score s is 0.5 at the threshold (s >= 0.5 means `evidence`), and
`no_evidence` scores 1 - s (so s = 1 - score when the label is `no_evidence`).
P(evidence) is p = s*t / (s*t + (1 - s)*(1 - t)), or
`evidence_ft.serving.evidence_probability(logits, model.config)` from the logits.

The MLflow model (`runs:/{run_id}/model`, `mlflow models serve`) takes columns `text`
(criterion) and `text_pair` (sentence) and returns `label` and the calibrated `probability`.
"""

OWN_THRESHOLDS = """

Each criterion also has its own threshold, chosen on its validation pairs
(`config.evidence_criterion_thresholds`: {thresholds}). `run_eval.py`, `run_predict.py` and
the MLflow model decide at those; `transformers.pipeline` cannot (the head does not know
the criterion) and decides at the global t."""


def model_card(
    base_model: str,
    data_name: str,
    manifest: dict[str, Any],
    metrics: dict[str, Any],
    threshold: float,
    run_id: str | None,
) -> str:
    """Markdown card: base model, data and split, metrics, temperature and threshold(s),
    intended use and limits."""
    temperature = float(metrics.get("temperature", 1.0))
    rows = metrics.get("symptom_thresholds") or {}
    own = (
        OWN_THRESHOLDS.format(
            thresholds=", ".join(f"{s} {r['threshold']:.4f}" for s, r in rows.items())
        )
        if rows
        else ""
    )
    decisions = (
        "\nEach decision rule on test beside the constant 'evidence' predictor; the last "
        "column is\nthe F1 gain over it, with its paired interval:\n\n"
        f"```\n{decisions_table(metrics)}\n```\n"
        if "test_at_threshold_f1" in metrics
        else ""
    )
    split_rows = "\n".join(
        f"| {name} | {s['posts']} | {s['pairs']} | {s['positive_rate']} |"
        for name, s in manifest["summary"].items()
    )
    return f"""---
library_name: transformers
pipeline_tag: text-classification
base_model: {base_model}
tags: [evidence_ft, dsm-5, depression, redsm5]
---
# evidence_ft criterion-sentence evidence classifier

Input: a DSM-5 criterion text and a sentence, as a tokenizer pair (criterion first).
Output: `evidence` (the sentence is evidence for the criterion) or `no_evidence`.

- Base model: `{base_model}`
- Data: `{data_name}`, split by post (seed {manifest.get("seed")}, ratios {manifest.get("ratios")})
- Decision threshold on P(evidence): **{threshold:.4f}** (`config.decision_threshold`), chosen
  to maximise validation `{metrics.get("decision_threshold_metric")}`
  (`training.metric_for_best_model`)
- MLflow run: `{run_id}` (`config.mlflow_run_id`)

{USAGE.format(t=threshold, run_id=run_id, temperature=temperature, own=own)}
| split | posts | pairs | positive rate |
| --- | ---: | ---: | ---: |
{split_rows}

## Metrics (threshold 0.5)

```
{metrics_table(metrics)}
```
{decisions}
{interval_note(metrics.get("intervals"))}

{LIMITS}"""
