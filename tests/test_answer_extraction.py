"""Answer extraction of the generative tasks (rule v3; v3 classes: test_extraction_v3.py), one table per answer form, and its wiring.

Forms: option letters (MedQA, MedMCQA, MMLU, HEAD-QA ``*_gen``), yes/no/maybe (PubMedQA,
BioASQ ``*_gen``), relation labels (ChemProt, DDI, GAD ``*_gen``) and entity lists (the NER tasks).
The rules themselves are written down in the docstrings of ``tasks/common/multiple_choice.py``
and ``tasks/common/ie_parsing.py``. An answer no rule can read is *unparsed*: ``[invalid]`` for
letters and words, ``[unparsed]`` (never "no relation") for relation labels, and every task
logs a per-item ``unparsed`` metric.
"""

from __future__ import annotations

import random
import string

import pytest

from tasks import registry
from tasks.bio_chemprot.utils import PROMPT as CHEMPROT
from tasks.bio_ddi.utils import PROMPT as DDI
from tasks.bio_gad.utils import PROMPT as GAD
from tasks.common import ie_metrics, ie_tasks
from tasks.common import multiple_choice as mc
from tasks.common.ie_parsing import read_label, read_mentions
from tasks.common.refusals import is_refusal

INVALID = mc.INVALID
UNPARSED = ie_tasks.UNPARSED
OPTIONS = ["Malignant tumour", "Abscess", "Benign tumour", "Cyst"]  # A-D

# --- option letters ------------------------------------------------------------------------

LETTER_CASES = [
    # the reviewer's four examples
    ("The answer is a benign tumour.", "C"),  # the article is no option; the text names C
    ("A is correct.", "A"),
    ("**A**", "A"),
    ("B and C are both wrong; A", INVALID),  # names three options, no marker: ambiguous
    # bare letters, brackets, trailing punctuation, case
    ("B", "B"),
    ("b", "B"),
    ("a", "A"),  # a lone lower-case letter is an answer, not an article
    ("(a)", "A"),
    ("(b)", "B"),
    ("(B)", "B"),
    ("B.", "B"),
    ("B)", "B"),
    ("b)", "B"),
    ("[C]", "C"),
    ("C!!", "C"),
    ("D?", "D"),
    ("'B'", "B"),
    ("- C", "C"),
    ("b. Abscess", "B"),
    ("D) Cyst", "D"),
    ("B - Abscess", "B"),
    ("A. Malignant tumour", "A"),
    ("C, because it is encapsulated.", "C"),
    ("C is the most likely diagnosis.", "C"),
    ("c is the correct answer", "C"),
    # explicit markers
    ("**Answer:** D", "D"),
    ("Final Answer: **B**", "B"),
    ("Answer: B", "B"),
    ("answer: c", "C"),
    ("Answer: (C) Benign tumour", "C"),
    ("The answer is (B).", "B"),
    ("The answer is 'C'.", "C"),
    ("The correct answer is option D.", "D"),
    ("The correct option is (d)", "D"),
    ("Option (B)", "B"),
    ("Option B: Abscess", "B"),
    ("\\boxed{B}", "B"),
    ("$\\boxed{\\text{C}}$", "C"),
    ("I would choose B because abscesses are painful.", "B"),
    ("I'd go with option d.", "D"),
    ("The answer is A because the margins are irregular.", "A"),
    ("The answer is: B. Abscess is the most common cause.", "B"),
    ("Answer: A\nExplanation: B is wrong because it needs fever.", "A"),
    ("Answer: B\n\nAnswer: C", "C"),  # the last marker wins (a model correcting itself)
    ("the answer is A, not B", "A"),
    ("I think the answer is C.", "C"),
    ("The answer is I think B", "B"),  # "I" is the pronoun
    # chain of thought, then the final answer
    (
        "Let's think step by step. The lesion is well circumscribed and slow growing, so it is "
        "not malignant. Therefore, the answer is C.",
        "C",
    ),
    ("Step 1: exclude A, since it is malignant.\nStep 2: B requires fever.\nFinal answer: C", "C"),
    ("The lesion is benign.\nC", "C"),  # a lone letter line
    ("Option A is incorrect. Option B is incorrect. Option D is incorrect. So C.", "C"),
    ("E. coli is not involved; the answer is D", "D"),
    # one option named without a marker; negated options do not count
    ("I think it's C.", "C"),
    ("The answer is not A; it is D.", "D"),
    ("A is not correct; B is.", "B"),
    ("Option C is correct, not A.", "C"),
    # articles and pronouns are never options
    ("A patient with this presentation most likely has a cyst.", "D"),  # option text: D
    ("A 45-year-old man with this lesion needs surgery.", INVALID),
    ("Answer: A patient", INVALID),
    ("i think b", INVALID),  # a lower-case letter inside prose is no answer
    # option texts
    ("abscess", "B"),
    ("Benign tumour", "C"),
    ("a benign tumour", "C"),
    ("Hepatitis B is unrelated; the lesion is a cyst.", "D"),  # "hepatitis B" is no option
    ("Malignant tumour or benign tumour", INVALID),
    # several options, hedges, refusals, nothing
    ("The answer is B or C.", INVALID),
    ("Either B or C could be right.", INVALID),
    ("Both A and C describe it.", INVALID),
    ("B, C", INVALID),
    ("Not A.", INVALID),
    ("None of the above.", INVALID),
    ("I cannot answer this question.", INVALID),
    ("I'm sorry, but I can't provide medical advice.", INVALID),
    ("As an AI, I cannot diagnose patients.", INVALID),
    ("E", INVALID),  # not an option of a 4-option question
    ("Answer: E", INVALID),
    ("", INVALID),
    ("   ", INVALID),
]


