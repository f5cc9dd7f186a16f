"""Prompting, choices and answer extraction for closed-answer QA tasks (the ``bio_qa`` group).

Every prompt is rendered with the project's one instruction template
(``tasks/common/prompts/alpaca.json``), the template the LoRA recipe trains with.

Two answer styles:

* ``letters`` — options are listed as ``A. ...``; the answer is the letter (MedQA, MMLU, ...).
* ``words`` — the answer is one of the choice words itself (yes / no / maybe).

Answer extraction of the generative variants (``*_gen``)
--------------------------------------------------------

The ``extract`` filter turns an answer into an option letter / choice word or ``[invalid]``;
``process_results_letters`` / ``process_results_words`` then log, per item, ``exact_match``
(``[invalid]`` is wrong) and ``unparsed`` (1 for ``[invalid]``), whose mean is the run's
unparseable rate. Markdown (``*``, backticks), quotes and ``\\boxed{X}`` are dropped first; an
answer is read up to ``MAX_ANSWER_CHARS``. A *refusal* is any phrase of
:mod:`tasks.common.refusals` ("I cannot ...", "I'm sorry", "As an AI ...").

**Letter rule v3** (``LETTER_RULE_VERSION``; v1 was the rule of task version 1.0, v2 of 1.1; v3,
task version 1.2, reads hedges with fillers and "A or B" as a hedge). The first step that
applies decides:

1. Explicit markers: ``Answer: B``, ``The (correct|final) answer is (B)``, ``The correct option
   is d``, ``Choice: C``, ``I would choose / I'd go with (option) B``, ``Therefore, B``,
   ``\\boxed{B}``, and a letter followed by a verdict (``B is correct``, ``(c) is the right
   answer``, ``D is the most likely``). Several markers: the last one wins (a model correcting
   itself); a marked letter followed by ``or``/``/``/``and``/``vs`` another option, fillers
   allowed (``B or C``, ``B, or possibly C``, ``B (or C)``), is a hedge -> ``[invalid]``.
2. A refusal -> ``[invalid]``.
3. The answer opens with a letter: ``B``, ``b``, ``(b)``, ``B.``, ``B)``, ``B:``, ``B -``,
   ``Option B: ...``, ``B, because ...``, ``B\\n...``; not when followed by a negation (``A is
   not correct``); followed by a connective and another option (``A or B``, ``Either B or C``,
   ``B and C are both plausible``) it is a hedge -> ``[invalid]``.
4. Lines that are a lone letter (``C``, ``(c)``, ``Answer - C``): one letter -> it; several
   different -> ``[invalid]``.
5. Options named anywhere: bracketed letters (``(b)``, ``b)``), letters after ``option`` /
   ``choice`` / ``letter``, and standalone capital letters — except negated ones (``not A``,
   ``except B``, ``C is wrong``), terms (``vitamin C``, ``hepatitis B``, ``B cells``,
   ``C. difficile``, ``E.g.``) and the text of the options themselves. One option -> it; several
   different -> ``[invalid]`` (ambiguous).
6. The text of exactly one option occurs in the answer (an option's text found only inside a
   longer option's text does not count) -> its letter; otherwise ``[invalid]``.

Case and article rules: an upper-case letter counts as above; a lower-case letter counts only
when it is the whole answer or line (``b``, ``a``), bracketed (``(a)``, ``b)``), followed by
``.``/``:``/``)`` (``b. Abscess``), or right after a marker (``answer: c``). ``a`` / ``A`` / ``I``
followed by a word are an article or the pronoun (``A patient ...``, ``The answer is a benign
tumour``, ``I think ...``) and never an option, unless the word is a verb of commitment (``A is
correct``, ``A because ...``) or the start of that option's own text. Letters beyond the
question's options (``E`` of a 4-option question) never count.

**Word rule v3** (``WORD_RULE_VERSION``; choice words are matched as whole words, any case).
At every step a choice word does not count when it is negated (``not yes``, ``definitely not
no``, ``isn't yes``, ``rather than maybe``) or when it is the determiner "No" of a noun phrase
(``No conclusion can be drawn``, ``There is no definitive answer``;
:func:`tasks.common.refusals.is_determiner_no`) — both new in v3:

1. Explicit markers: ``Answer: yes``, ``The answer is (probably) no``, ``Final decision:
   maybe``, ``\\boxed{yes}``; the last one wins; ``yes or no`` after a marker -> ``[invalid]``.
2. A refusal -> ``[invalid]``.
3. The answer opens with a choice word (``Yes, ...``, ``No.``) -> it, unless hedged (``Yes and
   no``, ``yes/no``, ``Yes, or possibly no``, ``Either yes or no``) -> ``[invalid]``.
4. Choice words named anywhere: exactly one -> it; none or several -> ``[invalid]`` (``There is
   no clear evidence, so maybe`` is ambiguous). A word that is no choice of the task (``maybe``
   in a yes/no task) is ignored; ``There is no clear evidence, so maybe`` is "maybe" (v3).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import datasets

from tasks.common.prompting import render_prompt
from tasks.common.records import LoadedSplit, MultipleChoiceRecord
from tasks.common.refusals import is_determiner_no, is_refusal

LETTERS = string.ascii_uppercase
INVALID = "[invalid]"


def to_dataset_dict(split: LoadedSplit, name: str = "test") -> datasets.DatasetDict:
    rows = [asdict(r) for r in split.records]
    return datasets.DatasetDict({name: datasets.Dataset.from_list(rows)})


def record_from_dict(row: dict[str, Any]) -> MultipleChoiceRecord:
    return MultipleChoiceRecord(
        id=str(row["id"]),
        question=row["question"],
        choices=list(row["choices"]),
        answer=int(row["answer"]),
        context=row.get("context", "") or "",
        subset=row.get("subset", "") or "",
    )


def letter_input(doc: dict[str, Any]) -> str:
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(doc["choices"]))
    parts = [f"Context: {doc['context']}"] if doc.get("context") else []
    parts += [f"Question: {doc['question']}", f"Options:\n{options}"]
    return "\n".join(parts)


def words_input(doc: dict[str, Any]) -> str:
    parts = [f"Context: {doc['context']}"] if doc.get("context") else []
    parts.append(f"Question: {doc['question']}")
    return "\n".join(parts)


def letter_prompt(instruction: str) -> Callable[[dict[str, Any]], str]:
    """doc_to_text for letter-answer tasks; ``instruction`` is the task's fixed instruction."""

    def doc_to_text(doc: dict[str, Any]) -> str:
        return render_prompt(instruction, letter_input(doc))

    return doc_to_text


