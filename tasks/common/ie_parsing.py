"""Reading the answers models write in the generative IE tasks.

Parsers, each total (any string in, a well-formed result out, never an exception):

* :func:`read_mentions` / :func:`parse_mentions` — a list of entity mentions (entity-list rule
  v3, below); ``read_mentions`` also says whether the answer was understood.
* :func:`read_label` (alias :func:`parse_label`) — the one label of a closed set an answer
  commits to, or None (relation label rule v3, below).
* :func:`parse_labels` — every label of a closed set an answer names (multi-label answers; HoC,
  unchanged).

**Entity-list rule v2** (v1 = the rule of NER task version 1.0, which it extends). Mentions are
written as a JSON (or Python-style) list, one per line, as bullets or numbers, comma- or
semicolon-separated, quoted or not; an answer that says there are none (``none``, ``No
entities.``, ``N/A``, ``[]``) gives an empty list. Splitting rule: a comma or semicolon
separates two mentions only when followed by whitespace (or at the end), so chemical names such
as ``2,3,7,8-tetrachlorodibenzo-p-dioxin`` stay whole; ``and`` separates only after a comma
(``a, b, and c``), so a mention such as ``breast and ovarian cancer`` stays whole (scoring then
splits an ``X and Y`` that occurs nowhere in the sentence when X and Y both do:
``tasks.common.ie_tasks.split_unmatched_and``). A bare ``NO`` (capitals) is a mention (nitric
oxide), while ``no`` / ``No`` means none. New in v2: a chatty lead-in is removed — ``Sure!``,
``The chemical(s) (mentioned) in the sentence is/are X``, ``The sentence mentions/contains (the
following diseases:) X``, a line that only announces the list (``Here are the chemicals
mentioned:``) — and so is a trailer (``X is the only chemical mentioned``); in v1 each such
sentence was one (false-positive) mention. Lines that refuse are dropped. **v3** (NER task
versions 1.2, JNLPBA 1.3): a JSON object is read for the mentions it holds (``{"entities":
[...]}``, ``{"chemicals": [{"text": ...}]}``, ``{"aspirin": "chemical"}``; keys are field names,
never mentions), a numbered or bulleted item loses its gloss (``1. aspirin - a salicylate``,
``2) ibuprofen: an NSAID``, ``- **TNF** – ...``), and an answer whose first line or sentence
says there are none (``There are no chemical entities in this text.``, ``None found``, ``The
sentence does not mention any chemicals``) gives no mention, whatever follows. *Unparsed*: an empty
answer, or one whose first line is a refusal (:mod:`tasks.common.refusals`); it predicts no
mention (gold mentions are false negatives, no false positive) and is logged as ``unparsed``.

**Relation label rule v3** (v2 = task version 1.1; v1, task version 1.0: the label named earliest, and an answer naming
none read as "no relation"). Labels are found by their aliases (whole words, any case; at one
position the longest alias wins, so ``not associated`` hides the ``associated`` inside it):

1. An explicit marker — ``Answer:``, ``Relation:``, ``Label:``, ``Type:``, ``The relation /
   interaction / answer is (an)`` — directly followed by a label: the last such marker wins.
2. A refusal -> None.
3. The answer opens with a label (``Inhibitor. ...``, ``No relation; ...``, ``Yes, ...``) -> it.
4. The labels named anywhere, ignoring negated ones (``not an activator``) and, when a strong
   label is named, the ``weak`` ones (DDI's ``interaction``): exactly one -> it; none or several
   (``agonist and antagonist``) -> None.

A label followed by ``or`` / ``/`` / ``and`` / ``vs`` another label, fillers allowed
(``activator or inhibitor``, ``inhibitor, or possibly antagonist``), is a hedge -> None. New in
v3: the determiner "No" (``No conclusion can be drawn``) is not the alias ``no``; negations
include ``n't`` forms and ``never`` (``doesn't inhibit``); and the tasks' aliases name their
labels' definitions as verbs and nouns (``interacts``, ``association``, ``up-regulates``). None is *unparsed*, never the negative class: scoring treats it as an abstention
(``tasks.common.ie_metrics.unparsed_label_counts``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from tasks.common.refusals import is_determiner_no, is_refusal

ENTITY_RULE_VERSION = 3  # entity lists (read_mentions)
LABEL_RULE_VERSION = 3  # relation labels (read_label)
MAX_MENTIONS = 100  # an answer longer than this is cut (degenerate repetition)
MAX_MENTION_CHARS = 300

_NONE_ANSWER = re.compile(
    r"""^(?:none|nothing|n/a|null|nil|no|\[\s*\]|\{\s*\}|-+|not\s+applicable|zero)
        (?:\s+(?:found|identified|present|mentioned|detected|listed))?$
      |^none\b(?!\s*[,;:]\s*\S).*$
      |^(?:i\s+(?:found|could\s+find|can\s+find|see|identified|detected)\s+)?no\s+(?:\w+\s+){0,4}
        (?:entit(?:y|ies)|mentions?|names?|chemicals?|compounds?|drugs?|diseases?|disorders?
        |genes?|proteins?|found|mentioned|present|identified|detected)\b.*$
      |^there\s+(?:are|is|were|was)\s+(?:no|not\s+any|none)\b.*$
      |^there\s+(?:aren't|isn't|weren't|wasn't)\s+any\b.*$
      |^(?:the\s+|this\s+)?(?:given\s+|provided\s+|input\s+)?(?:sentence|text|input|abstract|passage)
        \s+(?:does\s+not|doesn't|did\s+not|didn't)\s+(?:\w+\s+)?
        (?:contain|mention|include|have|list|name|refer)\b.*$
      |^(?:the\s+|this\s+)?(?:given\s+|provided\s+)?(?:sentence|text|input|abstract|passage)
        \s+(?:contains|mentions|includes|has|lists|names)\s+no\b.*$""",
    re.IGNORECASE | re.VERBOSE,
)
_BULLET = re.compile(r"^\s*(?:[-*•·‣◦–—>]+|\(?\d{1,3}[.)](?=\s)|\(?[a-z]\)(?=\s))\s*")
_HEADER = re.compile(r"^\s*[A-Za-z][A-Za-z ()/-]{0,40}:\s*(?=\S)")
_HEADER_ONLY = re.compile(r"^\s*[A-Za-z][A-Za-z ()/-]{0,60}:\s*$")
_HEADER_WORDS = re.compile(
    r"\b(?:entit|mention|chemical|disease|gene|protein|answer|output|response|list|result|"
    r"drug|dna|rna|cell|named)",
    re.IGNORECASE,
)
_TYPE_WORD = (
    r"(?:chemicals?|drugs?|compounds?|diseases?|disorders?|conditions?|genes?|proteins?"
    r"|gene\s+products?|products?|entit(?:y|ies)|mentions?|dna|rna|cell\s+lines?|cell\s+types?"
    r"|names?)"
)
# a chatty opening: "Sure! ", "The chemical(s) (mentioned) in the sentence is/are ...",
# "The sentence mentions (the chemicals) ..." - removed before the mentions are read
_PLEASANTRY = re.compile(r"^\s*(?:sure|certainly|okay|ok|of\s+course)\s*[!.,]\s*", re.I)
_LEAD_IN = re.compile(
    rf"""^\s*(?:
        (?:the\s+(?:only\s+)?(?:[\w/-]+\s+){{0,3}}?|(?:only\s+)?){_TYPE_WORD}\s+
        (?:(?:mentioned|found|named|identified|present|listed)\s+)?
        (?:(?:in|from)\s+(?:the|this)\s+(?:given\s+)?(?:sentence|text|input|abstract|passage)\s+)?
        (?:is|are|include|includes|would\s+be)\s*:?\s*(?=\S)
      | (?:the|this)\s+(?:given\s+)?(?:sentence|text|input|abstract|passage)\s+
        (?:mentions|contains|includes|lists|names)\s+(?:(?:the|a|an)\s+)?
        (?:(?:following\s+)?{_TYPE_WORD}\s*:?\s*)?(?=\S)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# "... is the only chemical mentioned", "... are the diseases in the sentence"
_TRAILER = re.compile(
    rf"\s+(?:is|are)\s+(?:the\s+|a\s+|an\s+)?(?:only\s+)?(?:\w+\s+)?{_TYPE_WORD}\b.*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"[,;](?:\s+|$)(?:and\s+|or\s+)?")
_QUOTES = "\"'`“”‘’«»"
_EDGE_JUNK = _QUOTES + " \t.,;:!?*_|"
_QUOTED_ITEM = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'([^']*)'")