@pytest.mark.parametrize(("response", "expected"), LETTER_CASES)
def test_letter_rule(response, expected):
    assert mc.extract_letter(response, 4, OPTIONS) == expected


def test_letter_table_is_large():
    assert len(LETTER_CASES) >= 40


@pytest.mark.parametrize(
    ("response", "n", "expected"),
    [
        ("The answer is a benign tumour.", 4, INVALID),  # without the option texts: no letter
        ("a benign tumour", 4, INVALID),
        ("A patient with scurvy needs vitamin C", 4, INVALID),
        ("E. coli causes this.", 5, INVALID),  # a genus, not option E
        ("E.g. an abscess", 5, INVALID),
        ("I", 4, INVALID),
        ("I think so.", 9, INVALID),  # the pronoun, even where I is an option
        ("(I)", 9, "I"),
        ("Answer: E", 5, "E"),
    ],
)
def test_letter_rule_without_option_texts(response, n, expected):
    assert mc.extract_letter(response, n) == expected


# --- yes / no / maybe ----------------------------------------------------------------------

YN3, YN2 = ["yes", "no", "maybe"], ["yes", "no"]
WORD_CASES = [
    ("yes", YN3, "yes"),
    ("Yes.", YN3, "yes"),
    ("YES", YN3, "yes"),
    ("Yes!", YN3, "yes"),
    ("yes.\n", YN3, "yes"),
    ("No", YN3, "no"),
    ("no.", YN3, "no"),
    ("Maybe", YN3, "maybe"),
    ("**Yes**", YN3, "yes"),
    ("'Yes'", YN3, "yes"),
    ("(no)", YN3, "no"),
    ("- yes", YN3, "yes"),
    ("\\boxed{yes}", YN3, "yes"),
    ("Answer: no", YN3, "no"),
    ("**Answer:** No", YN3, "no"),
    ("Answer: Maybe.", YN3, "maybe"),
    ("The answer is yes.", YN3, "yes"),
    ("The answer is probably yes.", YN3, "yes"),
    ("Final answer: no", YN3, "no"),
    ("Final answer: Yes.", YN3, "yes"),
    ("Final decision: maybe", YN3, "maybe"),
    ("Answer: Yes. No adverse events were seen.", YN3, "yes"),
    ("The answer is yes, not no.", YN3, "yes"),
    ("Yes, the study shows a significant benefit.", YN3, "yes"),
    ("No, there was no difference in mortality.", YN3, "no"),
    ("Maybe; the evidence is mixed.", YN3, "maybe"),
    ("Yes — no side effects were reported.", YN3, "yes"),
    ("Yes\nExplanation: the cohort was large.", YN3, "yes"),
    ("No evidence supports this.", YN3, INVALID),  # v3: the determiner "No" is no answer
    ("The evidence suggests yes.", YN3, "yes"),
    ("Based on the results, the answer is no.", YN3, "no"),
    ("The study found no significant effect, so the answer is yes.", YN3, "yes"),
    (
        "Let's think step by step. The trial was randomized and blinded. Therefore, the answer "
        "is no.",
        YN3,
        "no",
    ),
    ("Maybe yes.", YN2, "yes"),  # "maybe" is no choice of a yes/no task
    # hedges, several words, refusals, nothing
    ("Yes or no", YN3, INVALID),
    ("yes/no", YN3, INVALID),
    ("Yes and no.", YN3, INVALID),
    ("Answer: yes or maybe", YN3, INVALID),
    ("There is no clear evidence either way, so maybe.", YN3, "maybe"),  # v3: "no" determiner
    ("maybe", YN2, INVALID),
    ("I cannot answer this question.", YN3, INVALID),
    ("I'm sorry, I don't know.", YN3, INVALID),
    ("As an AI language model, I cannot give medical advice.", YN3, INVALID),
    ("Unclear.", YN3, INVALID),
    ("It depends.", YN3, INVALID),
    ("Not sure.", YN3, INVALID),
    ("The results are inconclusive.", YN3, INVALID),
    ("Eyes are affected.", YN3, INVALID),  # no "yes" inside "eyes"
    ("Nobody knows.", YN3, INVALID),
    ("", YN3, INVALID),
]