def words_prompt(instruction: str) -> Callable[[dict[str, Any]], str]:
    def doc_to_text(doc: dict[str, Any]) -> str:
        return render_prompt(instruction, words_input(doc))

    return doc_to_text


def letter_choices(doc: dict[str, Any]) -> list[str]:
    return list(LETTERS[: len(doc["choices"])])


def word_choices(doc: dict[str, Any]) -> list[str]:
    return list(doc["choices"])


def answer_index(doc: dict[str, Any]) -> int:
    return int(doc["answer"])


def answer_letter(doc: dict[str, Any]) -> str:
    return LETTERS[int(doc["answer"])]


def answer_word(doc: dict[str, Any]) -> str:
    return doc["choices"][int(doc["answer"])]


# --- answer extraction ---------------------------------------------------------------------
# The rules are stated in the module docstring; change them only with a new rule version (and a
# new task version, see tasks/CHANGELOG.md).

LETTER_RULE_VERSION = 3
WORD_RULE_VERSION = 3
MAX_ANSWER_CHARS = 4000  # an answer is read up to here (degenerate repetition is cut)
_WINDOW = 400  # context read on either side of a letter

_QUOTES = re.compile(r"[\"“”«»]|(?<![A-Za-z])'|'(?![A-Za-z])")
_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text\s*\{\s*)?([^{}]*?)\s*\}?\s*\}")
# a standalone letter: not part of a word, a number, a hyphenated term or a contraction
_TOKEN = re.compile(
    r"([(\[]\s*)?(?<![A-Za-z0-9\-'])([A-Za-z])(?![A-Za-z0-9\-])(?!'[A-Za-z])(\s*[)\]])?"
)
# words after a letter that keep it an option reference ("A is correct", "B because ...")
_COMMIT_WORDS = frozenset(
    "is was would seems appears looks must should could might because since as fits".split()
)
# ... and words that make it one item of a list of options ("B and C are wrong")
_LIST_WORDS = frozenset("and or nor vs are were both".split())
# words before a capital letter that make it part of a term ("vitamin C", "hepatitis B")
_QUALIFIERS = frozenset(
    """vitamin vitamins vit hepatitis type types group groups factor factors protein proteins
    class stage grade phase complex lead zone band chain cell schedule part step subunit kinase
    site level strep streptococcus influenza ig hb hba apo coenzyme pattern plan section category
    cluster blood hemophilia haemophilia toxin fraction wave serotype variant region fibre fiber
    antigen hla mhc immunoglobulin lamina ring segment""".split()
)
_NEGATED_BEFORE = re.compile(
    r"(?:\bnot|\bexcept|\bexcluding|\bthan|\bnor|\bneither|\brule\s+out|\bruled\s+out|\bisn't)"
    r"\s+(?:(?:option|choice|letter)\s+)?[(\[]?\s*$",
    re.I,
)
_NEGATED_AFTER = re.compile(
    r"^\s*[)\]]?\s+(?:(?:is|was|seems|appears|looks)\s+(?:not\b|incorrect|wrong|false|unlikely"
    r"|less\s+likely|ruled\s+out)|isn't\b|can't\b|cannot\b)",
    re.I,
)
_OPTION_WORD_BEFORE = re.compile(r"\b(?:option|choice|letter)\s*[:#]?\s*[(\[]?\s*$", re.I)
_MARKERS = tuple(
    re.compile(p, re.I)
    for p in (
        # "Answer: B", "The correct answer is (B)", "Final answer - option c", "answer is B"
        r"\b(?:(?:final|correct|right|best|most\s+likely|most\s+appropriate|short)\s+)?answer\b"
        r"\s*(?:is|would\s+be|will\s+be|should\s+be|must\s+be|[:=\-–—])?\s*"
        r"(?:probably\s+|likely\s+|clearly\s+|therefore\s+|then\s+)?(?:option\s+|choice\s+|letter\s+)?",
        # "The correct option is C", "best choice: (d)"
        r"\b(?:final|correct|right|best|most\s+likely|most\s+appropriate)\s+(?:option|choice|letter)"
        r"\b\s*(?:is|would\s+be|[:=\-–—])?\s*(?:option\s+|choice\s+|letter\s+)?",
        # "Choice: C", "the letter is d"
        r"\b(?:option|choice|letter)\s*(?:is|[:=])\s*",
        # "I would choose B", "I'd go with option (c)", "I'll pick D"
        r"\bI(?:\s+would|\s+will|'d|'ll)?\s+(?:choose|pick|select|go\s+with|say|answer)\s+"
        r"(?:option\s+|choice\s+|letter\s+)?",
        # "Therefore, B." / "Thus option C"
        r"\b(?:therefore|thus|hence)\s*,?\s*(?:(?:option|choice|letter)\s+)?",
    )
)
# "B is correct", "(c) is the right answer", "Option D is the most likely"
_VERDICT_AFTER = re.compile(
    r"^\s*[)\]]?\s+(?:is|would\s+be|seems\s+to\s+be|appears\s+to\s+be)\s+(?:the\s+)?"
    r"(?:correct|right|best|true|answer|most\s+(?:likely|appropriate|accurate|correct))\b",
    re.I,
)
# a connective between two options ("B or C", "B / C", "B, or possibly C", "B (or C)", "B and
# C are both plausible"): the first option is no commitment (rule v3 reads fillers between them)
_CONNECTIVE = (
    r"\s*[)\]]?\s*(?:[,(]\s*)?(?:or|/|and/or|and|nor|vs\.?|versus|&)\s*"
    r"(?:(?:possibly|perhaps|probably|potentially|also|even|else|maybe\s+even|rather|both)\s+)*"
)
_HEDGE_AFTER = re.compile(
    rf"^{_CONNECTIVE}(?:(?:option|choice|letter)\s+)?[(\[]?\s*([A-Za-z])(?![A-Za-z0-9\-])",
    re.I,
)
_LONE_LINE = re.compile(
    r"^\s*(?:[-*>#]+\s*)?(?:(?:final\s+)?(?:answer|option|choice|letter)\s*[:\-]?\s*)?"
    r"[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.!:]?\s*$",
    re.I,
)
_LEAD_JUNK = re.compile(r"^[\s>#\-]*")
_LEAD_OPTION_WORD = re.compile(r"^(?:option|choice|letter)\s*[:#]?\s*", re.I)


