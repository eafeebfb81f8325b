"""Synthetic ReDSM5-format corpus from hand-written sentence banks (no real data involved).

    python -m evidence_ft.synthetic --out data/sample --posts 120 --seed 13   # bundled sample
    python -m evidence_ft.synthetic --out /tmp/redsm5_full --full-size --seed 0  # benchmark shape

Every sentence below was written for this project. Templates have slots ({since}, {activity},
...) filled at random, so a post-level test split holds new sentences, not copies of training
ones. Evidence (status 1) is first-person and present; absence (status 0) touches the same
topic but is a denial, normal functioning, past-and-resolved, someone else, or hypothetical.

>>> posts, ann = generate_corpus(20, seed=1)
>>> all(s in t for s, t in zip(ann.sentence_text, ann.post_id.map(posts.set_index("post_id").text)))
True
"""

from __future__ import annotations

import argparse
import math
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# fmt: off
SYMPTOMS = (
    "DEPRESSED_MOOD", "ANHEDONIA", "APPETITE_CHANGE", "SLEEP_ISSUES", "PSYCHOMOTOR", "FATIGUE",
    "WORTHLESSNESS", "COGNITIVE_ISSUES", "SUICIDAL_THOUGHTS", "SPECIAL_CASE",
)
ANNOTATION_COLUMNS = [
    "post_id", "sentence_id", "sentence_text", "DSM5_symptom", "status", "explanation",
]
# fmt: on


# ---------------------------------------------------------------------------- shape


@dataclass(frozen=True)
class CorpusShape:
    """Row counts per (symptom, status), post counts and the post-length distribution."""

    n_posts: int
    n_empty_posts: int  # posts with no annotation row at all
    positives: Mapping[str, int]  # status-1 rows per symptom
    negatives: Mapping[str, int]  # status-0 rows per symptom
    median_words: float  # post lengths are log-normal, clipped to [min_words, max_words]
    sigma_words: float
    min_words: int  # one empty post has exactly this length (if 2), one post ~max_words
    max_words: int
    multi_symptom_sentences: int  # sentences annotated with two different symptoms
    repeated_rows: int  # (post, sentence, symptom, status) rows repeated, other explanation


# Published statistics of ReDSM5 (Bao, Pérez, Parapar, CIKM 2025, arXiv 2508.03399): 1,484
# posts, 392 without any symptom, ~1,547 annotation rows, posts of 2 to 6,990 words, and the
# positives per symptom below (sum 1,384). The remaining 163 rows are status 0; their split by
# symptom is not published, so we spread them in proportion to the positives. The length
# median/sigma are our choice (most posts a few hundred words, a long tail); the counts of
# multi-symptom sentences and repeated rows are small guesses (the quirks exist, counts not given).
REDSM5_POSITIVES = {
    "DEPRESSED_MOOD": 328,
    "ANHEDONIA": 124,
    "APPETITE_CHANGE": 44,
    "SLEEP_ISSUES": 102,
    "PSYCHOMOTOR": 35,
    "FATIGUE": 124,
    "WORTHLESSNESS": 311,
    "COGNITIVE_ISSUES": 59,
    "SUICIDAL_THOUGHTS": 165,
    "SPECIAL_CASE": 92,
}


