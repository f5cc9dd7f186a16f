"""Answer extraction rule v3: one table per failure class found in held-out answers.

Classes (tasks/CHANGELOG.md, 2026-12-07): (a) a leading option followed by or / and / "/" and
another option is a hedge, no commitment; (b) an opening determiner "No" ("No conclusion can be
drawn ...") is not the answer "no"; (c) a negated option ("not yes", "definitely not B") is no
commitment to it; (d) entity lists as a JSON object or as numbered items with glosses give the
mentions only; (e) a sentence saying there are no entities gives no mention; (f) relation answers
phrased as verbs or nouns of the label definitions are read as those labels.
"""

from __future__ import annotations

import pytest

from tasks.bio_chemprot.utils import PROMPT as CHEMPROT
from tasks.bio_ddi.utils import PROMPT as DDI
from tasks.bio_gad.utils import PROMPT as GAD
from tasks.common import ie_tasks
from tasks.common import multiple_choice as mc
from tasks.common.ie_parsing import (
    ENTITY_RULE_VERSION,
    LABEL_RULE_VERSION,
    read_label,
    read_mentions,
)

INVALID = mc.INVALID
UNPARSED = ie_tasks.UNPARSED
OPTIONS = ["Malignant tumour", "Abscess", "Benign tumour", "Cyst"]  # A-D
YN3 = ["yes", "no", "maybe"]
YN2 = ["yes", "no"]


def letter(answer: str) -> str:
    return mc.extract_letter(answer, len(OPTIONS), OPTIONS)


def label(prompt, answer: str) -> str:
    return read_label(answer, prompt.all_aliases(), prompt.weak) or UNPARSED


def test_rules_are_version_3():
    assert (mc.LETTER_RULE_VERSION, mc.WORD_RULE_VERSION) == (3, 3)
    assert (ENTITY_RULE_VERSION, LABEL_RULE_VERSION) == (3, 3)


# --- (a) a hedge between options ------------------------------------------------------------

HEDGE_LETTERS = [
    "A or B",
    "B or C",
    "C/D",
    "B / D",
    "Either B or C.",
    "B, or possibly C",
    "D (or B)",
    "B and C are both plausible.",
    "C and D seem equally likely",
    "A or B, depending on the imaging.",
    "Answer: B or possibly C",
    "The answer is C or perhaps D.",
    "(b) or (c)",
    "A vs B - hard to say",
    "Option B or option C",
]
HEDGE_WORDS = [
    ("yes/no", YN3),
    ("Yes, or no", YN3),
    ("yes or possibly no", YN3),
    ("Yes (or maybe)", YN3),
    ("Either yes or no.", YN3),
    ("No or maybe, the data are mixed.", YN3),
    ("Maybe/yes", YN3),
    ("Answer: yes or perhaps no", YN3),
    ("yes and/or no", YN2),
    ("The answer is no, or possibly yes.", YN2),
    ("YES / NO", YN2),
]
HEDGE_LABELS = [
    (CHEMPROT, "inhibitor or possibly antagonist"),
    (CHEMPROT, "Either an agonist or an antagonist."),
    (CHEMPROT, "activator/inhibitor"),
    (CHEMPROT, "Answer: substrate, or perhaps inhibitor"),
    (DDI, "effect or mechanism"),
    (DDI, "mechanism (or advice)"),
    (DDI, "advice and effect are both plausible"),
    (GAD, "yes/no"),
    (GAD, "Yes, or possibly no."),
    (GAD, "true or false"),
]


@pytest.mark.parametrize("answer", HEDGE_LETTERS)
def test_a_hedged_letters_commit_to_nothing(answer):
    assert letter(answer) == INVALID


@pytest.mark.parametrize(("answer", "choices"), HEDGE_WORDS)
def test_a_hedged_words_commit_to_nothing(answer, choices):
    assert mc.extract_word(answer, choices) == INVALID