def _normalise(response: str) -> str:
    """Markdown and quotes dropped, ``\\boxed{X}`` read as ``answer: X``."""
    text = _BOXED.sub(r" answer: \1 ", response).replace("’", "'").replace("‘", "'")
    text = text.replace("*", "").replace("`", "").replace("__", "")
    return _QUOTES.sub(" ", text[:MAX_ANSWER_CHARS]).strip()


def _starts_with_option(rest: str, option_text: str | None) -> bool:
    if not option_text or not option_text.strip():
        return False
    rest = re.sub(r"^[\s.:)\]\-–—]+", "", rest).lower()
    return rest.startswith(option_text.strip().lower())


def _reads_as_option(
    letter: str, bracketed: bool, rest: str, option_text: str | None, after_marker: bool
) -> bool:
    """Whether a letter token (followed by ``rest``) is an option reference, not a word.

    ``a`` / ``A`` / ``I`` followed by a word are an article or a pronoun ("A patient ...",
    "a benign tumour", "I think ..."), not an option.
    """
    if bracketed or _starts_with_option(rest, option_text):
        return True
    if re.match(r"[ \t]*(?:\n|$)", rest):  # the letter ends the line or the answer
        return True
    if re.match(r"[.:;,!?](?![A-Za-z0-9])", rest):  # "B.", "B:", "b," - but not "E.g."
        # "C. difficile": a genus abbreviation, unless it is how option C's text starts
        return not (letter.isupper() and re.match(r"\.\s+[a-z]{2,}", rest))
    if re.match(r"\s+[-–—]\s", rest):  # "B - Benign tumour"
        return True
    word = re.match(r"\s+([A-Za-z]+)", rest)
    if word is None:  # "A 45-year-old ...", "B (..."
        return False
    follow = word.group(1).lower()
    if letter in "aAiI":
        return letter.isupper() and follow in _COMMIT_WORDS
    if after_marker:  # "the answer is B given the findings"
        return True
    return letter.isupper() and follow in _COMMIT_WORDS


