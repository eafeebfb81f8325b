"""Synthetic ReDSM5-format corpus from hand-written sentence banks (no real data involved).

    python -m evidence_ft.synthetic --out data/sample --posts 120 --seed 13   # bundled sample
    python -m evidence_ft.synthetic --out /tmp/redsm5_full --full-size --seed 0  # benchmark shape

Both follow the real structure (docs/DATA.md, "Synthetic corpora"): exhaustive annotation,
a quarter of the posts without symptom holding the status-0 rows, a few posts without rows, a
few mixed posts, each annotated sentence exactly one ``split_sentences`` segment of its post.
The sentences live in ``banks/*.yaml`` (written for this project). Templates have slots
({since}, {activity}, ...) filled at random, so a post-level test split holds new sentences,
not copies of training ones. Evidence (status 1) is first-person and present; absence
(status 0) touches the same topic but is a denial, normal functioning, past-and-resolved,
someone else, or hypothetical. ``shape`` holds the counts, ``compose`` builds sentences and
posts, ``generate`` whole corpora, ``stats`` the figures both commands print.

>>> posts, ann = generate_corpus(20, seed=1)
>>> all(s in t for s, t in zip(ann.sentence_text, ann.post_id.map(posts.set_index("post_id").text)))
True
"""

from evidence_ft.synthetic.generate import (
    CSV_COLUMNS,
    generate_corpus,
    generate_from_shape,
    generate_full_size,
    write_corpus,
)
from evidence_ft.synthetic.shape import REDSM5_POSITIVES, REDSM5_SHAPE, CorpusShape, sample_shape

__all__ = [
    "CSV_COLUMNS",
    "REDSM5_POSITIVES",
    "REDSM5_SHAPE",
    "CorpusShape",
    "generate_corpus",
    "generate_from_shape",
    "generate_full_size",
    "sample_shape",
    "write_corpus",
]
