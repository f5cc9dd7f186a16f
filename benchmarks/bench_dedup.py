"""ROUGE-L de-duplication: ``bioinstruct_data.dedup.dedup`` vs the plain rouge_score loop.

Data: 25,005 synthetic biomedical instructions (templates x clinical vocabularies, a third of
them near-duplicates of earlier ones made by small edits), generated with ``random.Random(0)``,
plus the 80 shipped seed instructions as the initial pool.

The reference (every candidate scored by ``RougeScorer(["rougeL"])`` against every kept
instruction, as Self-Instruct does) is quadratic; it is timed on the first
``REFERENCE_SUBSET`` candidates, the decisions are compared there, and its time for the full
set is EXTRAPOLATED by the pair count actually evaluated (each pair costs about the same).
Goals: full set <= 60 s on the 2-core machine, and >= 100x faster than the reference.
"""

from __future__ import annotations

import random
import time

from tqdm import tqdm

from bioinstruct_data.dedup import dedup, reference_dedup
from bioinstruct_data.seeds import load_seeds

N_INSTRUCTIONS = 25_005
REFERENCE_SUBSET = 1_500
THRESHOLD = 0.7
GOAL_SECONDS = 60.0
GOAL_SPEEDUP = 100.0

_DRUGS = """metformin warfarin apixaban lisinopril amlodipine atorvastatin simvastatin insulin
levothyroxine omeprazole amoxicillin doxycycline ciprofloxacin vancomycin prednisone methotrexate
sertraline lithium digoxin furosemide spironolactone heparin clopidogrel tamoxifen""".split()
_DISEASES = [
    "hypertension",
    "asthma",
    "COPD",
    "pneumonia",
    "sepsis",
    "heart failure",
    "atrial fibrillation",
    "type 2 diabetes",
    "chronic kidney disease",
    "stroke",
    "migraine",
    "epilepsy",
    "hypothyroidism",
    "anaemia",
    "osteoporosis",
    "rheumatoid arthritis",
    "psoriasis",
    "breast cancer",
    "lung cancer",
    "melanoma",
    "tuberculosis",
    "HIV",
    "hepatitis B",
    "cirrhosis",
    "pancreatitis",
    "appendicitis",
    "gout",
    "lupus",
    "depression",
]
_NOTES = [
    "discharge summary",
    "clinic note",
    "radiology report",
    "pathology report",
    "operative note",
    "nursing note",
    "emergency department note",
    "referral letter",
    "medication list",
    "patient message",
    "clinical trial abstract",
    "case report",
    "progress note",
    "consultation letter",
    "triage note",
    "echocardiography report",
]
_TASKS = [
    "Extract the adverse drug events",
    "List every medication with its dose",
    "Summarize the key findings",
    "Identify the abnormal laboratory values",
    "Write the impression",
    "Explain the main diagnosis",
    "Find all gene mentions",
    "Rewrite the assessment in plain language",
    "Name the differential diagnoses",
    "Determine trial eligibility",
    "Flag any drug interactions",
    "Pull out the family history",
    "Describe the recommended follow-up",
    "Classify the smoking status",
    "Detect negated symptoms",
    "Translate the jargon for a layperson",
    "Assign ICD-10 codes",
    "Draft discharge instructions",
    "Answer the question asked",
    "Highlight contraindications",
    "Estimate renal function",
    "Reconcile the medications",
    "Outline the treatment plan",
    "Report the vital signs",
    "Generate a concise title",
]
_SOURCES = [
    "from the {note} below",
    "in this {note}",
    "described in the {note}",
    "using the attached {note}",
    "based on the following {note}",
    "according to the {note}",
    "mentioned throughout the {note}",
]
_CONTEXTS = [
    "for a patient with {dis}",
    "in the setting of {dis}",
    "after treatment with {drug}",
    "when {drug} was recently started",
    "for an older adult with {dis}",
    "during pregnancy complicated by {dis}",
    "in a child with {dis}",
    "while the patient takes {drug} and {drug2}",
]
_CONSTRAINTS = [
    "in no more than three sentences",
    "as a JSON object",
    "as a numbered list",
    "and quote the supporting sentence",
    "in plain language for {aud}",
    "ranked from most to least likely",
    "with one reason for each item",
    "as a table with two columns",
    "without adding new facts",
    "and state your confidence",
    "so that {aud} can follow it",
    "in a single line",
]
_EXTRAS = [
    "Mention any contraindications.",
    "Include dosing advice for kidney impairment.",
    "Note anything that needs urgent attention.",
    "Do not give a diagnosis.",
    "Use British spelling.",
    "Keep abbreviations expanded.",
    "Point out missing information.",
    "Avoid technical terms where possible.",
]
_AUDIENCES = [
    "a patient",
    "a caregiver",
    "a medical student",
    "a primary care physician",
    "a pharmacist",
    "a nurse",
    "a teenager",
    "an older adult",
]
_FILLERS = ["please", "briefly", "carefully", "clearly", "below", "given", "short", "detailed"]