def _hedged_letter(letter: str, rest: str, valid: str) -> bool:
    """Whether ``letter`` (followed by ``rest``) is joined to another option by ``or`` / ``and`` /
    ``/`` ("B or C", "B, or possibly C", "B/C", "B and C are both plausible"): a hedge (v3)."""
    hedge = _HEDGE_AFTER.match(rest)
    if not hedge or hedge.group(1).upper() not in valid or hedge.group(1).upper() == letter.upper():
        return False
    other, after = hedge.group(1), rest[hedge.end() :]
    word = re.match(r"\s+([A-Za-z]+)", after)
    if word and (other.islower() or other in "AI"):
        # "B or a similar lesion", "B and I think ...": an article or the pronoun, no option
        return other in "AI" and word.group(1).lower() in _COMMIT_WORDS | _LIST_WORDS
    return True


def _token_at(text: str, pos: int) -> re.Match[str] | None:
    return _TOKEN.match(text, pos)


def _marked_letters(text: str, valid: str, choices: Sequence[str] | None) -> list[tuple[int, str]]:
    """(position, letter) of every explicit answer marker; ``[(−1, INVALID)]`` if one hedges."""
    found: list[tuple[int, str]] = []
    for marker in _MARKERS:
        for m in marker.finditer(text):
            tok = _token_at(text, m.end())
            if tok is None:
                continue
            letter = tok.group(2)
            rest = text[tok.end() : tok.end() + _WINDOW]
            if letter.upper() not in valid:
                continue
            option = choices[valid.index(letter.upper())] if choices else None
            if not _reads_as_option(letter, bool(tok.group(3)), rest, option, after_marker=True):
                continue
            if _NEGATED_AFTER.match(rest):
                continue
            if _hedged_letter(letter, rest, valid):
                return [(-1, INVALID)]
            found.append((tok.start(2), letter.upper()))
    for tok in _TOKEN.finditer(text):
        letter, rest = tok.group(2), text[tok.end() : tok.end() + _WINDOW]
        if letter.upper() in valid and _VERDICT_AFTER.match(rest):
            found.append((tok.start(2), letter.upper()))  # no article reads "a is correct"
    return found


