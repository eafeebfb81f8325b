"""The model card (README.md) saved with every trained model."""

from __future__ import annotations

from typing import Any

from evidence_ft.report import metrics_table

LIMITS = """\
## Intended use and limits

A research tool for studying how sentences in social-media posts relate to DSM-5
major-depression criteria. It is **not a diagnostic instrument** and must not be used to
screen, diagnose or make decisions about any person.

- Trained on Reddit text (ReDSM5) annotated by a single licensed psychologist; labels carry
  that one annotator's judgement, and Reddit users are not a representative population.
- It scores a (criterion, sentence) pair in isolation: it sees no context, history or
  clinical information, and a post-level reading built from its outputs is only a sketch.
- Scores are not calibrated probabilities of a condition; the decision threshold below was
  chosen on the validation split to maximise F1 of the evidence class.
"""


def model_card(
    base_model: str,
    data_name: str,
    manifest: dict[str, Any],
    metrics: dict[str, Any],
    threshold: float,
    run_id: str | None,
) -> str:
    """Markdown card: base model, data and split, metrics, threshold, intended use and limits."""
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
- Decision threshold on P(evidence): **{threshold:.4f}** (`config.decision_threshold`)
- MLflow run: `{run_id}`

| split | posts | pairs | positive rate |
| --- | ---: | ---: | ---: |
{split_rows}

## Metrics (threshold 0.5)

```
{metrics_table(metrics)}
```

{LIMITS}"""