@pytest.mark.parametrize(("response", "choices", "expected"), WORD_CASES)
def test_word_rule(response, choices, expected):
    assert mc.extract_word(response, choices) == expected


def test_word_table_is_large():
    assert len(WORD_CASES) >= 40


# --- relation labels -----------------------------------------------------------------------

LABEL_CASES = [
    (CHEMPROT, "inhibitor", "CPR:4"),
    (CHEMPROT, "Inhibitor.", "CPR:4"),
    (CHEMPROT, "**inhibitor**", "CPR:4"),
    (CHEMPROT, "An inhibitor.", "CPR:4"),
    (CHEMPROT, "- antagonist", "CPR:6"),
    (CHEMPROT, '"agonist"', "CPR:5"),
    (CHEMPROT, "CPR:3", "CPR:3"),
    (CHEMPROT, "CPR:4 (inhibitor)", "CPR:4"),  # one label, twice
    (CHEMPROT, "Answer: antagonist", "CPR:6"),
    (CHEMPROT, "Relation: agonist", "CPR:5"),
    (CHEMPROT, "The relation is: substrate", "CPR:9"),
    (CHEMPROT, "Answer: none", "False"),
    (CHEMPROT, "Answer: The chemical inhibits it.", "CPR:4"),
    (CHEMPROT, "The sentence says BC6ENTC reduces BC6ENTG activity. Answer: inhibitor", "CPR:4"),
    (CHEMPROT, "BC6ENTC activates BC6ENTG, so the answer is activator", "CPR:3"),
    (CHEMPROT, "none", "False"),
    (CHEMPROT, "None.", "False"),
    (CHEMPROT, "No relation", "False"),
    (CHEMPROT, "No relation; it is not an inhibitor", "False"),  # the answer opens with it
    (CHEMPROT, "The chemical is an antagonist of the receptor.", "CPR:6"),
    (CHEMPROT, "BC6ENTC inhibits BC6ENTG.", "CPR:4"),
    (CHEMPROT, "BC6ENTC is a substrate of BC6ENTG", "CPR:9"),
    (CHEMPROT, "It is not an activator but an inhibitor.", "CPR:4"),  # negated label ignored
    (CHEMPROT, "activator or inhibitor", UNPARSED),  # hedge
    (CHEMPROT, "BC6ENTC acts as an agonist and an antagonist", UNPARSED),  # two labels
    (CHEMPROT, "I cannot tell", UNPARSED),
    (CHEMPROT, "I cannot determine the relation from this sentence.", UNPARSED),
    (CHEMPROT, "The sentence describes BC6ENTC and BC6ENTG.", UNPARSED),  # v1: "no relation"
    (CHEMPROT, "BC6ENTC", UNPARSED),
    (CHEMPROT, "", UNPARSED),
    (DDI, "mechanism", "mechanism"),
    (DDI, "advice", "advise"),
    (DDI, "interaction", "int"),
    (DDI, "There is an interaction between the drugs.", "int"),
    (DDI, "The interaction is an effect.", "effect"),  # "interaction" is a weak label
    (DDI, "pharmacokinetic interaction", "mechanism"),
    (DDI, "Answer: effect", "effect"),
    (DDI, "There is no interaction", "false"),
    (DDI, "effect or mechanism", UNPARSED),
    (DDI, "I cannot determine whether there is an interaction.", UNPARSED),  # refusal
    (DDI, "The drugs interact.", "int"),  # v3: a verb of the label definition (class f)
    (GAD, "yes", "1"),
    (GAD, "Yes, they are associated.", "1"),
    (GAD, "True", "1"),
    (GAD, "The gene is associated with the disease.", "1"),
    (GAD, "no", "0"),
    (GAD, "Answer: no", "0"),
    (GAD, "False", "0"),
    (GAD, "not associated", "0"),
    (GAD, "No association", "0"),
    (GAD, "The gene is not associated with the disease.", "0"),  # not "associated" inside it
    (GAD, "yes or no", UNPARSED),
    (GAD, "Maybe", UNPARSED),
    (GAD, "I don't know", UNPARSED),
    (GAD, "", UNPARSED),
]