def _leading_letter(text: str, valid: str, choices: Sequence[str] | None) -> str | None:
    head = _LEAD_JUNK.sub("", text)
    head = re.sub(r"^(?:either|both)\s+", "", head, flags=re.I)  # "Either B or C"
    option_word = _LEAD_OPTION_WORD.match(head)
    if option_word:
        head = head[option_word.end() :]
    tok = _token_at(head, 0)
    if tok is None or tok.group(2).upper() not in valid:
        return None
    letter, rest = tok.group(2), head[tok.end() :]
    if _NEGATED_AFTER.match(rest):
        return None
    if _hedged_letter(letter, rest, valid):
        return INVALID  # "B or C", "B and C are both plausible": a hedge, no commitment (v3)
    if re.match(r"\s*,\s*[(\[]?[A-Za-z](?![A-Za-z0-9\-])", rest):
        return None  # "B, C and D are wrong": a list of options, not a commitment
    option = choices[valid.index(letter.upper())] if choices else None
    if _reads_as_option(letter, bool(tok.group(3)), rest, option, after_marker=bool(option_word)):
        return letter.upper()
    return None


def _lone_line_letters(text: str, valid: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        m = _LONE_LINE.match(line)
        if m and m.group(1).upper() in valid:
            out.add(m.group(1).upper())
    return out


def _mask_options(text: str, choices: Sequence[str]) -> str:
    for choice in sorted((c.strip() for c in choices), key=len, reverse=True):
        if len(choice) > 1:
            pattern = re.compile(rf"(?<!\w){re.escape(choice)}(?!\w)", re.I)
            text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return text


def _mentioned_letters(text: str, valid: str) -> set[str]:
    out = set()
    for tok in _TOKEN.finditer(text):
        letter = tok.group(2)
        if letter.upper() not in valid:
            continue
        before = text[max(0, tok.start() - _WINDOW) : tok.start()]
        rest = text[tok.end() : tok.end() + _WINDOW]
        if _NEGATED_BEFORE.search(before) or _NEGATED_AFTER.match(rest):
            continue
        if tok.group(3) or _OPTION_WORD_BEFORE.search(before):
            out.add(letter.upper())
            continue
        if not letter.isupper():
            continue  # a lower-case letter counts only bracketed or after a marker
        prev = re.search(r"([A-Za-z]+)\s*$", before)
        if prev and prev.group(1).lower() in _QUALIFIERS:
            continue  # "vitamin C", "hepatitis B"
        if re.match(r"\.[A-Za-z]|\.\s+[a-z]{2,}", rest):
            continue  # "E.g.", "C. difficile"
        word = re.match(r"\s+([A-Za-z]+)", rest)
        if word and len(word.group(1)) > 1:  # another letter after it ("A B C D") is a list
            follow = word.group(1).lower()
            if letter in "AI":
                if follow not in _COMMIT_WORDS and not _hedged_letter(letter, rest, valid):
                    continue  # an article or the pronoun ("A or B" names two options, v3)
            elif follow not in _COMMIT_WORDS | _LIST_WORDS:
                continue  # "B cells", "C difficile"
        elif letter in "AI" and re.match(r"\s+\d", rest):
            continue  # "A 45-year-old man"
        out.add(letter.upper())
    return out


def _option_text_letters(text: str, choices: Sequence[str]) -> set[str]:
    spans: list[tuple[int, int, int]] = []
    for i, choice in enumerate(choices):
        choice = choice.strip()
        if not choice:
            continue
        for m in re.finditer(rf"(?<!\w){re.escape(choice)}(?!\w)", text, re.I):
            spans.append((m.start(), m.end(), i))
    # an option text found only inside a longer option's text does not count
    kept = {
        i
        for s, e, i in spans
        if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in spans)
    }
    return {LETTERS[i] for i in kept}


