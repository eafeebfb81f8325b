"""Facts of the ReDSM5 dataset: symptoms, criteria, file columns, splits and labels."""

from __future__ import annotations

# ReDSM5 symptom label -> DSM-5 major-depression criterion id (a fact of the dataset).
SYMPTOM_TO_CRITERION: dict[str, str | None] = {
    "DEPRESSED_MOOD": "A.1",
    "ANHEDONIA": "A.2",
    "APPETITE_CHANGE": "A.3",
    "SLEEP_ISSUES": "A.4",
    "PSYCHOMOTOR": "A.5",
    "FATIGUE": "A.6",
    "WORTHLESSNESS": "A.7",
    "COGNITIVE_ISSUES": "A.8",
    "SUICIDAL_THOUGHTS": "A.9",
    "SPECIAL_CASE": None,  # no DSM-5 criterion: gets data.special_case_text
}
SYMPTOMS = list(SYMPTOM_TO_CRITERION)
# criterion id -> symptom; SPECIAL_CASE is its own criterion id (as make_pairs pairs it).
CRITERION_TO_SYMPTOM = {c or s: s for s, c in SYMPTOM_TO_CRITERION.items()}
CRITERIA_IDS = [c for c in SYMPTOM_TO_CRITERION.values() if c]  # A.1 .. A.9
CRITERIA_SPELLINGS = ("MDD_Criteira.json", "MDD_Criteria.json")  # the dataset's, and the usual
SPLITS = ("train", "validation", "test")
POSTS_COLUMNS = ("post_id", "text")
ANNOTATION_COLUMNS = ("post_id", "sentence_id", "sentence_text", "DSM5_symptom", "status")
PAIR_COLUMNS = [
    "post_id",
    "sentence_id",
    "symptom",
    "criterion_id",
    "criterion",
    "sentence",
    "label",
]
ID2LABEL = {0: "no_evidence", 1: "evidence"}
GATED_HINT = (
    "the ReDSM5 dataset is gated by its authors: request it and place the CSVs in data/redsm5/ "
    "(see data/redsm5/README.md), point data.posts_path/data.annotations_path at them, "
    "or run the bundled synthetic sample with data=sample"
)
