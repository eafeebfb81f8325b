"""Post profiles, the wide profile table and the HTML evidence report on hand-built frames."""

from __future__ import annotations

import math
import re
import shutil
from html.parser import HTMLParser

import pandas as pd
import pytest

from evidence_ft.post_profiles import post_profiles, profile_table
from evidence_ft.post_report import render_html

THRESHOLD = 0.5
CRITERIA = {"DEPRESSED_MOOD": "A.1", "SLEEP_ISSUES": "A.4", "WORTHLESSNESS": "A.7"}
# post_id -> (text, sentences); each sentence is found in the text after the previous one.
POSTS = {
    "p1": ("I feel sad every day.\nI can't sleep at night.  The weather is nice.", 3),
    "p2": ("Nothing to report here. Just a normal day.", 2),
    "p3 & <x>": ("   ", 0),  # no sentences: no prediction rows at all
    # The same sentence twice: only the second one is evidence (offsets, not string search).
    "p4": ("I can't sleep. Fine. I can't sleep.", 3),
    "p5": ('Hi. I am worthless <script>alert("x")</script>.', 2),
}
SENTENCES = {
    "p1": ["I feel sad every day.", "I can't sleep at night.", "The weather is nice."],
    "p2": ["Nothing to report here.", "Just a normal day."],
    "p4": ["I can't sleep.", "Fine.", "I can't sleep."],
    "p5": ["Hi.", 'I am worthless <script>alert("x")</script>.'],
}
# (post, sentence index, symptom) -> probability; every other pair scores 0.05.
PROBS = {
    ("p1", 0, "DEPRESSED_MOOD"): 0.9,
    ("p1", 1, "DEPRESSED_MOOD"): 0.6,
    ("p1", 1, "SLEEP_ISSUES"): 0.95,  # stronger than DEPRESSED_MOOD: listed first
    ("p1", 2, "SLEEP_ISSUES"): 0.45,  # below the threshold
    ("p4", 2, "SLEEP_ISSUES"): 0.7,
    ("p5", 1, "WORTHLESSNESS"): 0.85,
}


def make_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    posts = pd.DataFrame({"post_id": list(POSTS), "text": [t for t, _ in POSTS.values()]})
    rows = []
    for post_id, sentences in SENTENCES.items():
        text, cursor = POSTS[post_id][0], 0
        for i, sentence in enumerate(sentences):
            start = text.index(sentence, cursor)
            cursor = start + len(sentence)
            for symptom, criterion in CRITERIA.items():
                p = PROBS.get((post_id, i, symptom), 0.05)
                rows.append((post_id, i, start, cursor, sentence, criterion, symptom, p))
    preds = pd.DataFrame(
        rows,
        columns=[
            "post_id",
            "sentence_index",
            "start",
            "end",
            "sentence",
            "criterion_id",
            "symptom",
            "probability",
        ],
    )
    preds["decision"] = preds["probability"] >= THRESHOLD
    # Row order must not matter.
    return posts, preds.sample(frac=1, random_state=0).reset_index(drop=True)


# ---------------------------------------------------------------------------- profiles


def test_profiles_counts_strongest_and_order():
    posts, preds = make_frames()
    profiles = post_profiles(preds, posts)
    assert [p["post_id"] for p in profiles] == list(POSTS)
    by_id = {p["post_id"]: p for p in profiles}

    p1 = by_id["p1"]
    assert (p1["sentences"], p1["evidence_sentences"]) == (3, 2)
    assert p1["symptoms"] == [
        {
            "symptom": "SLEEP_ISSUES",
            "criterion_id": "A.4",
            "evidence_sentences": 1,
            "strongest_sentence_index": 1,
            "strongest_sentence": "I can't sleep at night.",
            "probability": 0.95,
        },
        {
            "symptom": "DEPRESSED_MOOD",
            "criterion_id": "A.1",
            "evidence_sentences": 2,
            "strongest_sentence_index": 0,
            "strongest_sentence": "I feel sad every day.",
            "probability": 0.9,
        },
    ]
    # No evidence, and no sentences at all.
    assert by_id["p2"] == {"post_id": "p2", "sentences": 2, "evidence_sentences": 0, "symptoms": []}
    assert by_id["p3 & <x>"]["sentences"] == 0
    assert by_id["p3 & <x>"]["symptoms"] == []
    # The second of two identical sentences.
    assert by_id["p4"]["symptoms"][0]["strongest_sentence_index"] == 2
    assert by_id["p4"]["evidence_sentences"] == 1


