"""evidence_ft: fine-tune BERT-family models on ReDSM5 criterion-sentence evidence pairs."""

__version__ = "0.1.0"