@pytest.mark.parametrize(("prompt", "answer"), HEDGE_LABELS)
def test_a_hedged_labels_commit_to_nothing(prompt, answer):
    assert label(prompt, answer) == UNPARSED


# ... and what is not a hedge: a committed option next to a connective
NOT_HEDGES = [
    ("B, because the lesion is encapsulated and cystic", "B"),
    ("B or C? I'd go with C.", "C"),
    ("B or a similar lesion is most likely", "B"),
]


@pytest.mark.parametrize(("answer", "expected"), NOT_HEDGES)
def test_a_a_commitment_beside_a_connective_stays(answer, expected):
    assert letter(answer) == expected


# --- (b) the determiner "No" ----------------------------------------------------------------

DETERMINER_NO = [
    "No conclusion can be drawn from the data.",
    "There is no definitive answer.",
    "No evidence is given either way.",
    "No definitive answer can be given.",
    "No clear trend was observed in the cohort.",
    "no study has addressed this",
    "There is no consensus on this question.",
    "No single answer applies to every patient",
    "There was no statistically significant comparison to make.",
    "No data are available.",
    "**No firm conclusion** is possible.",
]
ANSWER_NO = [
    ("No.", "no"),
    ("No, it is not.", "no"),
    ("No - the trial was negative.", "no"),
    ("no\nThe cohort was small.", "no"),
    ("No it does not.", "no"),
    ("No, because the effect was not significant.", "no"),
    ("No evidence of benefit was found, so the answer is no.", "no"),
    ("Answer: no", "no"),
]


@pytest.mark.parametrize("answer", DETERMINER_NO)
def test_b_determiner_no_is_not_the_answer_no(answer):
    assert mc.extract_word(answer, YN3) == INVALID
    assert label(GAD, answer) == UNPARSED
    assert label(CHEMPROT, answer) == UNPARSED


@pytest.mark.parametrize(("answer", "expected"), ANSWER_NO)
def test_b_the_answer_no_stays(answer, expected):
    assert mc.extract_word(answer, YN3) == expected


def test_b_relation_negatives_named_by_a_longer_phrase_stay():
    assert label(CHEMPROT, "No relation is stated.") == "False"
    assert label(DDI, "No interaction between them.") == "false"
    assert label(GAD, "No association was found.") == "0"
    assert label(GAD, "No, they are not associated.") == "0"


# --- (c) negated options ----------------------------------------------------------------------

NEGATED_WORDS = [
    ("not yes", YN3),
    ("Not yes.", YN2),
    ("Definitely not yes", YN3),
    ("The answer is not yes.", YN3),
    ("Certainly not no.", YN3),
    ("It is not maybe.", YN3),
    ("not no", YN2),
    ("I'd say not yes", YN2),
    ("Probably not yes.", YN3),
    ("rather than yes", YN3),
    ("The answer isn't yes", YN2),
]
NEGATED_LETTERS = [
    "not B",
    "Definitely not B",
    "The answer is not C.",
    "Not option D",
    "Certainly not (a)",
    "It is not B.",
    "not C, not D",
    "Probably not A",
    "Rather than B ...",
    "B is not correct",
]
NEGATED_LABELS = [
    (CHEMPROT, "not an inhibitor"),
    (CHEMPROT, "Definitely not an agonist."),
    (CHEMPROT, "BC6ENTC does not inhibit BC6ENTG"),
    (CHEMPROT, "It doesn't activate it"),
    (DDI, "not mechanism"),
    (DDI, "Definitely not advice"),
    (GAD, "not yes"),
    (GAD, "Definitely not yes"),
    (GAD, "The answer is not yes"),
    (GAD, "rather than true"),
]
NEGATED_THEN_COMMITTED = [
    ("Not yes, but maybe.", YN3, "maybe"),
    ("Not no: yes.", YN2, "yes"),
    ("not no, yes", YN2, "yes"),
]


