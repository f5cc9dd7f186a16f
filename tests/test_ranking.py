"""The main ranking (leaderboard.ranking): win rates on shared items against a hand-worked table and
an independent brute-force implementation (pairs compared one by one on Python set
intersections), rank bands, seeded bootstrap rank intervals."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from leaderboard import loader, ranking
from tasks import registry

ACC = registry.spec_of_leaf("bio_pubmedqa")  # accuracy, 0/1 per item
F1 = registry.spec_of_leaf("bio_ddi")  # micro F1 from per-item tp/fp/fn


def _rows(run: str, spec, values: dict[int, object]) -> list[dict]:
    """Loader item rows of one run and task: doc_id -> value (accuracy) or (tp, fp, fn)."""
    out = []
    for doc, value in values.items():
        row = dict.fromkeys(loader.ITEM_COLUMNS)
        row.update(submission_id=run, task=spec.name, column=spec.name, filter=spec.filter,
                   doc_id=doc, doc_hash=f"d{doc}", prompt_hash=f"p{doc}", metric=spec.metric)  # fmt: skip
        if isinstance(value, tuple):
            row.update(tp=value[0], fp=value[1], fn=value[2])
        else:
            row["value"] = float(value)
        out.append(row)
    return out


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=loader.ITEM_COLUMNS)


# Hand-worked: PubMedQA accuracy, items 1-4; C ran items 1-2 only (a --limit 2 run).
#   A = 1,1,1,0   B = 1,0,0,0   C = 0,1 (items 1,2)
#   A v B on 1-4: .75 > .25 -> A;  A v C on 1-2: 1.0 > .5 -> A;  B v C on 1-2: .5 = .5 -> tie
#   task win rates: A 2/2 = 1, B 0.5/2 = .25, C 0.5/2 = .25
# DDI micro F1, item 1: A (tp 1, fp 0, fn 1) -> 2/3; B (1, 0, 0) -> 1: B wins. A 0, B 1.
# Mean win rates: A (1 + 0)/2 = .5, B (.25 + 1)/2 = .625, C .25 (one task)
HAND = _frame(
    _rows("A", ACC, {1: 1, 2: 1, 3: 1, 4: 0})
    + _rows("B", ACC, {1: 1, 2: 0, 3: 0, 4: 0})
    + _rows("C", ACC, {1: 0, 2: 1})
    + _rows("A", F1, {1: (1, 0, 1)})
    + _rows("B", F1, {1: (1, 0, 0)})
)


def test_hand_worked_win_rates():
    result = ranking.rank_runs(ranking.task_matrices(HAND, [ACC, F1]), n_resamples=200)
    table = result.table.set_index("row_id")
    assert list(result.table["row_id"]) == ["B", "A", "C"]
    assert table["win_rate"].to_dict() == pytest.approx({"A": 0.5, "B": 0.625, "C": 0.25})
    assert table["n_tasks"].to_dict() == {"A": 2, "B": 2, "C": 1}
    assert table.loc["C", "tasks"] == ACC.name
    acc = result.tasks[ACC.name].set_index("row_id")
    assert acc["win_rate"].to_dict() == pytest.approx({"A": 1.0, "B": 0.25, "C": 0.25})
    assert acc["opponents"].to_dict() == {"A": 2, "B": 2, "C": 2}
    assert acc.loc["B", "rank"] == acc.loc["C", "rank"]  # a tie shares its rank
    assert result.tasks[F1.name].set_index("row_id")["win_rate"].to_dict() == {"A": 0, "B": 1}


def test_items_with_other_hashes_are_not_shared():
    """Same doc_id but another prompt (another template): not the same item, no comparison."""
    rows = _rows("A", ACC, {1: 1}) + _rows("B", ACC, {1: 0})
    rows[1]["prompt_hash"] = "other"
    result = ranking.rank_runs(ranking.task_matrices(_frame(rows), [ACC]), n_resamples=100)
    assert result.table.empty and set(result.unranked) == {"A", "B"}


def test_lower_is_better_reverses_the_win():
    spec = registry.TaskSpec(**{**ACC.__dict__, "higher_is_better": False})
    frame = _frame(_rows("A", spec, {1: 1, 2: 1}) + _rows("B", spec, {1: 0, 2: 1}))
    result = ranking.rank_runs(ranking.task_matrices(frame, [spec]), n_resamples=100)
    assert list(result.table["row_id"]) == ["B", "A"]


# --- an independent reference: pairs one by one on set intersections -----------------------


def _brute_force(frame: pd.DataFrame, specs, weights: dict[str, dict] | None = None):
    """Mean win rate per run from first principles; ``weights``: task -> {item key: weight}."""
    rates: dict[str, list[float]] = {}
    for spec in specs:
        part = frame[frame["task"] == spec.name]
        per_run: dict[str, dict] = {}
        for row in part.itertuples():
            key = (row.doc_id, row.doc_hash, row.prompt_hash)
            if pd.notna(row.value):
                parts = (row.value, 1.0)
            else:  # micro F1
                parts = (2 * row.tp, 2 * row.tp + row.fp + row.fn)
            per_run.setdefault(row.submission_id, {})[key] = parts
        w = (weights or {}).get(spec.name, {})

        def score(run, shared, per_run=per_run, w=w):
            num = sum(per_run[run][k][0] * w.get(k, 1.0) for k in shared)
            den = sum(per_run[run][k][1] * w.get(k, 1.0) for k in shared)
            return round(num / den, 12) if den > 0 else 0.0

        wins = dict.fromkeys(per_run, 0.0)
        opp = dict.fromkeys(per_run, 0)
        for a, b in itertools.combinations(sorted(per_run), 2):
            shared = set(per_run[a]) & set(per_run[b])
            if not shared:
                continue
            sa, sb = score(a, shared), score(b, shared)
            wins[a] += 1.0 if sa > sb else 0.5 if sa == sb else 0.0
            wins[b] += 1.0 if sb > sa else 0.5 if sa == sb else 0.0
            opp[a] += 1
            opp[b] += 1
        for run in per_run:
            if opp[run]:
                rates.setdefault(run, []).append(wins[run] / opp[run])
    return {run: float(np.mean(r)) for run, r in rates.items()}


def _random_store(seed: int) -> pd.DataFrame:
    """Runs on mixed item sets: full (0-29), lite (every third), limit (first 10), partial."""
    rng = np.random.default_rng(seed)
    sets = [range(30), range(0, 30, 3), range(10), range(5, 12)]
    rows = []
    for r in range(12):
        skill = rng.uniform(0.2, 0.8)
        for spec in (ACC, F1):
            if rng.random() < 0.2:
                continue  # a partial run: this task missing
            docs = sets[rng.integers(len(sets))]
            if spec is ACC:
                values = {d: int(rng.random() < skill) for d in docs}
            else:
                values = {d: (int(rng.integers(0, 3)), int(rng.integers(0, 2)), int(rng.integers(0, 2)))
                          for d in docs}  # fmt: skip
            rows += _rows(f"run-{r:02d}", spec, values)
    return _frame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_estimates_match_the_brute_force(seed):
    frame = _random_store(seed)
    result = ranking.rank_runs(ranking.task_matrices(frame, [ACC, F1]), n_resamples=100)
    expected = _brute_force(frame, [ACC, F1])
    got = result.table.set_index("row_id")["win_rate"].to_dict()
    assert got == pytest.approx(expected)


def test_resampled_wins_match_the_brute_force_with_the_same_weights():
    frame = _random_store(3)
    matrix = ranking.task_matrices(frame, [ACC])[0]
    weights = np.random.default_rng(5).integers(0, 3, size=(4, matrix.n_items)).astype(float)
    wins, opp = ranking.task_wins(matrix, weights)
    keys = sorted(frame.loc[frame["task"] == ACC.name, ["doc_id", "doc_hash", "prompt_hash"]]
                  .drop_duplicates().astype(str).agg("|".join, axis=1))  # fmt: skip
    for b in range(weights.shape[0]):
        w = {}
        for i, key in enumerate(keys):
            doc, dh, ph = key.split("|")
            w[(int(doc), dh, ph)] = weights[b, i]
        expected = _brute_force(frame, [ACC], {ACC.name: w})
        got = {run: wins[b, i] / opp[i] for i, run in enumerate(matrix.runs) if opp[i]}
        assert got == pytest.approx(expected)


def test_bootstrap_is_seeded_and_intervals_hold_the_point():
    matrices = ranking.task_matrices(_random_store(4), [ACC, F1])
    one = ranking.rank_runs(matrices, n_resamples=300, seed=7, chunk=64)
    two = ranking.rank_runs(matrices, n_resamples=300, seed=7, chunk=300)  # chunking: same draws
    pd.testing.assert_frame_equal(one.table, two.table)
    other = ranking.rank_runs(matrices, n_resamples=300, seed=8)
    assert not one.table[["win_low", "win_high"]].equals(other.table[["win_low", "win_high"]])
    t = one.table
    assert ((t["win_low"] <= t["win_rate"]) & (t["win_rate"] <= t["win_high"])).all()
    assert (t["rank_low"] <= t["rank_high"]).all()
    assert t["rank"].is_monotonic_increasing and t["rank"].iloc[0] == 1


def test_default_resamples_are_the_statistics_default():
    from leaderboard.schemas import StatsSettings

    assert ranking.N_RESAMPLES == StatsSettings().n_resamples


@pytest.mark.parametrize(
    ("point", "low", "high", "bands"),
    [
        (
            [1, 2, 3, 4],
            [1, 1, 3, 4],
            [2, 3, 4, 4],
            [1, 1, 3, 3],
        ),  # 2 overlaps 1; 3 opens; 4 joins 3
        ([1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]),  # certain: every run its own rank
        ([1, 2, 3], [1, 1, 1], [3, 3, 3], [1, 1, 1]),  # nothing told apart
        ([1, 1, 3], [1, 1, 2], [1, 2, 3], [1, 1, 3]),  # a tie shares its rank
    ],
)
def test_rank_bands(point, low, high, bands):
    got = ranking.rank_bands(np.array(point), np.array(low), np.array(high))
    assert got.tolist() == bands


# --- tables of the app (leaderboard.standings) ---------------------------------------------


def _board(ids):
    from leaderboard import views

    board = pd.DataFrame(index=pd.Index(ids, name="row_id"))
    board["Model"] = [views.model_link(i, i) for i in ids]
    board["status_key"] = views.REPRODUCED
    board["n_scored"] = 1
    for column in [
        views.AT_BASELINE,
        views.COLLAPSED,
        *views.layout().average_columns,
        "Run",
        "Type",
        "Size (B)",
    ]:
        board[column] = None
    for spec in views.layout().tasks:
        board[views.ci_bound_column(spec, "low")] = np.nan
        board[views.ci_bound_column(spec, "high")] = np.nan
    return board


def test_main_table_keeps_ranks_when_rows_are_picked():
    from leaderboard import standings, views

    result = ranking.rank_runs(ranking.task_matrices(HAND, [ACC, F1]), n_resamples=200)
    table = standings.main_table(_board(["A", "B", "C", "D"]), result, views.layout())
    assert list(table.index) == ["B", "A", "C", "D"]  # D: no shared items, last, unranked
    assert pd.isna(table.loc["D", "Rank"]) and table.loc["D", "Coverage"].startswith("0/")
    assert (
        table.loc["C", "Coverage"] == f"1/{sum(t.higher_is_better for t in views.layout().tasks)}"
    )
    picked = standings.pick(table, ["C", "A"])
    assert list(picked.index) == ["A", "C"]
    assert picked["Rank"].tolist() == table.loc[["A", "C"], "Rank"].tolist()


def test_flag_note_counts_flagged_runs():
    from leaderboard import standings, views

    frame = pd.DataFrame({views.FLAG: [views.FLAG, "", views.FLAG]})
    assert standings.flag_note(frame).startswith(f"{views.FLAG} 2 of 3 runs")
    assert standings.flag_note(frame.assign(**{views.FLAG: views.FLAG})).startswith(
        f"{views.FLAG} Every run"
    )
    assert standings.flag_note(frame.assign(**{views.FLAG: ""})) == ""


@pytest.mark.parametrize(
    ("names", "labels"),
    [
        (["org-a/alpha-7b", "org-b/beta"], ["org-a/alpha-7b", "org-b/beta"]),  # fit: kept
        (["bioinstruct-repro/SmolLM2-135M-Instruct-Q4_1-lora-qa",
          "bioinstruct-repro/SmolLM2-135M-Instruct-Q4_1-lora-ie",
          "bioinstruct-repro/SmolLM2-135M-Instruct-Q4_1"],
         ["bioinstruct-repro/SmolLM2-…-qa", "bioinstruct-repro/SmolLM2-…-ie",
          "bioinstruct-repro/SmolLM…-Q4_1"]),
        (["HuggingFaceTB/SmolLM2-135M-Instruct · 20261202-generative-lite",
          "HuggingFaceTB/SmolLM2-135M-Instruct · 20261202-ie-lite"],
         ["HuggingFaceTB…-generative-lite", "HuggingFaceTB/SmolLM2…-ie-lite"]),
    ],
)  # fmt: skip
def test_distinct_labels(names, labels):
    from leaderboard import standings

    got = standings.distinct_labels(names)
    assert got == labels
    assert len(set(got)) == len(got) and all(len(g) <= standings.NAME_CHARS for g in got)


def test_average_half_widths_by_hand():
    """Two QA tasks with standard error 1 (half-width 1.96): QA var (1 + 1) / 2^2 = 0.5 ->
    ± 1.96 sqrt(0.5) = 1.4; one IE task with se 2 -> ± 3.9; Average over the two categories:
    var (0.5 + 4) / 2^2 = 1.125 -> ± 2.1."""
    from leaderboard import standings, views

    qa1, qa2, ie = (registry.spec_of_leaf(n) for n in ("bio_pubmedqa", "bio_medqa", "bio_ddi"))
    lay = views.layout(specs=[qa1, qa2, ie])
    board = pd.DataFrame(index=["r"])
    for spec, half in ((qa1, 1.96), (qa2, 1.96), (ie, 3.92)):
        board[views.ci_bound_column(spec, "low")] = 50 - half
        board[views.ci_bound_column(spec, "high")] = 50 + half
    board["Average"], board["QA avg"], board["IE avg"] = 50.0, 50.0, 50.0
    got = standings.average_half_widths(board, lay).loc["r"].to_dict()
    assert got == {"Average ±": 2.1, "QA avg ±": 1.4, "IE avg ±": 3.9}
    board["IE avg"] = np.nan  # no average shown (complete categories only): no interval either
    assert np.isnan(standings.average_half_widths(board, lay).loc["r", "IE avg ±"])


def test_summary_names_the_band_and_the_place():
    from leaderboard import standings, views

    table = pd.DataFrame(
        {"row_id": ["a", "b", "c"], "rank": [1, 1, 3], "rank_low": [1, 1, 3], "rank_high": [2, 3, 3],
         "position": [1, 2, 3], "win_rate": [0.9, 0.8, 0.1], "win_low": [0.8, 0.7, 0.0],
         "win_high": [0.95, 0.9, 0.2], "n_tasks": [2, 2, 1], "tasks": ["x;y", "x;y", "x"]}
    )  # fmt: skip
    result = ranking.Ranking(table, {}, ("d",), 100, 0, 0.95)
    lay = views.layout()
    n = sum(t.higher_is_better for t in lay.tasks)
    assert standings.summary(result, "a", lay) == (
        f"Rank 1 of 3 · 95% rank range 1–2 · win rate 90.0% [80.0, 95.0] over 2 of {n} tasks"
    )
    assert "Rank 1 of 3 (in the band of rank 1: not told apart from its first run; place 2)" in (
        standings.summary(result, "b", lay)
    )
    assert standings.summary(result, "d", lay).startswith("Not ranked")