@pytest.mark.parametrize(("prompt", "answer", "expected"), LABEL_CASES)
def test_relation_label_rule(prompt, answer, expected):
    assert (read_label(answer, prompt.all_aliases(), prompt.weak) or UNPARSED) == expected


def test_label_table_is_large():
    assert len(LABEL_CASES) >= 40


def _re_doc(label: str, prompt=CHEMPROT, negative: str = "False") -> dict:
    return {
        "id": "x",
        "text": "BC6ENTC and BC6ENTG .",
        "labels": list(prompt.verbalise),
        "label": label,
        "negative": negative,
    }


def test_unparsed_relation_is_an_abstention_not_no_relation():
    # gold "no relation": an unread answer is neither tp nor fp, and not a correct negative
    out = CHEMPROT.process_results_gen(_re_doc("False"), ["The sentence describes both."])
    assert out["f1"] == {"tp": 0, "fp": 0, "fn": 0, "pred": UNPARSED}
    assert out["acc"] == 0.0 and out["unparsed"] == 1.0
    # gold positive: a false negative
    out = CHEMPROT.process_results_gen(_re_doc("CPR:4"), ["I cannot tell."])
    assert out["f1"] == {"tp": 0, "fp": 0, "fn": 1, "pred": UNPARSED}
    assert out["acc"] == 0.0 and out["unparsed"] == 1.0
    # an answer that says "none" is read, and correct on a negative pair
    out = CHEMPROT.process_results_gen(_re_doc("False"), ["none"])
    assert out["f1"]["pred"] == "False" and out["acc"] == 1.0 and out["unparsed"] == 0.0
    out = CHEMPROT.process_results_gen(_re_doc("CPR:4"), ["inhibitor"])
    assert out["f1"] == {"tp": 1, "fp": 0, "fn": 0, "pred": "CPR:4"} and out["acc"] == 1.0
    assert ie_metrics.unparsed_label_counts("CPR:4", "False") == ie_metrics.Counts(fn=1)
    assert ie_metrics.unparsed_label_counts("False", "False") == ie_metrics.Counts()


