"""One ranking of every reproduced run: mean win rate over per-task paired comparisons on shared items.

Why a win rate, not an average of scores: the suite's tasks score in different units (accuracy,
micro F1, ROUGE-L), and runs cover different tasks and different item subsets (``--lite``,
``--limit``, partial runs). An average mixes the units and compares runs over different items.
A win rate is scale-free and always compares two runs on the same items:

* for every task and every pair of runs that both have it, both are scored on the items they
  share (same ``doc_id``, ``doc_hash`` and ``prompt_hash``, lm-eval's primary metric recomputed
  from the per-item records as a ratio of sums, :mod:`leaderboard.items`); the better one wins
  (1), a tie counts 1/2 for each; a pair with no shared item is not compared;
* a run's **task win rate** is its wins over the runs it was compared with on that task; its
  **mean win rate** is the unweighted mean of its task win rates (each task counts once, as
  MedHELM's mean win rate over scenarios); ``Coverage`` says over how many tasks.

A Bradley-Terry fit would give strengths on a logit scale, but needs an iterative fit per
bootstrap resample (10,000 of them over up to 1,000 runs) and its strengths are harder to read
than "beats 73% of the runs it met"; the win rate is a closed form that the bootstrap below
recomputes in a few sorts.

Uncertainty: the items of each task are resampled with replacement (the statistics engine's
default number of resamples, :class:`~leaderboard.schemas.StatsSettings`, one seeded
``numpy.random.Generator`` per task, :func:`leaderboard.stats.task_rng`); every resample
recomputes every pairwise comparison and every run's mean win rate and rank. A run's **rank
interval** is the central ``ci_level`` interval of its ranks over the resamples. Runs are
then put in **rank bands**: walking down from the best point estimate, a run joins the band
of the run that opened it while its rank interval overlaps the opener's; otherwise it opens a
new band. A band's rank is its opener's rank, so runs that cannot be told apart share a rank.

The ranking is computed once on the whole store; searches and filters only choose which rows
are shown (a row keeps its rank).

Computation: per task, runs with the same item set form a class and items with the same
membership across classes an atom. Resampled sums are computed per atom (one matrix product),
a pair of classes compares sums over their shared atoms, and the wins of every run against a
class follow from two average ranks: ``wins = rank(x in c+d) - rank(x in c)`` (ties 1/2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps  # competition ranks of the resampled win rates
from threadpoolctl import threadpool_limits

from leaderboard import items as itemlib
from leaderboard import stats
from leaderboard.schemas import StatsSettings
from tasks.registry import TaskSpec

DEFAULTS = StatsSettings()
N_RESAMPLES = DEFAULTS.n_resamples  # the statistics engine's default, reused
CI_LEVEL = DEFAULTS.ci_level
SEED = DEFAULTS.seed
CHUNK = 500  # resamples computed at once (bounds memory: atoms x CHUNK x runs floats)
_DIGITS = 12  # scores are rounded before comparison: float noise must not decide a win


@dataclass(frozen=True)
class TaskMatrix:
    """The primary-metric items of one task of every run that has it, on the task's item union.

    ``num`` and ``den`` are (runs x items) ratio parts (0 where a run lacks the item), ``present``
    says which run has which item; a run's score on items ``S`` is ``num[S].sum() / den[S].sum()``.
    """

    spec: TaskSpec
    runs: tuple[str, ...]
    num: np.ndarray
    den: np.ndarray
    present: np.ndarray

    @property
    def n_items(self) -> int:
        return int(self.present.shape[1])


def task_matrices(
    items: pd.DataFrame, specs: Sequence[TaskSpec], scored: pd.DataFrame | None = None
) -> list[TaskMatrix]:
    """One :class:`TaskMatrix` per task of ``specs`` that at least one run has.

    ``items`` is the loader's per-item table (:func:`leaderboard.loader.load_items`, one line per
    item and metric); only the spec's primary metric under its filter counts. ``scored``, when
    given, lists the ``(row_id, column)`` pairs the board scores (stale task versions are not
    among them): other items are left out.
    """
    out = []
    for spec in specs:
        part = items[
            (items["task"] == spec.name)
            & (items["metric"] == spec.metric)
            & (items["filter"] == spec.filter)
        ]
        if scored is not None and not part.empty:
            keep = set(scored.loc[scored["column"] == spec.name, "row_id"].astype(str))
            part = part[part["submission_id"].isin(keep)]
        if part.empty:
            continue
        key = (
            part["doc_id"].astype(str) + "|" + part["doc_hash"].astype(str) + "|"
            + part["prompt_hash"].astype(str)
        )  # fmt: skip
        part = part.assign(_key=key.to_numpy()).drop_duplicates(["submission_id", "_key"])
        run_codes, runs = pd.factorize(part["submission_id"], sort=True)
        item_codes, _ = pd.factorize(part["_key"], sort=True)
        shape = (len(runs), int(item_codes.max()) + 1)
        if part["value"].notna().all():
            num_v = part["value"].to_numpy(float)
            den_v = np.ones(len(part))
        else:
            tp, fp, fn = (pd.to_numeric(part[k], errors="coerce").fillna(0).to_numpy(float)
                          for k in itemlib.COUNT_KEYS)  # fmt: skip
            num_v, den_v = itemlib.count_parts(spec.metric, tp, fp, fn)
        num, den = np.zeros(shape), np.zeros(shape)
        present = np.zeros(shape, dtype=bool)
        num[run_codes, item_codes] = num_v
        den[run_codes, item_codes] = den_v
        present[run_codes, item_codes] = True
        out.append(TaskMatrix(spec, tuple(str(r) for r in runs), num, den, present))
    return out


# --- wins of one task ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Structure:
    classes: np.ndarray  # class of each run
    members: list[np.ndarray]  # runs of each class
    atoms: list[np.ndarray]  # item positions of each atom
    shared: dict[tuple[int, int], np.ndarray]  # (c, d) with c <= d -> atoms both classes have


def _structure(present: np.ndarray) -> _Structure:
    patterns, classes = np.unique(present, axis=0, return_inverse=True)
    classes = classes.reshape(-1)
    members = [np.flatnonzero(classes == c) for c in range(len(patterns))]
    atom_patterns, atom_of = np.unique(patterns, axis=1, return_inverse=True)
    atom_of = atom_of.reshape(-1)
    atoms = [np.flatnonzero(atom_of == a) for a in range(atom_patterns.shape[1])]
    shared = {}
    for c in range(len(patterns)):
        for d in range(c, len(patterns)):
            both = np.flatnonzero(atom_patterns[c] & atom_patterns[d])
            if both.size:
                shared[(c, d)] = both
    return _Structure(classes, members, atoms, shared)


def _scores(num: np.ndarray, den: np.ndarray, higher_is_better: bool) -> np.ndarray:
    safe = np.where(den > 0, den, 1.0)
    value = np.round(np.where(den > 0, num / safe, 0.0), _DIGITS)
    return value if higher_is_better else -value


def _wins(x: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Wins (ties 1/2) of each column of ``x`` over every column of ``y``, and of ``y`` over
    ``x``, row by row (resamples); ``y=None``: of each column of ``x`` over the other columns of
    ``x``. One sort per call: values are sorted with their side, equal values form a group, and
    a value beats the other side's values in lower groups and ties those in its own."""
    n_x = x.shape[1]
    z = x if y is None else np.concatenate([x, y], axis=1)
    rows, n = z.shape
    order = np.argsort(z, axis=1, kind="stable")
    ranked = np.take_along_axis(z, order, axis=1)
    new_group = np.ones((rows, n), dtype=bool)
    new_group[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    group = np.cumsum(new_group, axis=1) - 1 + (np.arange(rows) * n)[:, None]
    is_y = order >= n_x
    size = rows * n
    in_x = np.bincount(group.ravel(), weights=(~is_y).ravel(), minlength=size).reshape(rows, n)
    below_x = np.cumsum(in_x, axis=1) - in_x  # x values in lower groups, per group
    flat = group - (np.arange(rows) * n)[:, None]  # group index within its row
    if y is None:
        won = np.take_along_axis(below_x + 0.5 * (in_x - 1), flat, axis=1)
        out = np.empty_like(won)
        np.put_along_axis(out, order, won, axis=1)
        return out, None
    in_y = np.bincount(group.ravel(), weights=is_y.ravel(), minlength=size).reshape(rows, n)
    below_y = np.cumsum(in_y, axis=1) - in_y
    over_y = np.take_along_axis(below_y + 0.5 * in_y, flat, axis=1)  # for x values
    over_x = np.take_along_axis(below_x + 0.5 * in_x, flat, axis=1)  # for y values
    won = np.where(is_y, over_x, over_y)
    out = np.empty_like(won)
    np.put_along_axis(out, order, won, axis=1)
    return out[:, :n_x], out[:, n_x:]


def task_wins(
    matrix: TaskMatrix, weights: np.ndarray | None = None, structure: _Structure | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(wins, opponents) of every run on one task: ``wins`` is (resamples x runs), ties counting
    1/2; ``opponents`` (runs) the number of runs each was compared with (those sharing at least
    one item). ``weights`` are (resamples x items) item multiplicities (None: each item once,
    the point estimate)."""
    s = structure or _structure(matrix.present)
    weights = np.ones((1, matrix.n_items)) if weights is None else weights
    n_runs = len(matrix.runs)
    atom_num = [weights[:, idx] @ matrix.num[:, idx].T for idx in s.atoms]
    atom_den = [weights[:, idx] @ matrix.den[:, idx].T for idx in s.atoms]  # resamples x runs
    wins = np.zeros((weights.shape[0], n_runs))
    opponents = np.zeros(n_runs)
    hib = matrix.spec.higher_is_better

    def score(rows: np.ndarray, atoms: np.ndarray) -> np.ndarray:
        num = sum(atom_num[a][:, rows] for a in atoms)
        den = sum(atom_den[a][:, rows] for a in atoms)
        return _scores(num, den, hib)

    for (c, d), atoms in s.shared.items():
        rows_c, rows_d = s.members[c], s.members[d]
        x = score(rows_c, atoms)
        if c == d:
            wins[:, rows_c] += _wins(x, None)[0]
            opponents[rows_c] += len(rows_c) - 1
            continue
        won_c, won_d = _wins(x, score(rows_d, atoms))
        wins[:, rows_c] += won_c
        wins[:, rows_d] += won_d
        opponents[rows_c] += len(rows_d)
        opponents[rows_d] += len(rows_c)
    return wins, opponents


# --- the ranking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranking:
    """The main ranking (``table``) and the per-task ones (``tasks``: column -> table).

    ``table`` has one line per ranked run, best first: ``row_id``, ``rank`` (its band's rank),
    ``rank_low`` / ``rank_high`` (rank interval), ``position`` (1.. in order), ``win_rate`` with
    ``win_low`` / ``win_high`` (percentile interval), ``n_tasks`` (tasks with an opponent) and
    ``tasks`` (their columns, ";"-joined). A per-task table has the same columns (``n_tasks``
    is 1) plus ``opponents``. Runs with no opponent on any task are in ``unranked``."""

    table: pd.DataFrame
    tasks: dict[str, pd.DataFrame]
    unranked: tuple[str, ...]
    n_resamples: int
    seed: int
    ci_level: float


RANK_COLUMNS = ["row_id", "rank", "rank_low", "rank_high", "position", "win_rate", "win_low",
                "win_high", "n_tasks", "tasks"]  # fmt: skip


def rank_bands(point: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Band rank of each run given in best-first order: a run joins the band opened by an
    earlier run while its rank interval ``[low, high]`` overlaps the opener's; else it opens
    a band whose rank is its own point rank."""
    out = np.empty(len(point), dtype=int)
    opener = 0
    for i in range(len(point)):
        if i == 0 or low[i] > high[opener]:
            opener = i
        out[i] = point[opener]
    return out


def _min_rank(values: np.ndarray) -> np.ndarray:
    """Competition ranks (1 = best, ties share the lowest) of each resample's values (rows)."""
    return sps.rankdata(-values, axis=1, method="min").astype(np.int32)


def _table(
    ids: Sequence[str],
    point: np.ndarray,
    reps: np.ndarray,
    n_tasks: np.ndarray,
    tasks: Sequence[str],
    level: float,
) -> pd.DataFrame:
    """Ranked table of runs from point win rates and (resamples x runs) replicates."""
    ranks = _min_rank(reps)
    tail = (1 - level) / 2
    rank_low = np.floor(np.quantile(ranks, tail, axis=0)).astype(int)
    rank_high = np.ceil(np.quantile(ranks, 1 - tail, axis=0)).astype(int)
    win_low, win_high = stats.percentile_interval(reps, level)
    point_rank = _min_rank(point[None, :])[0]
    frame = pd.DataFrame(
        {
            "row_id": list(ids),
            "rank_point": point_rank,
            "rank_low": np.minimum(rank_low, point_rank),
            "rank_high": np.maximum(rank_high, point_rank),
            "win_rate": point,
            "win_low": np.minimum(win_low, point),
            "win_high": np.maximum(win_high, point),
            "n_tasks": n_tasks.astype(int),
            "tasks": list(tasks),
        }
    ).sort_values(["rank_point", "row_id"], kind="stable")
    frame["rank"] = rank_bands(
        frame["rank_point"].to_numpy(), frame["rank_low"].to_numpy(), frame["rank_high"].to_numpy()
    )
    frame["position"] = np.arange(1, len(frame) + 1)
    return frame.loc[:, RANK_COLUMNS].reset_index(drop=True)


def rank_runs(
    matrices: Sequence[TaskMatrix],
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = CI_LEVEL,
    chunk: int = CHUNK,
) -> Ranking:
    """The main and per-task rankings of the runs in ``matrices`` (see the module docstring).

    BLAS runs on one thread here: the products are small (resamples x an atom's items), and a
    threaded BLAS on a busy machine took 10-20 times longer on them (measured on 2 cores)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _rank_runs(matrices, n_resamples, seed, level, chunk)


def _rank_runs(
    matrices: Sequence[TaskMatrix], n_resamples: int, seed: int, level: float, chunk: int
) -> Ranking:
    runs = sorted({r for m in matrices for r in m.runs})
    where = {r: i for i, r in enumerate(runs)}
    n = len(runs)
    structures = [_structure(m.present) for m in matrices]
    cols = [np.array([where[r] for r in m.runs], dtype=int) for m in matrices]
    rngs = [stats.task_rng(seed, m.spec.name) for m in matrices]

    # point estimates
    point_rates = np.full((len(matrices), n), np.nan)
    task_points = []
    for t, (m, s) in enumerate(zip(matrices, structures, strict=True)):
        wins, opp = task_wins(m, None, s)
        rate = np.where(opp > 0, wins[0] / np.maximum(opp, 1), np.nan)
        point_rates[t, cols[t]] = rate
        task_points.append((wins[0], opp))
    has = ~np.isnan(point_rates)
    n_tasks = has.sum(axis=0)
    ranked = n_tasks > 0

    # resamples, chunk by chunk (each task's generator drawn in sequence: same result any chunk)
    # replicates kept as float32 (win rates are multiples of 1/(2 x opponents)): at 1,000 runs
    # and 20 tasks, float64 held 1.5 GB at the peak
    mean_reps = np.empty((n_resamples, n), dtype=np.float32)
    task_reps = [np.empty((n_resamples, len(m.runs)), dtype=np.float32) for m in matrices]
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        total = np.zeros((size, n))
        for t, (m, s) in enumerate(zip(matrices, structures, strict=True)):
            idx = stats.resample_indices(m.n_items, size, rngs[t])
            weights = stats.multiplicities(idx, m.n_items)
            wins, opp = task_wins(m, weights, s)
            rate = np.where(opp > 0, wins / np.maximum(opp, 1), 0.0)
            task_reps[t][start : start + size] = rate
            total[:, cols[t]] += rate
        mean_reps[start : start + size] = total / np.maximum(n_tasks, 1)

    point = np.where(has, point_rates, 0.0).sum(axis=0) / np.maximum(n_tasks, 1)
    keep = np.flatnonzero(ranked)
    names = [m.spec.name for m in matrices]
    covered = [";".join(names[t] for t in np.flatnonzero(has[:, i])) for i in keep]
    table = _table([runs[i] for i in keep], point[keep], mean_reps[:, keep], n_tasks[keep],
                   covered, level)  # fmt: skip

    per_task = {}
    for t, m in enumerate(matrices):
        wins, opp = task_points[t]
        inside = np.flatnonzero(opp > 0)
        if inside.size == 0:
            continue
        frame = _table(
            [m.runs[i] for i in inside],
            wins[inside] / opp[inside],
            task_reps[t][:, inside],
            np.ones(inside.size),
            [m.spec.name] * inside.size,
            level,
        )
        frame["opponents"] = frame["row_id"].map(dict(zip(m.runs, opp.astype(int), strict=True)))
        per_task[m.spec.name] = frame
    unranked = tuple(runs[i] for i in np.flatnonzero(~ranked))
    return Ranking(table, per_task, unranked, n_resamples, seed, level)