def _clean_item(item: str) -> str:
    item = _BULLET.sub("", item, count=1)
    item = item.replace("**", "").strip()
    # strip wrapping quotes/punctuation but keep a closing bracket that belongs to the mention
    item = item.strip(_EDGE_JUNK)
    if item.startswith("(") and item.endswith(")") and item.count("(") == 1:
        item = item[1:-1].strip(_EDGE_JUNK)
    return item[:MAX_MENTION_CHARS]


def _json_item(value: object) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):  # [{"entity": "aspirin", "type": "chemical"}]
        for key in ("text", "mention", "entity", "name", "span"):
            if isinstance(value.get(key), str):
                return value[key]
    return None


def _whole_answer_block(
    text: str, opening: str, closing: str, max_chars: int | None = None
) -> tuple[str, object] | None:
    """(the bracketed block, its JSON value or None) when the block from the first ``opening``
    to the last ``closing`` is the whole answer — maybe after a header (``Answer:``) or in a code
    fence — else None."""
    start, end = text.find(opening), text.rfind(closing)
    if start < 0 or end <= start or (max_chars is not None and end - start > max_chars):
        return None
    prefix, suffix = text[:start].strip(), text[end + 1 :].strip(" \t\n`.")
    if suffix or not (not prefix or prefix.endswith(":") or prefix.startswith("```")):
        return None
    body = text[start : end + 1]
    try:
        return body, json.loads(body)
    except (ValueError, RecursionError):
        return body, None