# --- entity lists --------------------------------------------------------------------------

MENTION_CASES = [
    ("aspirin\nibuprofen", ["aspirin", "ibuprofen"], True),
    ('["aspirin", "ibuprofen"]', ["aspirin", "ibuprofen"], True),
    ('```json\n["aspirin"]\n```', ["aspirin"], True),
    ('[{"entity": "aspirin", "type": "chemical"}]', ["aspirin"], True),
    ("- aspirin\n- ibuprofen", ["aspirin", "ibuprofen"], True),
    ("1. aspirin\n2. ibuprofen", ["aspirin", "ibuprofen"], True),
    ("aspirin, ibuprofen, and naproxen", ["aspirin", "ibuprofen", "naproxen"], True),
    ("**aspirin**", ["aspirin"], True),
    ("aspirin.", ["aspirin"], True),
    ("Chemicals: aspirin, ibuprofen", ["aspirin", "ibuprofen"], True),
    ("Genes: BRCA1, TP53", ["BRCA1", "TP53"], True),
    ("Here is the list of diseases: diabetes, hypertension", ["diabetes", "hypertension"], True),
    ("2,3,7,8-tetrachlorodibenzo-p-dioxin", ["2,3,7,8-tetrachlorodibenzo-p-dioxin"], True),
    ("breast and ovarian cancer", ["breast and ovarian cancer"], True),
    ("coronary heart disease", ["coronary heart disease"], True),
    ("lithium carbonate\nlithium", ["lithium carbonate", "lithium"], True),
    ("IL-2 [human]", ["IL-2 [human]"], True),
    ("NO", ["NO"], True),  # nitric oxide
    # chatty lead-ins and trailers (v1 read each as one mention)
    ("The chemical in the sentence is aspirin.", ["aspirin"], True),
    ("The gene mentioned is BRCA1.", ["BRCA1"], True),
    ("The only protein is IL-2.", ["IL-2"], True),
    ("The disease mentioned in the text is breast cancer.", ["breast cancer"], True),
    (
        "The chemicals mentioned in the sentence are: aspirin, ibuprofen",
        ["aspirin", "ibuprofen"],
        True,
    ),
    # "X and Y" stays one string here; scoring splits it when only its parts occur (below)
    (
        "The chemicals mentioned in the sentence are aspirin and ibuprofen.",
        ["aspirin and ibuprofen"],
        True,
    ),
    ("The diseases are breast and ovarian cancer.", ["breast and ovarian cancer"], True),
    ("The sentence mentions aspirin.", ["aspirin"], True),
    ("The sentence contains the following diseases: asthma; eczema", ["asthma", "eczema"], True),
    ("Certainly. The diseases in the sentence are asthma, eczema", ["asthma", "eczema"], True),
    (
        "Sure! Here are the chemicals mentioned in the sentence:\n- aspirin\n- ibuprofen",
        ["aspirin", "ibuprofen"],
        True,
    ),
    ("aspirin is the only chemical mentioned.", ["aspirin"], True),
    ("aspirin\nI cannot find any others.", ["aspirin"], True),  # the refusal line is dropped
    # none: understood, no mention
    ("none", [], True),
    ("None.", [], True),
    ("No entities.", [], True),
    ("There are no disease mentions in this sentence.", [], True),
    ("N/A", [], True),
    ("[]", [], True),
    # unparsed: empty or a refusal
    ("I cannot answer this.", [], False),
    ("I'm sorry, but I can't help with that.", [], False),
    ("As an AI language model, I cannot identify entities.", [], False),
    ("", [], False),
    ("   ", [], False),
]