def test_profiles_types_are_plain_python():
    posts, preds = make_frames()
    p1 = post_profiles(preds, posts)[0]
    assert type(p1["sentences"]) is int
    s = p1["symptoms"][0]
    assert type(s["probability"]) is float
    assert type(s["evidence_sentences"]) is int
    assert type(s["strongest_sentence_index"]) is int


def test_profiles_strongest_tie_takes_the_earliest_sentence():
    posts, preds = make_frames()
    tie = (preds["post_id"] == "p4") & (preds["symptom"] == "SLEEP_ISSUES")
    preds.loc[tie, ["probability", "decision"]] = [0.7, True]
    s = post_profiles(preds, posts)[3]["symptoms"][0]
    assert (s["strongest_sentence_index"], s["evidence_sentences"]) == (0, 3)


def test_profiles_follow_decision_and_reject_stray_posts():
    posts, preds = make_frames()
    # decision is the model's verdict; probability alone does not make evidence.
    preds.loc[preds["post_id"] == "p5", "decision"] = False
    assert post_profiles(preds, posts)[4]["symptoms"] == []
    with pytest.raises(ValueError, match="p5"):
        post_profiles(preds, posts[posts["post_id"] != "p5"])
    with pytest.raises(ValueError, match="probability"):
        post_profiles(preds.drop(columns="probability"), posts)


def test_profiles_without_any_prediction():
    posts, preds = make_frames()
    profiles = post_profiles(preds.iloc[:0], posts)
    assert [(p["sentences"], p["evidence_sentences"], p["symptoms"]) for p in profiles] == [
        (0, 0, [])
    ] * len(POSTS)


# ---------------------------------------------------------------------------- wide table


def test_profile_table_columns_and_values():
    posts, preds = make_frames()
    table = profile_table(post_profiles(preds, posts), ["DEPRESSED_MOOD", "SLEEP_ISSUES"])
    assert list(table.columns) == [
        "post_id",
        "sentences",
        "evidence_sentences",
        "symptoms",
        "DEPRESSED_MOOD_sentences",
        "DEPRESSED_MOOD_max_probability",
        "SLEEP_ISSUES_sentences",
        "SLEEP_ISSUES_max_probability",
    ]
    rows = table.set_index("post_id")
    assert list(rows.index) == list(POSTS)
    p1 = rows.loc["p1"]
    assert p1["symptoms"] == "DEPRESSED_MOOD;SLEEP_ISSUES"
    assert (p1["sentences"], p1["evidence_sentences"]) == (3, 2)
    assert (p1["DEPRESSED_MOOD_sentences"], p1["SLEEP_ISSUES_sentences"]) == (2, 1)
    assert p1["DEPRESSED_MOOD_max_probability"] == 0.9
    assert p1["SLEEP_ISSUES_max_probability"] == 0.95
    p2 = rows.loc["p2"]
    assert p2["symptoms"] == ""
    assert p2["DEPRESSED_MOOD_sentences"] == 0
    assert math.isnan(p2["DEPRESSED_MOOD_max_probability"])
    # p5's evidence is for a symptom that was not asked for: no column, not listed.
    assert rows.loc["p5", "symptoms"] == ""
    assert rows.loc["p5", "evidence_sentences"] == 1
    assert rows["SLEEP_ISSUES_sentences"].dtype.kind == "i"


# ---------------------------------------------------------------------------- HTML