def extract_letter(response: str, n_choices: int, choices: Sequence[str] | None = None) -> str:
    """The option letter an answer commits to, or ``[invalid]`` (letter rule v3, module docstring).

    ``choices`` (the option texts) enable the last step, an answer that quotes exactly one
    option's text, and let an option's own text confirm a leading letter ("A Benign tumour").
    """
    if not isinstance(response, str):
        return INVALID
    valid = LETTERS[:n_choices]
    options = list(choices) if choices is not None and len(choices) == n_choices else None
    text = _normalise(response)
    if not text:
        return INVALID
    marked = _marked_letters(text, valid, options)
    if marked:
        return max(marked)[1]  # the last marker wins (a model correcting itself); hedge: invalid
    if is_refusal(text):
        return INVALID
    lead = _leading_letter(text, valid, options)
    if lead:
        return lead
    lines = _lone_line_letters(text, valid)
    if lines:
        return lines.pop() if len(lines) == 1 else INVALID
    masked = _mask_options(text, options) if options else text
    mentioned = _mentioned_letters(masked, valid)
    if mentioned:
        return mentioned.pop() if len(mentioned) == 1 else INVALID
    if options:
        quoted = _option_text_letters(text, options)
        if len(quoted) == 1:
            return quoted.pop()
    return INVALID


def extract_letter_or_text(response: str, choices: Sequence[str]) -> str:
    """:func:`extract_letter` with the option texts (kept for callers of rule v1's name)."""
    return extract_letter(response, len(choices), choices)


_WORD_MARKER = re.compile(
    r"\b(?:(?:final|short|correct|my)\s+)?(?:answer|decision|conclusion|verdict)\b\s*"
    r"(?:is|would\s+be|will\s+be|[:=\-–—])?\s*(?:probably\s+|likely\s+|clearly\s+|definitely\s+"
    r"|simply\s+|therefore\s+)?[(\[]?\s*([a-z]+)\b",
    re.I,
)
_WORD_HEDGE = re.compile(rf"^{_CONNECTIVE}([a-z]+)\b", re.I)
# "not yes", "definitely not no", "rather than maybe", "isn't yes": a negated choice word (v3)
_WORD_NEGATED = re.compile(
    r"(?:\bnot|\bnever|\bnor|\bneither|\bisn't|\bwasn't|\brather\s+than|\binstead\s+of)"
    r"\s+(?:(?:a|an|the|simply|just|clearly|definitely|necessarily)\s+)?[(\[]?\s*$",
    re.I,
)