@pytest.mark.parametrize(("answer", "mentions", "understood"), MENTION_CASES)
def test_entity_list_rule(answer, mentions, understood):
    assert read_mentions(answer) == (mentions, understood)


def test_mention_table_is_large():
    assert len(MENTION_CASES) >= 40


NER_DOC = {
    "id": "x",
    "tokens": ["Aspirin", "and", "ibuprofen", "reduce", "breast", "and", "ovarian", "cancer", "."],
    "entity_type": "chemical",
    "spans": [[0, 1], [2, 3]],
}


def test_unmatched_and_mention_is_split_only_when_its_parts_occur():
    tokens = NER_DOC["tokens"]
    assert ie_tasks.split_unmatched_and(tokens, ["aspirin and ibuprofen"]) == [
        "aspirin and ibuprofen"  # occurs as written: kept
    ]
    tokens = ["Aspirin", ",", "then", "ibuprofen", "."]
    assert ie_tasks.split_unmatched_and(tokens, ["aspirin and ibuprofen"]) == [
        "aspirin",
        "ibuprofen",
    ]
    assert ie_tasks.split_unmatched_and(tokens, ["aspirin and naproxen"]) == [
        "aspirin and naproxen"  # a part is missing: kept whole (one false positive)
    ]


def test_ner_process_results_logs_unparsed():
    doc = dict(NER_DOC, tokens=["Aspirin", ",", "then", "ibuprofen", "."], spans=[[0, 1], [3, 4]])
    out = ie_tasks.ner_process_results(doc, ["The chemicals are aspirin and ibuprofen."])
    assert out["f1"] == {"tp": 2, "fp": 0, "fn": 0, "pred": ["aspirin", "ibuprofen"]}
    assert out["unparsed"] == 0.0
    out = ie_tasks.ner_process_results(doc, ["I'm sorry, I cannot help with that."])
    assert out["f1"] == {"tp": 0, "fp": 0, "fn": 2, "pred": []} and out["unparsed"] == 1.0
    out = ie_tasks.ner_process_results(doc, ["none"])
    assert out["f1"]["fn"] == 2 and out["unparsed"] == 0.0


# --- QA scoring, refusals, robustness ------------------------------------------------------

QA_DOC = {"id": "1", "question": "q", "choices": OPTIONS, "answer": 2, "context": "", "subset": ""}


def test_qa_process_results_emit_exact_match_and_unparsed():
    assert mc.process_results_letters(QA_DOC, ["C"]) == {"exact_match": 1.0, "unparsed": 0.0}
    assert mc.process_results_letters(QA_DOC, ["A"]) == {"exact_match": 0.0, "unparsed": 0.0}
    assert mc.process_results_letters(QA_DOC, [INVALID]) == {"exact_match": 0.0, "unparsed": 1.0}
    doc = dict(QA_DOC, choices=YN3, answer=1)
    assert mc.process_results_words(doc, ["no"]) == {"exact_match": 1.0, "unparsed": 0.0}
    assert mc.process_results_words(doc, [INVALID]) == {"exact_match": 0.0, "unparsed": 1.0}
    # the filter reads every response with the document's own options
    assert mc.filter_letters([["a benign tumour", "zzz"]], [QA_DOC]) == [["C", INVALID]]


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("I cannot answer that.", True),
        ("I can't help with this request.", True),
        ("I’m sorry, but no.", True),
        ("As an AI language model I have no opinion.", True),
        ("This cannot be determined from the abstract.", True),
        ("There is not enough information.", True),
        ("I'm not sure, but B.", False),  # a hedge, not a refusal
        ("The answer is B.", False),
    ],
)
def test_refusals(text, refusal):
    assert is_refusal(text) is refusal


def _junk(rng: random.Random) -> str:
    pieces = ["A", "a", "I", "B", "(", ")", "**", "Answer:", " ", "\n", "yes", "no", "or", "."]
    if rng.random() < 0.4:
        return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 80)))
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))