class Collector(HTMLParser):
    """What a reader sees: per post its heading and text segments (highlighted or not), the
    badges, every link/source URL, ids, script elements, table rows and the CSS."""

    VOID = {"meta", "br", "img", "link", "input", "hr", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.scripts: list[str] = []
        self.style = ""
        self.text: list[str] = []
        self.posts: dict[str, dict] = {}  # section id -> heading, segments, badges, summary
        self.rows: list[list[str]] = []  # summary table rows
        self.legend: dict[str, str] = {}  # criterion id -> class

    def _inside(self, tag: str, cls: str | None = None) -> dict | None:
        for t, a in reversed(self.stack):
            if t == tag and (cls is None or cls in (a.get("class") or "").split()):
                return a
        return None

    def _in(self, tag: str, cls: str | None = None) -> bool:
        return self._inside(tag, cls) is not None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.urls += [a[k] or "" for k in ("src", "href") if k in a]
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "section":
            self.section = a["id"]
            self.posts[a["id"]] = {"heading": "", "segments": [], "badges": [], "summary": ""}
        if tag == "tr" and self._in("table", "sum"):
            self.rows.append([])
        if tag in ("td", "th") and self._in("table", "sum"):
            self.rows[-1].append("")
        if tag == "script":
            self.scripts.append("")
        if tag not in self.VOID:
            self.stack.append((tag, a))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        top = self.stack[-1][0] if self.stack else ""
        if top == "script":
            self.scripts[-1] += data
        if top == "style":
            self.style += data
        if self._in("table", "sum") and (self._in("td") or self._in("th")):
            self.rows[-1][-1] += data
        badge = self._inside("span", "b")
        if badge is not None and self._in("p") and not self._in("section"):
            self.legend[data] = badge["class"].split()[1]
        if not self._in("section"):
            return
        post = self.posts[self.section]
        if self._in("h3") and not self._in("a"):
            post["heading"] += data
        elif self._in("ul", "ps"):
            post["summary"] += data
        elif self._in("div", "t"):
            if badge is not None:
                post["badges"].append(data)
                return
            mark = self._inside("mark")
            key = (mark["data-criteria"], mark["class"], mark["title"]) if mark else None
            segments = post["segments"]
            if segments and segments[-1][1] == key and key is not None:
                segments[-1] = (segments[-1][0] + data, key)
            else:
                segments.append((data, key))


def render(posts, preds, **kwargs):
    profiles = post_profiles(preds, posts)
    page = render_html(
        posts,
        preds,
        profiles,
        threshold=THRESHOLD,
        title=kwargs.get("title", "Evidence <report>"),
        meta=kwargs.get("meta", {"checkpoint": "runs:/abc<1>/model", "threshold": "0.5"}),
    )
    parser = Collector()
    parser.feed(page)
    parser.close()
    return page, parser


def test_html_holds_every_post_with_its_full_text():
    posts, preds = make_frames()
    _, page = render(posts, preds)
    assert [p["heading"] for p in page.posts.values()] == list(POSTS)
    for (text, _), post in zip(POSTS.values(), page.posts.values()):
        # Whitespace and newlines kept; badges are extra, everything else is the post text.
        assert "".join(s for s, _ in post["segments"]) == text


def test_html_highlights_exactly_the_evidence_sentences_with_their_criteria():
    posts, preds = make_frames()
    _, page = render(posts, preds)
    highlighted = {
        (heading, text, key[0])
        for heading, post in zip(POSTS, page.posts.values())
        for text, key in post["segments"]
        if key
    }
    assert highlighted == {
        ("p1", "I feel sad every day.", "A.1"),
        ("p1", "I can't sleep at night.", "A.4 A.1"),  # strongest first
        ("p4", "I can't sleep.", "A.4"),
        ("p5", 'I am worthless <script>alert("x")</script>.', "A.7"),
    }
    # The second "I can't sleep." of p4 is the highlighted one.
    p4 = list(page.posts.values())[3]["segments"]
    assert p4[0] == ("I can't sleep. Fine. ", None)
    # Non-evidence sentences (including one just below the threshold) stay plain.
    plain = "".join(t for post in page.posts.values() for t, key in post["segments"] if not key)
    for sentence in (
        "The weather is nice.",
        "Nothing to report here.",
        "Just a normal day.",
        "Hi.",
    ):
        assert sentence in plain
    # Probabilities in the tooltip and in the badges after the sentence.
    p1 = list(page.posts.values())[0]
    title = next(key[2] for _, key in p1["segments"] if key and key[0] == "A.4 A.1")
    assert title == "A.4 SLEEP_ISSUES 0.950\nA.1 DEPRESSED_MOOD 0.600"
    assert p1["badges"] == ["A.1 0.90", "A.4 0.95", "A.1 0.60"]


def test_html_colours_per_criterion_with_a_legend():
    posts, preds = make_frames()
    _, page = render(posts, preds)
    assert set(page.legend) == set(CRITERIA.values())
    colours = dict(re.findall(r"\.(k\d+)\{--c:(#[0-9a-fA-F]{6})", page.style))
    legend_colours = [colours[k] for k in page.legend.values()]
    assert len(set(legend_colours)) == len(CRITERIA)
    for post in page.posts.values():
        for _, key in post["segments"]:
            if key:  # the highlight takes the colour of its strongest criterion
                assert key[1] == page.legend[key[0].split()[0]]


def test_html_summaries_disclaimer_and_meta():
    posts, preds = make_frames()
    _, page = render(posts, preds)
    text = "".join(page.text)
    assert "not a diagnosis" in text
    assert "runs:/abc<1>/model" in text  # meta shown (and escaped: the parser got it back)
    assert "Evidence <report>" in text
    # Posts x symptoms table: the strongest probability where the post has evidence.
    header, *rows = page.rows
    assert header == ["post", "sentences", "evidence", "A.1", "A.4", "A.7"]
    assert rows[0] == ["p1", "3", "2", "0.90", "0.95", ""]
    assert rows[1] == ["p2", "2", "0", "", "", ""]
    assert rows[2] == ["p3 & <x>", "0", "0", "", "", ""]
    # Per-post summary, strongest symptom first; posts without evidence or sentences say so.
    summaries = [p["summary"] for p in page.posts.values()]
    assert summaries[0].index("SLEEP_ISSUES") < summaries[0].index("DEPRESSED_MOOD")
    assert "1 sentence, strongest 0.95" in summaries[0]
    assert "no evidence" in text and "no sentences" in text


def test_html_is_self_contained_and_inert():
    posts, preds = make_frames()
    html, page = render(posts, preds)
    assert page.urls, "the summary links to the posts"
    for url in page.urls:
        assert not url.lower().startswith(("http:", "https:", "//")), url
        assert url.startswith("#") and url[1:] in page.ids, url  # every link lands
    assert not any("alert" in s for s in page.scripts)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html
    assert "url(" not in page.style and "@import" not in page.style


def test_html_rejects_offsets_that_do_not_hold_the_sentence():
    posts, preds = make_frames()
    preds.loc[(preds["post_id"] == "p4") & (preds["sentence_index"] == 2), "start"] = 0
    with pytest.raises(ValueError, match="'p4' sentence 2"):
        render(posts, preds)


def test_html_without_any_prediction():
    posts, preds = make_frames()
    _, page = render(posts, preds.iloc[:0])
    assert [p["heading"] for p in page.posts.values()] == list(POSTS)
    assert all(not key for p in page.posts.values() for _, key in p["segments"])


@pytest.mark.integration
def test_html_screenshot_in_headless_chromium(tmp_path):
    """The page renders in a real browser (skips where no Chromium is installed)."""
    import subprocess

    browser = next(
        (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if browser is None:
        pytest.skip("no chromium on PATH")
    posts, preds = make_frames()
    page, _ = render(posts, preds)
    html_file = tmp_path / "report.html"
    html_file.write_text(page, encoding="utf-8")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            html_file.as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert shot.stat().st_size > 10_000