@pytest.mark.parametrize(("answer", "choices"), NEGATED_WORDS)
def test_c_negated_words_are_no_commitment(answer, choices):
    assert mc.extract_word(answer, choices) == INVALID


@pytest.mark.parametrize("answer", NEGATED_LETTERS)
def test_c_negated_letters_are_no_commitment(answer):
    assert letter(answer) == INVALID


@pytest.mark.parametrize(("prompt", "answer"), NEGATED_LABELS)
def test_c_negated_labels_are_no_commitment(prompt, answer):
    assert label(prompt, answer) == UNPARSED


@pytest.mark.parametrize(("answer", "choices", "expected"), NEGATED_THEN_COMMITTED)
def test_c_the_other_option_still_counts(answer, choices, expected):
    assert mc.extract_word(answer, choices) == expected


# --- (d) JSON objects and glossed numbered items --------------------------------------------

STRUCTURED_LISTS = [
    ('{"entities": ["aspirin", "ibuprofen"]}', ["aspirin", "ibuprofen"]),
    ('{"chemicals": ["5-fluorouracil", "2,3,7,8-TCDD"]}', ["5-fluorouracil", "2,3,7,8-TCDD"]),
    ('```json\n{"diseases": ["breast cancer"]}\n```', ["breast cancer"]),
    ('Answer: {"entities": [{"text": "cisplatin", "type": "Chemical"}]}', ["cisplatin"]),
    ('{"entities": []}', []),
    ('{"aspirin": "chemical", "NO": "Chemical"}', ["aspirin", "NO"]),
    ("{'entities': ['IL-2', 'TNF-alpha']}", ["IL-2", "TNF-alpha"]),
    ('{"genes": ["BRCA1"], "proteins": ["p53"]}', ["BRCA1", "p53"]),
    ('{"entities": "tamoxifen, raloxifene"}', ["tamoxifen", "raloxifene"]),
    ("1. aspirin - a salicylate\n2. ibuprofen - an NSAID", ["aspirin", "ibuprofen"]),
    ("1) cisplatin: a platinum drug\n2) carboplatin: a related drug", ["cisplatin", "carboplatin"]),
    ("- **TNF** – tumour necrosis factor\n- **IL-6** – a cytokine", ["TNF", "IL-6"]),
    ("1. Huntington disease - a neurodegenerative disorder, inherited", ["Huntington disease"]),
    ("* IL-2 — interleukin 2\n* IFN-gamma — interferon", ["IL-2", "IFN-gamma"]),
    ("1. 5-FU (a pyrimidine analogue)\n2. leucovorin (the folinic acid)", ["5-FU", "leucovorin"]),
    ("1. Chemicals: aspirin, ibuprofen", ["aspirin", "ibuprofen"]),
]


@pytest.mark.parametrize(("answer", "mentions"), STRUCTURED_LISTS)
def test_d_structured_lists_give_the_mentions_only(answer, mentions):
    assert read_mentions(answer) == (mentions, True)


# --- (e) sentences saying there are no entities ---------------------------------------------

NO_ENTITIES = [
    "There are no chemical entities in this text.",
    "None found",
    "None found in this sentence.",
    "No chemicals are mentioned in this sentence.",
    "The given sentence does not mention any chemicals.",
    "The text contains no disease mentions.",
    "There aren't any gene names here.",
    "I found no diseases in the sentence.",
    "No named entities were identified.",
    "There is no mention of a disease.",
    "None of the words name a disease.",
    "Not applicable",
    "There are no disease mentions.\nExplanation: the sentence only names aspirin.",
    "Sure! There are no chemicals in this sentence.",
    "This sentence doesn't contain any protein or gene names.",
]


@pytest.mark.parametrize("answer", NO_ENTITIES)
def test_e_no_entity_sentences_give_no_mention(answer):
    assert read_mentions(answer) == ([], True)


def test_e_a_list_that_merely_contains_no_stays_a_list():
    assert read_mentions("NO, L-arginine") == (["NO", "L-arginine"], True)
    assert read_mentions("aspirin\nnone of the others") == (["aspirin"], True)