def _apportion(total: int, weights: Mapping[str, float], minimum: int = 0) -> dict[str, int]:
    """Split ``total`` over the keys in proportion to ``weights`` (largest remainder)."""
    base = {k: minimum for k in weights}
    rest = total - minimum * len(weights)
    if rest < 0:
        raise ValueError(f"cannot give {minimum} rows to each of {len(weights)} symptoms")
    norm = sum(weights.values())
    exact = {k: rest * w / norm for k, w in weights.items()}
    counts = {k: base[k] + math.floor(v) for k, v in exact.items()}
    by_remainder = sorted(weights, key=lambda k: (-(exact[k] - math.floor(exact[k])), k))
    for k in by_remainder[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


REDSM5_SHAPE = CorpusShape(
    n_posts=1484,
    n_empty_posts=392,
    positives=REDSM5_POSITIVES,
    negatives=_apportion(1547 - sum(REDSM5_POSITIVES.values()), REDSM5_POSITIVES),
    median_words=180.0,
    sigma_words=0.9,
    min_words=2,
    max_words=6990,
    multi_symptom_sentences=24,
    repeated_rows=12,
)


def sample_shape(
    n_posts: int,
    *,
    negative_rate: float = 0.35,
    empty_post_rate: float = 0.1,
    rows_per_post: float = 3.2,
    median_words: float = 70.0,
    max_words: int = 320,
) -> CorpusShape:
    """A small, denser, more balanced shape than ReDSM5, so a tiny model can learn from it.

    Positives follow the square root of the published per-symptom counts (rare symptoms still
    get a dozen rows); absence rows are spread evenly; every (symptom, status) gets >= 1 row.
    """
    n_empty = round(n_posts * empty_post_rate)
    n_rows = max(2 * len(SYMPTOMS), round((n_posts - n_empty) * rows_per_post))
    n_neg = max(len(SYMPTOMS), round(n_rows * negative_rate))
    sqrt_weights = {s: math.sqrt(n) for s, n in REDSM5_POSITIVES.items()}
    return CorpusShape(
        n_posts=n_posts,
        n_empty_posts=n_empty,
        positives=_apportion(n_rows - n_neg, sqrt_weights, minimum=1),
        negatives=_apportion(n_neg, dict.fromkeys(SYMPTOMS, 1.0), minimum=1),
        median_words=median_words,
        sigma_words=0.6,
        min_words=2,
        max_words=max_words,
        multi_symptom_sentences=max(1, round(0.02 * n_rows)),
        repeated_rows=max(1, round(0.01 * n_rows)),
    )


# ---------------------------------------------------------------------------- sentence banks
# fmt: off
# Written in plain ASCII: "--" becomes an em-dash, and posts in "curly" style get curly
# apostrophes and quotes, as in the real files (which mix both styles).

SLOTS: dict[str, tuple[str, ...]] = {
    "since": (
        "for weeks now", "for the past month", "since the semester started", "for months",
        "for most of this year", "ever since the holidays", "since I moved out", "since summer",
        "since my birthday", "since {month}",
    ),
    "now": ("lately", "these days", "most days", "this month", "this week"),
    "past": ("high school", "college", "my early twenties", "2019", "my first job"),
    "intens": ("really", "so", "completely", "totally", "incredibly"),
    "activity": (
        "gaming", "drawing", "playing guitar", "going to the gym", "reading fantasy novels",
        "cooking", "skateboarding", "photography", "playing basketball", "writing music",
        "hiking", "knitting", "movie nights with friends", "baking", "playing chess online",
    ),
    "person": (
        "my roommate", "my sister", "my brother", "my best friend", "my mom", "my dad",
        "my girlfriend", "my boyfriend", "a coworker", "my cousin", "my partner",
    ),
    "whom": ("everyone around me", "my family", "my friends", "my parents", "{person}"),
    "place": ("work", "class", "my shift", "school", "practice", "the warehouse", "the lab"),
    "meal": ("breakfast", "lunch", "dinner"),
    "weight": ("eight", "ten", "twelve", "fifteen", "twenty"),
    "month": ("January", "March", "April", "June", "August", "October", "November"),
    "cloud": ("gray cloud", "dark cloud", "thick fog", "wet blanket"),
    "cry_spot": ("in my car", "in the bathroom", "on the bus", "in the shower"),
    "recent": ("last night", "on Sunday night", "yesterday", "twice this week"),
    "trigger": ("a sad song", "a dumb commercial", "a text from {person}", "spilling my coffee"),
    "trio": (
        "Music, food, people", "Games, books, friends", "Movies, music, going out",
        "My hobbies, my friends, my favorite shows",
    ),
    "junk": ("junk food", "chips and candy", "takeout", "cereal straight from the box"),
    "late": ("three in the morning", "four in the morning", "5am", "sunrise"),
    "early": ("2am", "3am", "4am", "half past three"),
    "afternoon": ("2pm", "3pm", "the afternoon", "almost dinner time"),
    "few_hours": ("two", "three", "three or four", "maybe four"),
    "many_hours": ("eleven", "twelve", "thirteen", "fourteen"),
    "ok_hours": ("seven", "eight", "seven or eight", "eight or nine"),
    "bedtime": ("ten", "eleven", "half past ten", "midnight"),
    "clock": ("three", "four", "five", "six"),
    "pick": ("hands", "nails", "sleeves", "lips"),
    "times": ("five times", "over and over", "ten times", "three times"),
    "forget": ("appointments", "why I walked into a room", "my own plans", "people's names"),
    "nights": ("Some nights", "Most nights", "On bad nights", "Every night {now}"),
    "chore": (
        "taking a shower", "answering one email", "doing the dishes", "folding laundry",
        "a quick trip to the store",
    ),
    "task": ("an essay", "my homework", "a single work report", "a chapter", "a short form"),
    "loss": ("my grandma", "my dad", "my dog", "my uncle", "my childhood friend", "my mom"),
    "condition": (
        "my thyroid problem", "long covid", "my anemia", "the concussion I had in spring",
        "my chronic migraines",
    ),
    "medication": (
        "the new blood pressure pills", "the steroids I was prescribed", "a new acne medication",
        "the sleeping pills my doctor gave me",
    ),
    "substance": ("drinking", "smoking weed", "vaping", "energy drinks"),
    "surgery": ("surgery", "wisdom teeth surgery", "knee operation", "appendix surgery"),
    "tests": ("blood tests", "a full checkup", "thyroid tests"),
    "good_place": ("really good place", "great headspace", "good spot", "better place than ever"),
    "plan": ("the move", "the job offer", "the apartment", "my visa"),
    "event": ("concerts", "game nights", "road trips", "new album releases"),
    "exercise": ("going on long runs", "lifting three times a week", "hiking on weekends"),
    "hard_time": ("finals", "my move", "a big project", "tax season"),
    "advice": ("work", "my roommate situation", "school", "my budget", "my car"),
    "future": ("the future", "moving to {city}", "my trip in {month}", "starting grad school"),
    "age": ("19", "21", "23", "24", "26", "29", "31", "34", "38"),
    "job": (
        "at a grocery store", "in IT support", "at a warehouse", "as a barista", "in retail",
        "at a call center", "as a line cook", "in an office downtown",
    ),
    "minutes": ("twenty", "thirty", "forty", "forty-five"),
    "pet": ("cat", "puppy", "rabbit", "rescue dog"),
    "pet_name": ("Mochi", "Biscuit", "Pepper", "Luna", "Toast", "Gus"),
    "course": ("statistics", "organic chemistry", "pottery", "Spanish", "intro to coding"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "city": ("Denver", "Leeds", "Toronto", "Austin", "Melbourne", "Dublin"),
}

# Discourse openers put in front of some annotated sentences (both statuses alike).
OPENERS = ("Honestly, ", "Tbh ", "To be honest, ", "Idk, ", "Also, ", "And ", "So ", "I mean, ")

# Evidence (status 1): first person, present, clearly about the symptom.
POSITIVE: dict[str, tuple[str, ...]] = {
    "DEPRESSED_MOOD": (
        "I've felt {intens} empty and numb {since}, like there's a {cloud} over everything.",
        "Most days I feel hopeless and end up crying {cry_spot} before {place}.",
        "I haven't been able to shake this heavy sadness {since}, even on days when nothing "
        "bad happens.",
        "Everything feels dark and pointless {now} and I don't know how to climb out of it.",
        "I cried myself to sleep again {recent} and I'm {intens} sick of feeling this miserable.",
        "There's a constant ache of sadness in my chest {now} that never really goes away.",
        "I'm sad all the time {now} and I can't remember the last time I felt okay.",
        "I feel so low {now} that even {trigger} makes me break down in tears.",
        "I wake up every morning with this hopeless, heavy feeling and it follows me to {place}.",
    ),
    "ANHEDONIA": (
        "I used to love {activity} but now I can't be bothered to even think about it.",
        "Nothing is fun anymore, not even {activity}, so I just go through the motions.",
        "{person_cap} keeps inviting me out and I say no because I don't care about anything.",
        "Even {activity} feels like a chore now and I haven't enjoyed it {since}.",
        "I've lost all interest in the things that used to make me happy, {activity} included.",
        "{trio} -- none of it makes me feel anything {now}.",
        "I scroll for hours because nothing I used to enjoy feels worth doing {now}.",
        "I quit {activity} back in {month} because it stopped giving me any joy at all.",
    ),
    "APPETITE_CHANGE": (
        "I've barely been eating {since}, maybe one small meal a day if I remember.",
        "I've lost about {weight} pounds {since} without trying because I have no appetite.",
        "I keep stress eating late at night and I've put on {weight} pounds since {month}.",
        "Food has no taste anymore and I skip {meal} almost every day.",
        "My appetite is completely gone {now} and {person} keeps saying how thin I look.",
        "I force myself to eat {meal} but I usually give up after a few bites.",
        "I can't stop eating {junk} {now} and none of my clothes fit anymore.",
        "I'm never hungry {now}, and I've dropped {weight} pounds without even trying.",
    ),
    "SLEEP_ISSUES": (
        "I lie awake until {late} most nights and then drag myself to {place}.",
        "I've been sleeping {many_hours} hours a day {since} and I still can't get up.",
        "I can't fall asleep no matter what I try, my brain just won't shut off {now}.",
        "I wake up at {early} every night and can never get back to sleep.",
        "Some days I sleep until {afternoon} because I can't make myself get out of bed.",
        "I've been getting {few_hours} hours of sleep a night {since}.",
        "My sleep has been wrecked {since}, I'm awake all night and passed out all day.",
        "I sleep through my alarms {now} and still nap the second I get home from {place}.",
    ),
    "PSYCHOMOTOR": (
        "I feel like I'm moving in slow motion {now}, even walking to the kitchen takes forever.",
        "People at {place} keep asking why I talk so slowly {now}.",
        "I can't sit still, I keep pacing around my room and picking at my {pick}.",
        "My body feels so heavy {now} that every movement takes a huge effort.",
        "I'm restless and fidgety all day, tapping my leg until {person} asks me to stop.",
        "Everything I do is sluggish {now}, like my arms and legs are full of wet sand.",
        "{person_cap} says I've been moving and speaking like a zombie {since}.",
        "I'm so agitated I can't stay in my chair at {place}, I'm up and pacing every few minutes.",
    ),
    "FATIGUE": (
        "I've been exhausted all the time {since}, even after a full night of sleep.",
        "Just {chore} wipes me out for the rest of the day.",
        "I have zero energy {now} and I spend my days off lying on the couch.",
        "By noon I'm so drained that I can barely keep my eyes open at {place}.",
        "I'm {intens} worn out {now}, like my batteries never recharge anymore.",
        "Even {chore} leaves me completely drained {now}.",
        "I'm tired to the bone {now} and I have to lie down as soon as I'm back from {place}.",
    ),
    "WORTHLESSNESS": (
        "I feel like a complete failure and a burden to {whom}.",
        "I hate myself for being so useless {now}.",
        "Everything that goes wrong at {place} is my fault, and I can't stop blaming myself.",
        "I'm worthless, I can't even finish {task} without messing it up.",
        "I keep replaying every mistake I've made {since} and feeling disgusted with who I am.",
        "I feel guilty all the time, like I'm letting {person} down just by existing.",
        "I don't deserve {person} and they'd leave if they really knew me.",
        "I'm such a waste of space {now}, {person} deserves so much better than me.",
    ),
    "COGNITIVE_ISSUES": (
        "I can't focus on anything {now}, I read the same page {times} and nothing sticks.",
        "My brain feels foggy {now} and I keep losing my train of thought mid-sentence.",
        "I can't even decide what to eat for {meal}, every small choice feels impossible.",
        "I can't concentrate long enough to finish {task} {now}.",
        "At {place} I zone out constantly and forget what people just told me.",
        "Making any decision at all, even what to wear, leaves me frozen {now}.",
        "My memory is shot {now}, I forget {forget} and have to write everything down.",
    ),
    "SUICIDAL_THOUGHTS": (
        "I keep thinking {whom} would be better off if I wasn't here anymore.",
        "{nights} I wish I could fall asleep and never wake up.",
        "Thoughts about ending my life keep coming back {now}.",
        "I've been thinking about death a lot {since} and it doesn't scare me like it used to.",
        "I don't want to be alive anymore and it scares me how often I think about it {now}.",
        "I've been thinking about killing myself {since} and I don't know who to tell.",
        "{nights} I lie there wishing I could just disappear for good.",
    ),
    "SPECIAL_CASE": (
        "Ever since {loss} died in {month} I cry every night and can't focus on anything.",
        "My doctor thinks the exhaustion and low mood come from {condition}.",
        "I've felt flat and foggy since I started {medication}, it began the same week.",
        "Since I stopped {substance} I've had awful sleep and mood swings while my body adjusts.",
        "Losing {loss} last {month} knocked the wind out of me and I still cry at every photo.",
        "My energy crashed with {condition}, and my doctor says the low mood is part of it.",
        "I've been grieving {loss} {since} and some days the sadness is all I can feel.",
    ),
}

# Absence (status 0): same topic, not evidence. Each template carries why.
ABSENCE: dict[str, tuple[tuple[str, str], ...]] = {
    "DEPRESSED_MOOD": (
        ("denial", "My mood has been pretty good {now}, I'm just busy with {place}."),
        ("denial", "I'm not sad at all, I'm actually in a {good_place} right now."),
        ("resolved", "I had a dark patch back in {past}, but I've felt like myself for years."),
        ("other", "{person_cap} has been really down {now} and I want to help."),
        ("hypothetical", "I might feel down if {plan} falls through, but right now I'm fine."),
        ("denial", "Day to day I feel calm and content, and I laugh a lot with {person}."),
    ),
    "ANHEDONIA": (
        ("denial", "I still really enjoy {activity} and look forward to it every weekend."),
        ("denial", "I've been having a lot of fun with {activity} {now}."),
        ("resolved", "In {past} nothing interested me, but now I'm into {activity} and love it."),
        ("other", "{person_cap} stopped caring about their hobbies, so I'm asking for advice."),
        ("denial", "I still get excited about {event} and weekends with {person}."),
    ),
    "APPETITE_CHANGE": (
        ("denial", "My appetite has been totally normal {now}, I eat three meals a day."),
        ("denial", "I've been eating well {now} and my weight hasn't changed at all."),
        ("resolved", "I lost some weight when I had the flu in {month}, but I eat normally now."),
        ("other", "{person_cap} barely eats anymore and I'm worried about them."),
        ("denial", "I like cooking {meal} for myself and I've been trying new recipes {now}."),
    ),
    "SLEEP_ISSUES": (
        ("denial", "I sleep a solid {ok_hours} hours most nights and wake up feeling rested."),
        ("denial", "Sleep has never been a problem for me, I'm usually out by {bedtime}."),
        ("resolved", "I had insomnia during {hard_time} last year, but it cleared up right after."),
        ("other", "{person_cap} is up all night gaming, but I'm usually asleep by {bedtime}."),
        ("hypothetical", "If I had coffee after {clock} I probably couldn't sleep, so I don't."),
    ),
    "PSYCHOMOTOR": (
        ("denial", "I've been active and quick on my feet, walking to {place} every morning."),
        ("denial", "Nobody at {place} has noticed anything different about how I move or talk."),
        ("denial", "I feel calm and settled {now}, not restless and not slowed down."),
        ("resolved", "I was jittery on an old medicine in {past}, but it stopped once I switched."),
        ("other", "{person_cap} paces around the house all day, but I'm pretty relaxed."),
    ),
    "FATIGUE": (
        ("denial", "I've had plenty of energy {now} and I've been {exercise}."),
        ("denial", "Physically I feel great, I wake up rested and get through {place} just fine."),
        ("resolved", "I was worn out on night shifts in {past}, but I changed jobs and feel fine."),
        ("other", "{person_cap} is always exhausted, but I have energy to spare."),
        ("hypothetical", "I'd be wiped out if I kept working doubles at {place}, so I cut back."),
    ),
    "WORTHLESSNESS": (
        ("denial", "I'm proud of how far I've come since {past} and I think I'm a decent person."),
        ("denial", "I know my worth and I don't beat myself up over small mistakes at {place}."),
        ("resolved", "I felt worthless back in {past}, but therapy changed how I see myself."),
        ("other", "{person_cap} keeps calling themselves a failure and I don't know what to say."),
        ("denial", "I made a mistake at {place} today, fixed it, and moved on without guilt."),
    ),
    "COGNITIVE_ISSUES": (
        ("denial", "My focus has been sharp {now} and I finished {task} early."),
        ("denial", "I don't have any trouble concentrating, I can study {course} for hours."),
        ("resolved", "My head was foggy after my {surgery} in {month}, but that's all gone now."),
        ("other", "{person_cap} has trouble focusing, so we've been studying together."),
        ("denial", "I made a big decision about moving to {city} and I feel clear-headed."),
    ),
    "SUICIDAL_THOUGHTS": (
        ("denial", "To be clear, I'm not suicidal and I have no thoughts of hurting myself {now}."),
        ("denial", "I've never thought about ending my life, I just want advice about {advice}."),
        ("resolved", "I had dark thoughts back in {past}, but I've been safe and well for years."),
        ("other", "{person_cap} told me they've had thoughts of suicide and I want to help."),
        ("denial", "I want to live and I'm actually excited about {future}."),
    ),
    "SPECIAL_CASE": (
        ("denial", "My doctor ran {tests} and everything came back normal."),
        ("resolved", "{loss_cap} passed away years ago, and I remember them fondly now."),
        ("other", "{person_cap} is grieving and I'm trying to be there for them."),
        ("denial", "I'm not on any medication and I haven't had a drink {since}."),
        ("resolved", "I had a rough few weeks after my {surgery}, but I've fully recovered."),
    ),
}

# Neutral filler that pads posts (never annotated).
FILLER: tuple[str, ...] = (
    "I'm {age} and I live with {person} in a small apartment.",
    "This is my first post here, so sorry if it's a bit messy.",
    "Sorry about the formatting, I'm on mobile.",
    "I work {job} and the commute is about {minutes} minutes each way.",
    "We adopted a {pet} named {pet_name} back in {month}.",
    "I'm taking {course} this semester along with two other classes.",
    "My family lives about {minutes} minutes away, so I visit on weekends.",
    "Last weekend we drove out to {city} to see {person}.",
    "My manager wants me to train the new hire next {weekday}.",
    "I'm not sure if this is the right subreddit for this.",
    "Thanks in advance to anyone who reads all of this.",
    "For context, I moved to {city} a couple of years ago for work.",
    "The rent here went up again, which is a whole other story.",
    "We have a group chat where we mostly send each other memes.",
    "I'm saving up for a used car so I can stop taking two buses.",
    "It rained all week, so {pet_name} has been going stir crazy.",
    "I had a routine checkup on {weekday} and the nurse was nice.",
    "We're planning to visit my grandparents in {month}.",
    "I have two younger siblings who are both still in school.",
    "Anyway, that's the background.",
    "I don't really know what I'm asking for here.",
    "Any advice would be appreciated.",
    '{person_cap} always says "it is what it is" whenever something goes wrong.',
    'My coworker likes to say "we\'ll figure it out, we always do."',
    '{person_cap} keeps telling me "you\'ve got this" before every exam.',
    'The sign at {place} literally says "no phones after nine."',
    "My shift at {place} starts early, so I'm usually out the door by seven.",
    "I've been meaning to clean out my closet for about a month.",
    "Our neighbor is renovating, so there's drilling every {weekday} morning.",
    "I switched phone plans in {month} and it's a bit cheaper now.",
    "Edit: fixed a typo.",
)
SHORT_POSTS = ("Anyone around?", "Need advice.", "Quick question.", "Long story.")
# fmt: on

# (what the writer describes, criterion name, topic) per symptom, for explanations.
EXPLAIN: dict[str, tuple[str, str, str]] = {
    "DEPRESSED_MOOD": ("persistent sadness, emptiness or hopelessness", "depressed mood", "mood"),
    "ANHEDONIA": ("lost interest or pleasure in things they used to enjoy", "anhedonia", "hobbies"),
    "APPETITE_CHANGE": ("a clear change in appetite or weight", "appetite change", "eating"),
    "SLEEP_ISSUES": ("disturbed sleep, too little or too much", "sleep problems", "sleep"),
    "PSYCHOMOTOR": ("slowed or restless movement others can see", "psychomotor change", "movement"),
    "FATIGUE": ("ongoing tiredness and lack of energy", "fatigue", "energy"),
    "WORTHLESSNESS": ("worthlessness or excessive guilt", "worthlessness or guilt", "self-worth"),
    "COGNITIVE_ISSUES": ("trouble concentrating or deciding", "cognitive difficulties", "focus"),
    "SUICIDAL_THOUGHTS": (
        "recurring thoughts of death or suicide",
        "suicidal thoughts",
        "thoughts of death",
    ),
    "SPECIAL_CASE": (
        "distress tied to a loss, an illness or a drug",
        "a special case",
        "loss or illness",
    ),
}
EXPLAIN_POSITIVE = (
    "The writer describes {desc} in their own life, which is direct evidence for {name}.",
    "This sentence reports {desc} as a current experience, so it supports {name}.",
    "In the first person, the poster speaks of {desc}; that matches {name}.",
)
EXPLAIN_ABSENCE = {
    "denial": (
        "The sentence touches on {topic}, but the writer denies any problem, so it is not {name}.",
        "No current difficulty with {topic} is reported here, which counts against {name}.",
    ),
    "resolved": (
        "The writer mentions {topic} only as a past problem that has resolved, not current {name}.",
        "This is about {topic} in the past -- it has passed, so it is not evidence for {name}.",
    ),
    "other": (
        "The sentence describes someone else's {topic}, not the writer's, so it is not {name}.",
        "It concerns another person's {topic}; the poster does not report {name} themselves.",
    ),
    "hypothetical": (
        "The writer only imagines a problem with {topic}, which is not evidence for {name}.",
        "A hypothetical about {topic}, with the writer fine for now, does not show {name}.",
    ),
}

_SLOT = re.compile(r"\{(\w+)\}")


# ---------------------------------------------------------------------------- generation


def _fill(template: str, rng: random.Random) -> str:
    """Replace each {slot} (or {slot_cap}, capitalised) with a random choice from SLOTS.

    Slot values may hold slots themselves ("since {month}"), so fill until none is left.
    """

    def pick(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("_cap"):
            word = rng.choice(SLOTS[name[:-4]])
            return word[:1].upper() + word[1:]
        return rng.choice(SLOTS[name])

    text = template
    while "{" in text:
        text = _SLOT.sub(pick, text)
    return text.replace("--", "\u2014")


def _lower_first(text: str) -> str:
    """Lower-case the first letter so the text can follow a comma ('I' stays upper-case)."""
    return text if text.startswith(("I ", "I'")) else text[:1].lower() + text[1:]


def _curly(text: str) -> str:
    """Straight apostrophes and double quotes -> curly ones (alternating open/close)."""
    text = text.replace("'", "\u2019")
    parts = text.split('"')
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        out += ("\u201c" if i % 2 == 0 else "\u201d") + part
    return out


def _join_clauses(first: str, second: str) -> str:
    """Two sentences -> one sentence 'first--and second' (for multi-symptom rows)."""
    return f"{first.rstrip('.')}\u2014and {_lower_first(second)}"


Group = list[tuple[str, int]]  # the (symptom, status) rows that share one sentence
Row = tuple[str, str, str, str, int, str]  # one line of redsm5_annotations.csv


def _plan_groups(shape: CorpusShape, rng: random.Random) -> list[Group]:
    """All (symptom, status) rows of the corpus, grouped by the sentence that will carry them."""
    units = [(s, 1) for s, n in shape.positives.items() for _ in range(n)]
    units += [(s, 0) for s, n in shape.negatives.items() for _ in range(n)]
    rng.shuffle(units)
    groups: list[Group] = []
    for _ in range(shape.repeated_rows):  # same key twice: the second row is the repeat
        unit = next((u for u in units if units.count(u) >= 2), None)
        if unit is None:
            break
        units.remove(unit)
        units.remove(unit)
        groups.append([unit, unit])
    for _ in range(shape.multi_symptom_sentences):  # one sentence, two DSM-5 symptoms
        pos = [u for u in units if u[1] == 1 and u[0] != "SPECIAL_CASE"]
        pair = next(((a, b) for a in pos for b in pos if a[0] != b[0]), None)
        if pair is None:
            break
        units.remove(pair[0])
        units.remove(pair[1])
        groups.append(list(pair))
    groups += [[u] for u in units]
    rng.shuffle(groups)
    return groups


def _deal_to_posts(
    groups: list[Group], shape: CorpusShape, rng: random.Random
) -> list[list[Group]]:
    """Groups per post: each annotated post gets one, the rest land on random annotated posts."""
    n_annotated = min(shape.n_posts - shape.n_empty_posts, len(groups))
    if n_annotated < 1:
        raise ValueError("the shape leaves no annotated post")
    per_post = [[g] for g in groups[:n_annotated]]
    for group in groups[n_annotated:]:
        rng.choice(per_post).append(group)
    per_post += [[] for _ in range(shape.n_posts - n_annotated)]
    rng.shuffle(per_post)
    return per_post


def _explain(symptom: str, status: int, reason: str, rng: random.Random, avoid: str = "") -> str:
    """A one-sentence rationale, different from ``avoid`` (for repeated rows)."""
    desc, name, topic = EXPLAIN[symptom]
    options = EXPLAIN_POSITIVE if status == 1 else EXPLAIN_ABSENCE[reason]
    choices = [o for o in options if o.format(desc=desc, name=name, topic=topic) != avoid]
    return rng.choice(choices).format(desc=desc, name=name, topic=topic).replace("--", "\u2014")


def _annotated_sentence(group: Group, rng: random.Random) -> tuple[str, str]:
    """(sentence, absence reason or '') for a group of rows sharing one sentence."""
    (symptom, status), *rest = group
    reason = ""
    if status == 1:
        text = _fill(rng.choice(POSITIVE[symptom]), rng)
        if rest and rest[0][0] != symptom:
            text = _join_clauses(text, _fill(rng.choice(POSITIVE[rest[0][0]]), rng))
    else:
        reason, template = rng.choice(ABSENCE[symptom])
        text = _fill(template, rng)
    if rng.random() < 0.25:
        text = rng.choice(OPENERS) + _lower_first(text)
    return text, reason


def _post_text(sentences: Sequence[str], rng: random.Random, force_newline: bool) -> str:
    """Join sentences with spaces, with an occasional paragraph break or single newline."""
    text = sentences[0]
    breaks = {i for i in range(1, len(sentences)) if rng.random() < 0.08}
    if force_newline and not breaks and len(sentences) > 1:
        breaks = {len(sentences) // 2}
    for i, sentence in enumerate(sentences[1:], start=1):
        if i in breaks:
            text += ("\n" if rng.random() < 0.3 else "\n\n") + sentence
        else:
            text += " " + sentence
    return text


def _build_post(
    post_id: str,
    groups: list[Group],
    target_words: float,
    curly: bool,
    showcase: bool,
    rng: random.Random,
) -> tuple[str, list[Row]]:
    """One post: its annotated sentences at random places among filler, and their rows.

    The showcase post always has a quoted filler sentence (curly quotes) and a newline.
    """
    style = _curly if curly else str
    annotated = [(g, *_annotated_sentence(g, rng)) for g in groups]
    sentences = [style(text) for _, text, _ in annotated]
    n_words = sum(len(s.split()) for s in sentences)
    quoted = [f for f in FILLER if '"' in f and "'" in f]
    filler = [style(_fill(rng.choice(quoted), rng))] if showcase else []
    while True:  # pad with filler up to the target length
        candidate = style(_fill(rng.choice(FILLER), rng))
        if n_words + len(candidate.split()) > target_words and (sentences or filler):
            break
        filler.append(candidate)
        n_words += len(candidate.split())
    positions = sorted(rng.sample(range(len(filler) + len(sentences)), len(sentences)))
    order = filler[:]
    for k, sentence in zip(positions, sentences):
        order.insert(k, sentence)
    rows: list[Row] = []
    for k, (group, _, reason) in zip(positions, annotated):
        previous = ""
        for symptom, status in group:
            explanation = style(_explain(symptom, status, reason, rng, avoid=previous))
            rows.append((post_id, f"{post_id}_{k}", order[k], symptom, status, explanation))
            previous = explanation if group[0] == group[-1] else ""
    return _post_text(order, rng, force_newline=showcase), rows


def generate_from_shape(
    shape: CorpusShape, seed: int, *, curly_rate: float = 0.6
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Posts (post_id, text) and annotations (ReDSM5 columns) with exactly ``shape``'s counts.

    Quirks are placed deterministically: the post holding the first multi-symptom sentence
    (em-dash inside) is curly, with quotes and a newline; repeated rows come from the plan.
    """
    rng = random.Random(seed)
    per_post = _deal_to_posts(_plan_groups(shape, rng), shape, rng)
    multi = [i for i, p in enumerate(per_post) if any(g[0][0] != g[-1][0] for g in p)]
    showcase = multi[0] if multi else next(i for i, p in enumerate(per_post) if p)
    short_texts = [t for t in SHORT_POSTS if len(t.split()) == shape.min_words]
    shortest = next((i for i, p in enumerate(per_post) if not p and short_texts), -1)
    longest = rng.choice([i for i in range(shape.n_posts) if i != shortest])

    seen: set[str] = set()
    ids: list[str] = []
    texts: list[str] = []
    rows: list[Row] = []
    for i, groups in enumerate(per_post):
        post_id = f"s_{rng.randint(1, 3000)}_{rng.randint(1, 1200)}"
        while post_id in seen:
            post_id = f"s_{rng.randint(1, 3000)}_{rng.randint(1, 1200)}"
        seen.add(post_id)
        ids.append(post_id)
        curly = i == showcase or rng.random() < curly_rate
        target = math.exp(rng.gauss(math.log(shape.median_words), shape.sigma_words))
        target = shape.max_words if i == longest else target
        target = min(max(target, shape.min_words), shape.max_words)
        if i == shortest:
            texts.append(rng.choice(short_texts))
            continue
        text, post_rows = _build_post(post_id, groups, target, curly, i == showcase, rng)
        texts.append(text)
        rows += post_rows

    posts = pd.DataFrame({"post_id": ids, "text": texts})
    annotations = pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)
    annotations["status"] = annotations["status"].astype("int64")
    return posts, annotations


def generate_corpus(
    n_posts: int,
    seed: int,
    *,
    negative_rate: float = 0.35,
    empty_post_rate: float = 0.1,
    rows_per_post: float = 3.2,
    curly_rate: float = 0.6,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small learnable corpus (see ``sample_shape``); deterministic for a given seed."""
    shape = sample_shape(
        n_posts,
        negative_rate=negative_rate,
        empty_post_rate=empty_post_rate,
        rows_per_post=rows_per_post,
    )
    return generate_from_shape(shape, seed, curly_rate=curly_rate)


def generate_full_size(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A benchmark corpus with the published shape of the full ReDSM5 (``REDSM5_SHAPE``).

    Exact counts from the paper: 1,484 posts, 392 of them without annotations, 1,547 rows with
    the published positives per symptom (the 163 status-0 rows spread in proportion); post
    lengths log-normal around 180 words with one post of ~6,990 and one of 2 words.
    """
    return generate_from_shape(REDSM5_SHAPE, seed)


def write_corpus(posts: pd.DataFrame, annotations: pd.DataFrame, out_dir: str | Path) -> None:
    """Write ``redsm5_posts.csv`` and ``redsm5_annotations.csv`` (UTF-8, default quoting)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    posts.to_csv(out / "redsm5_posts.csv", index=False, encoding="utf-8", lineterminator="\n")
    annotations.to_csv(
        out / "redsm5_annotations.csv", index=False, encoding="utf-8", lineterminator="\n"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", required=True, help="folder for the two CSV files")
    parser.add_argument("--posts", type=int, default=120, help="number of posts (sample shape)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--negative-rate", type=float, default=0.35)
    parser.add_argument("--empty-post-rate", type=float, default=0.1)
    parser.add_argument("--full-size", action="store_true", help="the published ReDSM5 shape")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.full_size:
        posts, ann = generate_full_size(args.seed)
    else:
        posts, ann = generate_corpus(
            args.posts,
            args.seed,
            negative_rate=args.negative_rate,
            empty_post_rate=args.empty_post_rate,
        )
    elapsed = time.perf_counter() - start
    write_corpus(posts, ann, args.out)
    empty = (~posts["post_id"].isin(ann["post_id"])).sum()
    print(
        f"{len(posts)} posts ({empty} without annotations), {len(ann)} annotation rows "
        f"({int(ann['status'].sum())} status 1) in {elapsed:.2f} s -> {args.out}"
    )
    print(pd.crosstab(ann["DSM5_symptom"], ann["status"]).reindex(list(SYMPTOMS)).to_string())


if __name__ == "__main__":
    main()