def _fill(rng: random.Random) -> str:
    drug, drug2 = rng.sample(_DRUGS, 2)
    slots = {
        "note": rng.choice(_NOTES),
        "dis": rng.choice(_DISEASES),
        "drug": drug,
        "drug2": drug2,
        "aud": rng.choice(_AUDIENCES),
    }
    parts = [
        rng.choice(_TASKS),
        rng.choice(_SOURCES),
        rng.choice(_CONTEXTS),
        rng.choice(_CONSTRAINTS),
    ]
    text = " ".join(parts).format(**slots) + "."
    if rng.random() < 0.5:
        text += " " + rng.choice(_EXTRAS)
    return text


def _perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        i = rng.randrange(len(words))
        if op < 0.35 and len(words) > 4:
            del words[i]
        elif op < 0.7:
            words.insert(i, rng.choice(_FILLERS))
        else:
            words[i] = rng.choice(_DRUGS + _FILLERS)
    return " ".join(words)


def synthetic_instructions(n: int, rng: random.Random, dup_share: float = 1 / 3) -> list[str]:
    """Real-looking biomedical instructions; ``dup_share`` of them are edits of earlier ones."""
    out: list[str] = []
    while len(out) < n:
        if out and rng.random() < dup_share:
            out.append(_perturb(rng.choice(out[-2000:]), rng))
        else:
            out.append(_fill(rng))
    return out


def run() -> dict:
    rng = random.Random(0)
    pool = [s.instruction for s in load_seeds()]
    candidates = synthetic_instructions(N_INSTRUCTIONS, rng)

    with tqdm(total=len(candidates), desc="dedup (fast)", unit="instr") as bar:
        start = time.perf_counter()
        fast = dedup(pool, candidates, THRESHOLD, progress=bar.update)
        fast_s = time.perf_counter() - start

    subset = candidates[:REFERENCE_SUBSET]
    start = time.perf_counter()
    ref = reference_dedup(pool, subset, THRESHOLD)
    ref_subset_s = time.perf_counter() - start
    agree = sum(a.keep == b.keep for a, b in zip(ref, fast[:REFERENCE_SUBSET], strict=True))
    start = time.perf_counter()  # the fast path on the same subset: a measured, not
    dedup(pool, subset, THRESHOLD)  # extrapolated, ratio
    fast_subset_s = time.perf_counter() - start

    # pairs each loop evaluates: candidate j is scored against the pool kept before it
    # (the reference stops at the first duplicate found; counting full pools is an upper
    # bound for the subset, so the same rule is used for the extrapolation)
    def pairs(decisions: list) -> int:
        kept, total = len(pool), 0
        for d in decisions:
            total += kept
            kept += d.keep
        return total

    pairs_subset, pairs_full = pairs(ref), pairs(fast)
    ref_full_est_s = ref_subset_s * pairs_full / pairs_subset
    kept = sum(d.keep for d in fast)
    return {
        "n_candidates": len(candidates),
        "n_pool_seeds": len(pool),
        "threshold": THRESHOLD,
        "kept": kept,
        "dropped": len(candidates) - kept,
        "fast_seconds_full": round(fast_s, 2),
        "reference_subset": REFERENCE_SUBSET,
        "reference_seconds_subset": round(ref_subset_s, 2),
        "fast_subset_agreement": f"{agree}/{REFERENCE_SUBSET}",
        "fast_seconds_subset": round(fast_subset_s, 3),
        "speedup_measured_subset": round(ref_subset_s / fast_subset_s, 1),
        "reference_seconds_full_EXTRAPOLATED": round(ref_full_est_s, 1),
        "speedup_vs_reference_EXTRAPOLATED": round(ref_full_est_s / fast_s, 1),
        "goal_seconds": GOAL_SECONDS,
        "goal_speedup": GOAL_SPEEDUP,
        "meets_time_goal": fast_s <= GOAL_SECONDS,
        "meets_speedup_goal": ref_full_est_s / fast_s >= GOAL_SPEEDUP,
        "note": "reference time for the full set is extrapolated from the subset by pair count",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