def _word_counts(text: str, start: int, end: int, words: Sequence[str]) -> bool:
    """Whether the choice word at ``text[start:end]`` can be an answer: a choice of the task,
    neither negated ("not yes") nor the determiner "no" ("no evidence")."""
    word = text[start:end]
    return (
        word in words
        and not _WORD_NEGATED.search(text[max(0, start - 60) : start])
        and not is_determiner_no(word, text[end : end + 40])
    )


def _word_hedged(text: str, end: int, word: str, words: Sequence[str]) -> bool:
    """Whether the choice word ending at ``end`` is joined by or / and / "/" to another choice
    ("yes or no", "yes, or possibly no", "yes (or maybe)"): a hedge, no commitment."""
    m = _WORD_HEDGE.match(text[end:])
    return (
        bool(m)
        and m.group(1) != word
        and _word_counts(text, end + m.start(1), end + m.end(1), words)
    )


def extract_word(response: str, choices: Sequence[str]) -> str:
    """The choice word (yes / no / maybe) an answer commits to, or ``[invalid]`` (word rule v3)."""
    if not isinstance(response, str):
        return INVALID
    words = [c.lower() for c in choices]
    text = _normalise(response).lower()
    if not text:
        return INVALID
    marked = []
    for m in _WORD_MARKER.finditer(text):
        if _word_counts(text, m.start(1), m.end(1), words):
            if _word_hedged(text, m.end(1), m.group(1), words):
                return INVALID
            marked.append((m.start(1), m.group(1)))
    if marked:
        return max(marked)[1]
    if is_refusal(text):
        return INVALID
    first = re.match(r"^[^a-z]*(?:(?:either|both)\s+)?([a-z]+)\b", text)
    if first and first.group(1) in words:
        if _word_hedged(text, first.end(1), first.group(1), words):
            return INVALID  # "yes and no", "yes or no", "Yes, or possibly no"
        if _word_counts(text, first.start(1), first.end(1), words):
            return first.group(1)
    named = {
        m.group(1)
        for m in re.finditer(r"(?<![a-z\-])([a-z]+)(?![a-z\-])", text)
        if _word_counts(text, m.start(1), m.end(1), words)
    }
    return named.pop() if len(named) == 1 else INVALID


def filter_letters(
    resps: Sequence[Sequence[str]], docs: Sequence[dict[str, Any]]
) -> list[list[str]]:
    """lm-eval custom filter: free text -> option letter or ``[invalid]`` (letter rule v3)."""
    return [
        [extract_letter(r, len(doc["choices"]), doc["choices"]) for r in rs]
        for rs, doc in zip(resps, docs, strict=True)
    ]


def filter_words(resps: Sequence[Sequence[str]], docs: Sequence[dict[str, Any]]) -> list[list[str]]:
    """lm-eval custom filter: free text -> choice word or ``[invalid]`` (word rule v3)."""
    return [
        [extract_word(r, doc["choices"]) for r in rs] for rs, doc in zip(resps, docs, strict=True)
    ]


def _scored(extracted: str, gold: str) -> dict[str, float]:
    return {
        "exact_match": float(extracted != INVALID and extracted.lower() == gold.lower()),
        "unparsed": float(extracted == INVALID),
    }


def process_results_letters(doc: dict[str, Any], results: Sequence[str]) -> dict[str, float]:
    """lm-eval ``process_results`` after the ``extract`` filter: exact match and unparsed."""
    return _scored(str(results[0]), answer_letter(doc))


def process_results_words(doc: dict[str, Any], results: Sequence[str]) -> dict[str, float]:
    """lm-eval ``process_results`` after the ``extract`` filter: exact match and unparsed."""
    return _scored(str(results[0]), answer_word(doc))
