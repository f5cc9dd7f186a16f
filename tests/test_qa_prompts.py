"""Prompt rendering (the shared Alpaca template) and answer extraction of the bio_qa tasks."""

from __future__ import annotations

import pytest

from tasks.bio_medqa import utils as medqa
from tasks.bio_mmlu_medical import utils as mmlu
from tasks.bio_pubmedqa import utils as pubmedqa
from tasks.common import multiple_choice as mc
from tasks.common.prompting import load_template, render_prompt

DOC = {
    "id": "1",
    "question": "Which vitamin deficiency causes scurvy?",
    "choices": ["Vitamin A", "Vitamin C", "Vitamin D", "Vitamin K"],
    "answer": 1,
    "context": "",
    "subset": "anatomy",
}


def test_template_renders_instruction_input_response():
    prompt = render_prompt("Do the task.", "Some input.")
    assert prompt.endswith(
        "### Instruction:\nDo the task.\n\n### Input:\nSome input.\n\n### Response:\n"
    )
    no_input = render_prompt("Do the task.", "   ")
    assert "### Input:" not in no_input and no_input.endswith("### Response:\n")
    assert load_template().response_of(prompt + "  B. Vitamin C") == "B. Vitamin C"


def test_letter_prompt_lists_options_and_uses_template():
    text = medqa.doc_to_text(DOC)
    assert text.startswith(load_template().prompt_input.split("{instruction}")[0])
    assert "Options:\nA. Vitamin A\nB. Vitamin C\nC. Vitamin D\nD. Vitamin K" in text
    assert mc.letter_choices(DOC) == ["A", "B", "C", "D"]
    assert mc.answer_letter(DOC) == "B" and mc.answer_index(DOC) == 1


def test_words_prompt_puts_context_before_question():
    doc = dict(DOC, choices=["yes", "no", "maybe"], answer=2, context="An abstract.")
    text = pubmedqa.doc_to_text(doc)
    assert "Context: An abstract.\nQuestion: Which vitamin" in text
    assert mc.word_choices(doc) == ["yes", "no", "maybe"] and mc.answer_word(doc) == "maybe"


def test_mmlu_prompt_names_subject():
    assert "question about anatomy" in mmlu.doc_to_text(DOC)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("B", "B"),
        (" (C) Vitamin D", "C"),
        ("D. Vitamin K", "D"),
        ("Answer: b", "B"),
        ("The correct answer is option C because ...", "C"),
        ("The answer is (A).", "A"),
        ("a", "A"),  # a lone lower-case letter is an answer
        ("A patient with scurvy needs vitamin C", "[invalid]"),  # article, not an answer
        ("E", "[invalid]"),  # not an option of a 4-option question
        ("", "[invalid]"),
        ("I am not sure.", "[invalid]"),
    ],
)
def test_extract_letter(response, expected):
    assert mc.extract_letter(response, 4) == expected


def test_extract_letter_falls_back_to_unique_option_text():
    assert mc.extract_letter_or_text("It is vitamin c, clearly.", DOC["choices"]) == "B"
    assert mc.extract_letter_or_text("vitamin c or vitamin d", DOC["choices"]) == "[invalid]"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("yes", "yes"),
        ("No.", "no"),
        ("Maybe, the evidence is mixed", "maybe"),
        ("Answer: YES", "yes"),
        ("The study shows that the answer is no", "no"),
        ("Unclear", "[invalid]"),
        ("", "[invalid]"),
    ],
)
def test_extract_word(response, expected):
    assert mc.extract_word(response, ["yes", "no", "maybe"]) == expected


def test_filters_map_each_response_of_each_doc():
    docs = [DOC, dict(DOC, choices=["yes", "no"])]
    assert mc.filter_letters([["B", "zzz"], ["A"]], docs) == [["B", "[invalid]"], ["A"]]
    assert mc.filter_words([["no"], ["Yes it is"]], [docs[1], docs[1]]) == [["no"], ["yes"]]
