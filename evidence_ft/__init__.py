"""evidence_ft: fine-tune BERT-family models on ReDSM5 criterion-sentence evidence pairs.

``evidence_ft.predict(model, posts)`` finds the evidence sentences of whole posts
(``evidence_ft.inference``); it is imported on first use so that ``import evidence_ft`` stays
light.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["load_predictor", "predict"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from evidence_ft import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'evidence_ft' has no attribute {name!r}")