def test_extractors_never_fail_on_junk():
    rng = random.Random(7)
    for _ in range(2000):
        text = _junk(rng)
        assert mc.extract_letter(text, 4, OPTIONS) in {*"ABCD", INVALID}
        assert mc.extract_letter(text, 5) in {*"ABCDE", INVALID}
        assert mc.extract_word(text, YN3) in {*YN3, INVALID}
    assert mc.extract_letter(None, 4) == INVALID  # type: ignore[arg-type]
    assert mc.extract_word(None, YN3) == INVALID  # type: ignore[arg-type]


# --- wiring: every generative task logs `unparsed`, under a new version --------------------

GENERATIVE = [
    leaf
    for spec in registry.TASKS
    if spec.variant is registry.Variant.GEN and spec.category is not registry.Category.GEN
    for leaf in spec.leaves
]


def test_every_generative_qa_and_ie_task_reports_unparsed_under_a_new_version():
    from leaderboard.suite import load_suite

    suite = load_suite()
    categories = {registry.spec_of_leaf(leaf).category for leaf in GENERATIVE}
    assert categories == {registry.Category.QA, registry.Category.IE} and "bio_hoc" in GENERATIVE
    for leaf in GENERATIVE:
        task = suite.tasks[leaf]
        assert task.metrics.get("unparsed") == "mean", leaf
        if leaf != "bio_hoc":  # HoC's rule and metrics are unchanged (it had `unparsed`)
            assert float(task.version) >= 1.1, leaf  # JNLPBA 1.2: -DOCSTART- (CHANGELOG)
    for group in ("bio_qa_gen", "bio_ie_gen", "bio_mmlu_medical_subjects_gen"):
        assert "unparsed" in {a.metric for a in suite.groups[group].aggregates}, group


class _ScriptedLM:
    """An lm-eval model that answers every generation request from a fixed list (no weights)."""

    def __new__(cls, answers: list[str]):
        from lm_eval.api.model import LM

        class Scripted(LM):
            def loglikelihood(self, requests):
                raise NotImplementedError

            def loglikelihood_rolling(self, requests):
                raise NotImplementedError

            def generate_until(self, requests):
                return [answers[i % len(answers)] for i in range(len(requests))]

        return Scripted()


@pytest.mark.slow  # builds lm-eval's TaskManager (~6 s); no model weights
def test_lm_eval_pipeline_reports_unparsed_rate(monkeypatch):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    answers = ["The answer is a benign tumour.", "**B**", "I cannot answer", "A is correct."]
    names = ["bio_medqa_gen", "bio_pubmedqa_gen", "bio_chemprot_gen", "bio_ner_bc2gm"]
    out = simple_evaluate(
        model=_ScriptedLM(answers),
        tasks=names,
        task_manager=TaskManager(include_path=str(registry.TASKS_DIR)),
        log_samples=True,
        bootstrap_iters=0,
    )
    for name in names:
        filt = "extract" if registry.task(name).category is registry.Category.QA else "none"
        samples = out["samples"][name]
        rate = sum(s["unparsed"] for s in samples) / len(samples)
        assert out["results"][name][f"unparsed,{filt}"] == pytest.approx(rate)
        assert out["versions"][name] == 1.2  # extraction rule v3 (tasks/CHANGELOG.md)
    for s in out["samples"]["bio_medqa_gen"]:
        extracted = s["filtered_resps"][0]
        assert extracted == mc.extract_letter(s["resps"][0][0], 4, s["doc"]["choices"])
        assert s["unparsed"] == float(extracted == INVALID)
        assert s["exact_match"] == float(extracted == s["target"])
    for s in out["samples"]["bio_chemprot_gen"]:  # ChemProt reads none of these answers
        assert s["unparsed"] == 1.0 and s["acc"] == 0.0 and s["f1"]["pred"] == UNPARSED
        assert s["f1"]["fp"] == 0
