"""The default model's job-title grading, against realistic English and German titles: whole
words, not substrings ('cto' is not in 'Contractor' or 'Doctor')."""

from __future__ import annotations

import pytest

from leadstream.config.model_loader import load_model
from leadstream.core.fit import grade
from leadstream.core.model import FitRule

MODEL = load_model()
#: a mid-market company in a target country (15 + 10 fit points): the title decides the grade
COMPANY = {"company_size": 640, "country": "DE"}

# title → (seniority, grade with COMPANY)
TITLES: dict[str, tuple[str, str]] = {
    "CTO": ("senior", "A"),
    "CTO & Co-Founder": ("senior", "A"),
    "CEO": ("senior", "A"),
    "Chief Executive Officer": ("senior", "A"),
    "Chief Revenue Officer": ("senior", "A"),
    "CFO": ("senior", "A"),
    "Founder": ("senior", "A"),
    "Managing Director": ("senior", "A"),
    "Geschäftsführer": ("senior", "A"),
    "Geschäftsführerin": ("senior", "A"),
    "Leiter IT": ("senior", "A"),
    "IT-Leiterin": ("senior", "A"),
    "Vertriebsleiter": ("senior", "A"),
    "Abteilungsleiterin Einkauf": ("senior", "A"),
    "Head of Marketing": ("senior", "A"),
    "Head of IT": ("senior", "A"),
    "VP Sales": ("senior", "A"),
    "Vice President Engineering": ("senior", "A"),
    "Director": ("senior", "A"),
    "Sales Director": ("senior", "A"),
    "Director of Operations": ("senior", "A"),
    "Inhaber": ("senior", "A"),
    "Vorstand Finanzen": ("senior", "A"),
    "Marketing Manager": ("manager", "B"),
    "Key Account Manager": ("manager", "B"),
    "Produktmanagerin": ("manager", "B"),
    "Business Owner": ("senior", "A"),
    "Teamleiter Vertrieb": ("manager", "B"),
    "Projektleiterin": ("manager", "B"),
    "Team Lead Backend": ("manager", "B"),
    "Product Owner": ("manager", "B"),
    "Software Engineer": ("none", "B"),
    "Softwareentwickler": ("none", "B"),
    "Sachbearbeiterin Buchhaltung": ("none", "B"),
    "Consultant": ("none", "B"),
    "Freelancer": ("none", "B"),
    "Contractor": ("none", "B"),
    "Doctor": ("none", "B"),
    "Instructor": ("none", "B"),
    "Factory worker": ("none", "B"),
    "Lead Generation Specialist": ("none", "B"),
    "Assistant to the CEO": ("none", "B"),
    "Assistenz der Geschäftsführung": ("none", "B"),
    "Werkstudent": ("junior", "D"),
    "Werkstudentin Marketing": ("junior", "D"),
    "Praktikant": ("junior", "D"),
    "Marketing Intern": ("junior", "D"),
    "Student": ("junior", "D"),
    "Auszubildender Industriekaufmann": ("junior", "D"),
    "Trainee Sales": ("junior", "D"),
}


def _seniority(title: str) -> str:
    points = MODEL.fit.points({"job_title": title})
    return {25.0: "senior", 10.0: "manager", 0.0: "none"}.get(points, "junior" if points < 0
                                                                 else f"? ({points})")


@pytest.mark.parametrize("title", sorted(TITLES))
def test_a_title_gets_its_seniority_and_grade(title: str) -> None:
    seniority, expected = TITLES[title]
    assert _seniority(title) == seniority
    assert grade({**COMPANY, "job_title": title}, MODEL) == expected


def test_the_table_covers_at_least_forty_titles_in_both_languages() -> None:
    assert len(TITLES) >= 40
    assert sum(1 for t in TITLES if any(c in t for c in "äöüß") or "leiter" in t.lower()) >= 5


def test_words_match_whole_words_and_phrases_and_globs_stay_available() -> None:
    words = FitRule(id="cto", field="job_title", words=("cto", "head of"), points=1)
    assert words.matches({"job_title": "cto/cio"}) and words.matches({"job_title": "HEAD OF IT"})
    assert not words.matches({"job_title": "Contractor"})
    assert not words.matches({"job_title": "Head Chef"})  # a phrase needs all its words, in order
    glob = FitRule(id="g", field="job_title", match=("*cto*",), points=1)
    assert glob.matches({"job_title": "Doctor"})  # what globs do, and why the default uses words
    regex = FitRule(id="r", field="job_title", regex=(r"\bc[tei]o\b",), points=1)
    assert regex.matches({"job_title": "The CIO"}) and not regex.matches({"job_title": "cioppino"})