def _json_list(text: str) -> list[str] | None:
    """Items of a JSON/Python-style list that is the whole answer, else None.

    The list may follow a header (``Answer:``) or sit in a code fence; a bracket inside prose
    (``IL-2 [human]``) is not a list.
    """
    block = _whole_answer_block(text, "[", "]")
    if block is None:
        return None
    body, value = block
    if isinstance(value, list):
        items = (_json_item(v) for v in value)
        return [v for v in items if v is not None]
    quoted = _QUOTED_ITEM.findall(body)
    if quoted:
        return [a or b for a, b in quoted]
    inner = body[1:-1].strip()
    return _SEPARATOR.split(inner) if inner else []


def _is_none_answer(text: str) -> bool:
    stripped = text.strip().strip(_EDGE_JUNK).strip()
    if stripped == "NO":  # nitric oxide, a frequent chemical mention, not "no"
        return False
    return bool(_NONE_ANSWER.match(stripped))


_FIRST_SENTENCE = re.compile(r"^(.*?[.!?])(?:\s+|$)", re.S)


def _opens_with_none(text: str) -> bool:
    """Whether the answer's first line or first sentence says there are no mentions ("There are
    no chemical entities in this text. ..."): then nothing after it is a mention (v3)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    sentence = _FIRST_SENTENCE.match(first)
    return _is_none_answer(first) or bool(sentence and _is_none_answer(sentence.group(1)))


# a gloss after the mention of a list item: "1. aspirin - a salicylate", "2) ibuprofen: an
# NSAID", "- **TNF** – tumour necrosis factor" (v3); hyphens inside a name ("IL-2") do not count
_GLOSS = re.compile(r"\s+[-–—]+\s+|\s*:\s+|\s+\((?:a|an|the|which|that|used)\b")
# values of a JSON object that say what type a mention is ({"aspirin": "chemical"})
_TYPE_VALUE = re.compile(rf"^(?:[bi]-)?{_TYPE_WORD}$", re.IGNORECASE)
MAX_JSON_CHARS = 100_000


def _cut_gloss(item: str) -> str:
    bold = re.match(r"^\s*\*\*(.+?)\*\*", item)  # "**aspirin** (a drug): ..."
    if bold:
        return bold.group(1)
    return _GLOSS.split(item, maxsplit=1)[0]


def _json_values(value: object, depth: int = 0) -> list[str]:
    """Mentions held by a parsed JSON value: lists of strings or of {"text": ...} objects, and
    the lists / strings under the keys of an object (its keys are names of fields, never
    mentions), except an object mapping mentions to their type ({"aspirin": "chemical"})."""
    if depth > 5:
        return []
    if isinstance(value, list):
        out = []
        for v in value:
            item = _json_item(v)
            if item is not None:
                out.append(item)
            elif isinstance(v, dict | list):
                out.extend(_json_values(v, depth + 1))
        return out
    if isinstance(value, dict):
        if value and all(
            isinstance(v, str) and _TYPE_VALUE.match(v.strip()) for v in value.values()
        ):
            return [str(k) for k in value]
        item = _json_item(value)
        if item is not None:
            return [item]
        out = []
        for v in value.values():
            if isinstance(v, str):
                out.extend(_SEPARATOR.split(v))
            else:
                out.extend(_json_values(v, depth + 1))
        return out
    item = _json_item(value)
    return [item] if item is not None else []


def _json_object(text: str) -> list[str] | None:
    """Mentions of a JSON object that is the whole answer (``{"entities": ["a", "b"]}``, maybe
    after a header or in a code fence), else None. Not valid JSON: the quoted strings that are
    not keys."""
    block = _whole_answer_block(text, "{", "}", MAX_JSON_CHARS)
    if block is None:
        return None
    body, value = block
    if isinstance(value, dict):
        return _json_values(value)
    return [
        m.group(1) if m.group(1) is not None else m.group(2)
        for m in _QUOTED_ITEM.finditer(body)
        if not re.match(r"\s*:", body[m.end() :])
    ]


def _strip_lead_in(text: str) -> str:
    text = _PLEASANTRY.sub("", text, count=1)
    lead = _LEAD_IN.match(text)
    return text[lead.end() :] if lead else text


def _is_lead_line(line: str) -> bool:
    """A line that only announces the list ("Sure! Here are the chemicals mentioned:")."""
    stripped = line.strip()
    return (
        bool(_HEADER_ONLY.match(line))
        or stripped.endswith(":")
        and len(stripped) <= 120
        and bool(_HEADER_WORDS.search(stripped))
    )


def read_mentions(response: str) -> tuple[list[str], bool]:
    """The mentions an answer lists, and whether the answer was understood (entity rule v3).

    Not understood (``unparsed``): an empty answer, or a refusal (``tasks.common.refusals``);
    both read as no mentions. A "none" answer is understood and lists no mentions.
    """
    if not isinstance(response, str) or not response.strip():
        return [], False
    first_line = response.strip().splitlines()[0]
    if is_refusal(first_line):
        return [], False
    return parse_mentions(response), True


def parse_mentions(response: str) -> list[str]:
    """The mentions an answer lists, cleaned and de-duplicated (first occurrence kept)."""
    if not isinstance(response, str):
        return []
    text = _strip_lead_in(response.strip())
    if not text or _is_none_answer(text) or _opens_with_none(text):
        return []
    items = _json_object(text)
    if items is None:
        items = _json_list(text)
    if items is None:
        items = []
        for line in text.splitlines():
            if _is_lead_line(line):
                continue
            header = _HEADER.match(line)
            if header and _HEADER_WORDS.search(header.group(0)):
                line = line[header.end() :]
            item_line = _BULLET.match(line)
            line = _BULLET.sub("", line, count=1)
            if item_line and item_line.group(0).strip():  # a list item: drop its gloss
                header = _HEADER.match(line)
                if header and _HEADER_WORDS.search(header.group(0)):
                    line = line[header.end() :]
                line = _cut_gloss(line)
            line = _TRAILER.sub("", _strip_lead_in(line))
            if not line.strip() or _is_none_answer(line) or is_refusal(line):
                continue
            items.extend(_SEPARATOR.split(line))
    out: list[str] = []
    seen: set[str] = set()
    for raw in items:
        item = _clean_item(raw)
        key = item.casefold()
        if not item or key in seen or _is_none_answer(item):
            continue
        seen.add(key)
        out.append(item)
        if len(out) >= MAX_MENTIONS:
            break
    return out


@lru_cache(maxsize=1024)
def _alias_pattern(alias: str) -> re.Pattern[str]:
    words = r"\s+".join(re.escape(w) for w in alias.split())
    return re.compile(rf"(?<![\w-]){words}(?![\w-])", re.IGNORECASE)


def _matches(response: str, aliases: Mapping[str, Sequence[str]]) -> list[tuple[int, int, str]]:
    """(start, -length, label) of every alias occurrence in the response."""
    hits = []
    for label, names in aliases.items():
        for name in names:
            for m in _alias_pattern(name).finditer(response):
                hits.append((m.start(), -(m.end() - m.start()), label))
    return hits


_LABEL_MARKER = re.compile(
    r"\b(?:(?:final|correct)\s+)?(?:answer|relation(?:ship)?|label|interaction|classification"
    r"|class|category|type)(?:\s+type)?\s*(?:is|would\s+be|[:=\-–—])\s*(?:an?\s+|the\s+)?",
    re.IGNORECASE,
)
_LABEL_LEAD = re.compile(
    r"^[\s\-*•>#\"'`“”‘’(\[]*(?:(?:either|both)\s+)?(?:an?\s+|the\s+)?", re.IGNORECASE
)
_LABEL_HEDGE = re.compile(
    r"\s*[)\]]?\s*(?:[,(]\s*)?(?:or|/|and/or|and|nor|vs\.?|versus)\s*"
    r"(?:(?:possibly|perhaps|probably|potentially|maybe|also|even|rather|both)\s+)*"
    r"(?:an?\s+|the\s+)?",
    re.IGNORECASE,
)
_LABEL_NEGATED = re.compile(
    r"(?:\bnot|\bnor|\bneither|\bnever|\bno\s+longer|\b\w+n['’]t|\brather\s+than"
    r"|\binstead\s+of)\s+(?:(?:definitely|necessarily|clearly|directly|really)\s+)?"
    r"(?:an?\s+|the\s+)?$",
    re.IGNORECASE,
)


def _label_hits(text: str, aliases: Mapping[str, Sequence[str]]) -> list[tuple[int, int, str]]:
    """(start, end, label) of the alias occurrences, leftmost-longest, none overlapping another:
    in "not associated" only the alias "not associated" counts, not "associated" inside it."""
    out: list[tuple[int, int, str]] = []
    end = -1
    for start, neg_length, label in sorted(_matches(text, aliases)):  # leftmost, then longest
        if start >= end:
            end = start - neg_length
            if is_determiner_no(text[start:end], text[end : end + 40]):
                continue  # "No conclusion can be drawn": the determiner, not the label "no"
            out.append((start, end, label))
    return out


def _hedged(text: str, hit: tuple[int, int, str], hits: Sequence[tuple[int, int, str]]) -> bool:
    """Whether the label at ``hit`` is followed by "or <another label>" ("activator or inhibitor")."""
    m = _LABEL_HEDGE.match(text, hit[1])
    return bool(m) and any(s == m.end() and lab != hit[2] for s, _, lab in hits)


def read_label(
    response: str, aliases: Mapping[str, Sequence[str]], weak: Iterable[str] = ()
) -> str | None:
    """The one label an answer commits to, or None when it names none or several (label rule v3).

    In order: (1) an explicit marker ("Answer: inhibitor", "The relation is an antagonist"; the
    last one wins); (2) a refusal -> None; (3) the label the answer opens with ("No relation;
    ..."); (4) the labels named anywhere, ignoring negated ones ("not an activator") and, if a
    strong label is named, ``weak`` ones: exactly one -> it, several -> None (ambiguous).
    A label followed by "or <another label>" is a hedge -> None.
    """
    if not isinstance(response, str) or not response.strip():
        return None
    text = response[:2000].replace("**", "").replace("__", "")
    hits = _label_hits(text, aliases)
    if not hits:
        return None
    by_start = {start: hit for hit in hits for start in [hit[0]]}
    marked = [by_start[m.end()] for m in _LABEL_MARKER.finditer(text) if m.end() in by_start]
    if marked:
        last = max(marked)
        return None if _hedged(text, last, hits) else last[2]
    if is_refusal(text):
        return None
    lead = _LABEL_LEAD.match(text)
    first = by_start.get(lead.end() if lead else 0)
    if first is not None:
        return None if _hedged(text, first, hits) else first[2]
    named = [h for h in hits if not _LABEL_NEGATED.search(text[max(0, h[0] - 60) : h[0]])]
    weak = set(weak)
    strong = {label for _, _, label in named if label not in weak}
    labels = strong or {label for _, _, label in named}
    return labels.pop() if len(labels) == 1 else None


def parse_label(
    response: str, aliases: Mapping[str, Sequence[str]], weak: Iterable[str] = ()
) -> str | None:
    """Alias of :func:`read_label` (the label rule v3)."""
    return read_label(response, aliases, weak)


def parse_labels(
    response: str, aliases: Mapping[str, Sequence[str]], none_aliases: Iterable[str] = ()
) -> tuple[set[str], bool]:
    """Every label the answer names, and whether the answer was understood at all.

    An answer that names no label is understood when it says "none" (``none_aliases``).
    """
    if not isinstance(response, str) or not response.strip():
        return set(), False
    text = response[:4000]
    labels = {label for _, _, label in _matches(text, aliases)}
    if labels:
        return labels, True
    none = any(_alias_pattern(n).search(text) for n in none_aliases)
    return set(), none