# --- (f) relation answers as verbs and nouns ------------------------------------------------

VERB_NOUN_LABELS = [
    (CHEMPROT, "BC6ENTC up-regulates BC6ENTG.", "CPR:3"),
    (CHEMPROT, "upregulation", "CPR:3"),
    (CHEMPROT, "The chemical activates the receptor.", "CPR:3"),
    (CHEMPROT, "inhibition of the enzyme", "CPR:4"),
    (CHEMPROT, "It downregulates BC6ENTG expression", "CPR:4"),
    (CHEMPROT, "BC6ENTC inhibited BC6ENTG", "CPR:4"),
    (CHEMPROT, "antagonism", "CPR:6"),
    (CHEMPROT, "BC6ENTC antagonizes BC6ENTG", "CPR:6"),
    (CHEMPROT, "agonistic", "CPR:5"),
    (CHEMPROT, "It is one of the substrates of the enzyme", "CPR:9"),
    (DDI, "The drugs interact.", "int"),
    (DDI, "They interact with each other", "int"),
    (DDI, "Interactions are reported.", "int"),
    (DDI, "A pharmacokinetic change: the levels rise", "mechanism"),
    (DDI, "It is recommended to avoid the combination.", "advise"),
    (DDI, "The drugs do not interact.", "false"),
    (GAD, "association", "1"),
    (GAD, "There is an association.", "1"),
    (GAD, "The gene associates with the disease", "1"),
    (GAD, "No association.", "0"),
]


@pytest.mark.parametrize(("prompt", "answer", "expected"), VERB_NOUN_LABELS)
def test_f_verbs_and_nouns_map_to_labels(prompt, answer, expected):
    assert label(prompt, answer) == expected


def test_every_class_has_at_least_ten_cases():
    tables = {
        "a": HEDGE_LETTERS + HEDGE_WORDS + HEDGE_LABELS,
        "b": DETERMINER_NO,
        "c": NEGATED_WORDS + NEGATED_LETTERS + NEGATED_LABELS,
        "d": STRUCTURED_LISTS,
        "e": NO_ENTITIES,
        "f": VERB_NOUN_LABELS,
    }
    assert all(len(t) >= 10 for t in tables.values()), {k: len(t) for k, t in tables.items()}


# --- a stored run read again under today's rule (leaderboard.rescore.reapply) ---------------


@pytest.mark.slow  # builds lm-eval's TaskManager (~6 s); no model weights
def test_stored_raw_responses_are_read_again_under_the_current_rule(sample_data):
    from leaderboard.items import ItemError
    from leaderboard.rescore import build_tasks, doc_hash, reapply
    from leaderboard.schemas import ItemRecord
    from tasks import registry

    task = build_tasks(["bio_pubmedqa_gen"], registry.TASKS_DIR)["bio_pubmedqa_gen"]
    doc = task.eval_docs[0]
    gold = doc["choices"][doc["answer"]]

    def item(raw):
        h = doc_hash(doc)
        return ItemRecord(task="bio_pubmedqa_gen", doc_id=0, filter="extract", doc_hash=h,
                          prompt_hash=h, target_hash=h, response="no", raw_response=raw)  # fmt: skip

    # v2 read this determiner as "no"; today's rule reads no answer
    filtered, metrics = reapply(task, item("No conclusion can be drawn."), doc)
    assert filtered == [INVALID] and metrics == {"exact_match": 0.0, "unparsed": 1.0}
    filtered, metrics = reapply(task, item(f"Answer: {gold}"), doc)
    assert filtered == [gold] and metrics == {"exact_match": 1.0, "unparsed": 0.0}
    with pytest.raises(ItemError, match="before extraction rule v3"):
        reapply(task, item(None), doc)
    with pytest.raises(ItemError, match="withheld"):
        reapply(
            task, item("[response withheld: it repeats 8+ consecutive words of the test item]"), doc
        )
