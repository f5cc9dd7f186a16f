"""The statistics engine: every metric is a ratio of per-item sums, resampled with shared matrices.

A task's metric over items is ``sum(num) / sum(den)`` (see :mod:`leaderboard.items`): a mean is
``(value, 1)``, a micro F1 ``(2 tp, 2 tp + fp + fn)``. All models of one task are held as
``(n_units, n_models)`` matrices, so one bootstrap multiplicity matrix ``W`` (resamples x units)
serves every model and every pair at once: ``W @ num`` gives each model's resampled sums, and a
pair's paired-bootstrap difference is the difference of two columns of the same replicate.

Units are items, or clusters of items sharing a context when cluster ids are given (then the
bootstrap and the permutation move whole clusters, and the clustered standard error is used).

* score CI: percentile bootstrap (as ``scipy.stats.bootstrap(method="percentile")``);
* paired difference: paired bootstrap CI and two-sided p = (1 + #|d* - d| >= |d|) / (B + 1);
* accuracy (0/1 items): McNemar's exact test = two-sided binomial test on discordant pairs
  (as ``statsmodels...mcnemar(exact=True)``);
* other metrics (F1 from counts, ROUGE, judge scores): approximate randomisation — swap the two
  systems' outputs per unit with probability 1/2 and recompute the corpus metric; all 2^n swaps
  when that is no more than the requested number (exact test);
* Holm and Benjamini-Hochberg across a family of p-values (``statsmodels`` ``multipletests``);
* standard errors of a ratio of sums by linearisation, clustered (CR1; equals ``statsmodels`` OLS
  with ``cov_type="cluster"`` for a mean) or i.i.d.;
* minimum detectable effect at a given power: ``(z_{1-alpha/2} + z_{power}) * SE``.

Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from leaderboard.schemas import N_RESAMPLES

# Cells of a resampling or permutation matrix generated at once (small enough to stay in cache).
CHUNK_CELLS = 262_144
_TIE = 1e-12  # relative tolerance when counting |d*| >= |d| (float noise must not decide ties)


def task_rng(seed: int, name: str) -> np.random.Generator:
    """A generator for one task: the same seed and task give the same draws in any report."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Elementwise num / den, 0 where den is 0."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _fast_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den for arrays whose denominators are almost never 0 (0 where they are)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    zero = den == 0
    if zero.any():
        out[zero] = 0.0
    return out


def to_units(
    num: np.ndarray, den: np.ndarray, clusters: Sequence | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Sum item rows into one row per cluster; items are their own units when ``clusters`` is None."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    if clusters is None:
        return num, den
    labels, n_units = _labels(clusters)
    shape = (n_units, *num.shape[1:])
    out_num, out_den = np.zeros(shape), np.zeros(shape)
    np.add.at(out_num, labels, num)
    np.add.at(out_den, labels, den)
    return out_num, out_den


def _labels(clusters: Sequence | np.ndarray) -> tuple[np.ndarray, int]:
    uniques, labels = np.unique(np.asarray(clusters), return_inverse=True)
    return labels.ravel(), len(uniques)


def _chunks(total: int, n_units: int) -> Iterator[tuple[int, int]]:
    step = max(1, CHUNK_CELLS // max(n_units, 1))
    for start in range(0, total, step):
        yield start, min(total, start + step)


def resample_indices(n_units: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap index matrix (resamples x units): each row draws units with replacement."""
    return rng.integers(0, n_units, size=(n_resamples, n_units))


def multiplicities(indices: np.ndarray, n_units: int) -> np.ndarray:
    """How often each unit occurs in each resample (rows of ``indices``) -> float matrix."""
    rows = indices.shape[0]
    flat = (indices + (np.arange(rows) * n_units)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n_units).reshape(rows, n_units).astype(float)


def _pair_index(pairs: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    a_idx = np.array([a for a, _ in pairs], dtype=int)
    b_idx = np.array([b for _, b in pairs], dtype=int)
    return a_idx, b_idx


def bootstrap_sums(
    num: np.ndarray, den: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Resampled sums (resamples x models) of num and den, all models on the same resamples."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    if num.ndim == 1:
        num, den = num[:, None], den[:, None]
    n_units, n_models = num.shape
    parts = np.concatenate([num, den], axis=1)
    out = np.empty((n_resamples, 2 * n_models))
    for start, stop in _chunks(n_resamples, n_units):
        weights = multiplicities(resample_indices(n_units, stop - start, rng), n_units)
        out[start:stop] = weights @ parts
    return out[:, :n_models], out[:, n_models:]


def bootstrap_ratios(
    num: np.ndarray, den: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap replicates (resamples x models) of sum(num)/sum(den) per model column.

    ``num`` and ``den`` are (units x models); every model sees the same resampled units, so
    differences of columns are paired-bootstrap replicates.
    """
    return ratio(*bootstrap_sums(num, den, n_resamples, rng))


def percentile_interval(
    replicates: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0."""
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail], axis=0)
    return low, high


def bootstrap_p(replicates: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Two-sided paired-bootstrap p-value of differences: the null distribution is the centred
    bootstrap distribution; p = (1 + #{|d* - d| >= |d|}) / (B + 1)."""
    observed = np.asarray(observed, float)
    extreme = np.abs(replicates - observed) >= np.abs(observed) * (1 - _TIE)
    return (1.0 + extreme.sum(axis=0)) / (replicates.shape[0] + 1.0)


def _quantile_positions(n: int, qs: Sequence[float]) -> list[tuple[int, int, float]]:
    """(lower index, upper index, weight) of numpy's default ("linear") quantile method."""
    out = []
    for q in qs:
        h = (n - 1) * q
        lo = int(np.floor(h))
        out.append((lo, min(lo + 1, n - 1), h - lo))
    return out


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """numpy's lerp: a + (b - a) t, computed from the upper end when t >= 1/2."""
    a, b = a.astype(float), b.astype(float)
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _order_statistics(rows: np.ndarray, ks: Sequence[int]) -> dict[int, np.ndarray]:
    """The k-th smallest value (0-based) of every row, for each k in ``ks``.

    Only the tails are sorted: values beyond a per-row normal-approximation threshold (with a
    wide margin) are gathered and sorted; a row whose tail turns out too thin is sorted whole.
    Exact whatever the distribution.
    """
    n_rows, n = rows.shape
    out = {k: np.empty(n_rows, dtype=rows.dtype) for k in ks}
    probe = rows[:, : min(n, 512)]  # replicates are i.i.d.: a slice estimates each row's spread
    mean = probe.mean(axis=1, dtype=np.float64)
    sd = probe.std(axis=1, dtype=np.float64)
    redo = np.zeros(n_rows, dtype=bool)
    for low_side in (True, False):
        wanted = [k for k in ks if (k < n // 2) == low_side]
        if not wanted:
            continue
        depth = max(wanted) + 1 if low_side else n - min(wanted)  # values needed from this end
        z = sps.norm.ppf(min(0.5, 2.5 * depth / n + 10.0 / n))
        threshold = (mean + z * sd) if low_side else (mean - z * sd)
        mask = rows <= threshold[:, None] if low_side else rows >= threshold[:, None]
        counts = mask.sum(axis=1)
        ok = counts >= depth
        redo |= ~ok
        mask &= ok[:, None]
        counts = np.where(ok, counts, 0)
        width = int(counts.max()) if ok.any() else 0
        if width == 0:
            continue
        row_ids = np.repeat(np.arange(n_rows), counts)
        starts = np.cumsum(counts) - counts
        cols = np.arange(row_ids.size) - starts[row_ids]
        pad = np.inf if low_side else -np.inf
        tails = np.full((n_rows, width), pad, dtype=rows.dtype)
        tails[row_ids, cols] = rows[mask]
        tails.sort(axis=1)
        for k in wanted:
            column = k if low_side else width - n + k
            out[k][ok] = tails[ok, column]
    if redo.any():
        full = np.sort(rows[redo], axis=1)
        for k in ks:
            out[k][redo] = full[:, k]
    return out


def paired_bootstrap(
    sum_num: np.ndarray,
    sum_den: np.ndarray,
    observed: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    level: float = 0.95,
    *,
    lattice: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile CI and two-sided p of each pair's difference from shared bootstrap sums.

    ``sum_num``/``sum_den`` are resampled sums (resamples x models) from :func:`bootstrap_sums`
    and ``observed`` the models' scores. ``lattice=n`` declares a 0/1 metric over n items with
    unit denominators: differences are then integers / n, sorted by a radix sort and compared
    exactly. Returns (low, high, p), one value per pair; the CI equals ``numpy.quantile`` of the
    replicates and p = (1 + #{|d* - d| >= |d|}) / (B + 1).
    """
    a_idx, b_idx = _pair_index(pairs)
    tail = (1.0 - level) / 2.0
    diff_obs = observed[a_idx] - observed[b_idx]
    n_res = sum_num.shape[0]
    positions = _quantile_positions(n_res, (tail, 1.0 - tail))
    if lattice is not None:
        dtype = np.int16 if lattice < 2**15 else np.int32
        rows = np.ascontiguousarray(np.rint(sum_num).T).astype(dtype)
        diff = rows[a_idx] - rows[b_idx]
        diff.sort(axis=1, kind="stable")  # radix sort for 16-bit integers
        low, high = (_lerp(diff[:, lo], diff[:, hi], t) / lattice for lo, hi, t in positions)
        obs = np.rint(diff_obs * lattice)
        lower, upper = obs - np.abs(obs), obs + np.abs(obs)  # exact on integers
        # on sorted rows: two binary searches per row
        extreme = np.array(
            [
                np.searchsorted(row, lo, side="right") + len(row) - np.searchsorted(row, hi)
                for row, lo, hi in zip(diff, lower, upper, strict=True)
            ]
        )
    else:
        dtype = np.float64 if len(a_idx) <= 64 else np.float32
        rows = np.ascontiguousarray(ratio(sum_num, sum_den).T).astype(dtype)
        diff = rows[a_idx] - rows[b_idx]
        ks = sorted({k for lo, hi, _ in positions for k in (lo, hi)})
        stat = _order_statistics(diff, ks)
        low, high = (_lerp(stat[lo], stat[hi], t) for lo, hi, t in positions)
        slack = np.abs(diff_obs) * (1 - _TIE)
        lower = (diff_obs - slack).astype(dtype)[:, None]
        upper = (diff_obs + slack).astype(dtype)[:, None]
        extreme = (diff <= lower).sum(axis=1) + (diff >= upper).sum(axis=1)
    extreme = np.minimum(extreme, n_res)  # d = 0: every replicate counts once
    p = (1.0 + extreme) / (n_res + 1.0)
    return np.asarray(low), np.asarray(high), p


def mcnemar_exact(b: np.ndarray | int, c: np.ndarray | int) -> np.ndarray:
    """McNemar's exact test: two-sided binomial test of b successes in b + c trials, p = 1/2.

    Identical to ``statsmodels.stats.contingency_tables.mcnemar(table, exact=True)``.
    """
    b, c = np.asarray(b), np.asarray(c)
    n = b + c
    p = 2.0 * sps.binom.cdf(np.minimum(b, c), n, 0.5)
    return np.where(n == 0, 1.0, np.minimum(p, 1.0))


def discordant(
    correct: np.ndarray, pairs: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """(b, c) per pair: items only model a got right, items only model b got right."""
    x = np.asarray(correct, float)
    gram = x.T @ x
    right = x.sum(axis=0)
    a_idx = np.array([a for a, _ in pairs], dtype=int)
    b_idx = np.array([b for _, b in pairs], dtype=int)
    both = gram[a_idx, b_idx]
    return (right[a_idx] - both).round().astype(int), (right[b_idx] - both).round().astype(int)


def permutation_p(
    num: np.ndarray,
    den: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    n_permutations: int,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """Approximate randomisation test of metric(a) - metric(b) per pair (two-sided).

    Each unit's outputs of the two systems are swapped with probability 1/2 and the corpus
    metric recomputed. With 2^n_units <= n_permutations every swap pattern is enumerated and
    p = #{|d*| >= |d|} / 2^n (exact); otherwise p = (1 + #) / (n_permutations + 1).
    """
    num, den = np.asarray(num, float), np.asarray(den, float)
    n_units, n_models = num.shape
    a_idx, b_idx = _pair_index(pairs)
    sum_num, sum_den = num.sum(axis=0), den.sum(axis=0)
    observed = ratio(sum_num[a_idx], sum_den[a_idx]) - ratio(sum_num[b_idx], sum_den[b_idx])
    exact = n_units < 63 and 2**n_units <= n_permutations
    total = 2**n_units if exact else n_permutations
    # When every model has the same denominator per unit (means), swapping leaves the
    # denominators unchanged: the difference is (gap + 2 * moved) / den, linear in the swaps.
    linear = bool((den == den[:, :1]).all())
    parts = num if linear else np.concatenate([num, den], axis=1)
    gap = (sum_num[a_idx] - sum_num[b_idx])[None, :]
    threshold = np.abs(observed) * (1 - _TIE)
    linear_threshold = np.abs(gap) * (1 - _TIE)
    count = np.zeros(len(a_idx))
    for start, stop in _chunks(total, n_units):
        if exact:
            codes = np.arange(start, stop)[:, None]
            swaps = ((codes >> np.arange(n_units)) & 1).astype(float)
        else:
            swaps = (rng.random((stop - start, n_units)) < 0.5).astype(float)
        moved = swaps @ parts
        t_num = moved[:, :n_models]
        dn = t_num[:, b_idx]
        dn -= t_num[:, a_idx]
        if linear:
            dn *= 2.0
            dn += gap
            np.abs(dn, out=dn)
            count += (dn >= linear_threshold).sum(axis=0)
            continue
        t_den = moved[:, n_models:]
        dd = t_den[:, b_idx]
        dd -= t_den[:, a_idx]
        stat = _fast_ratio(sum_num[a_idx] + dn, sum_den[a_idx] + dd)
        stat -= _fast_ratio(sum_num[b_idx] - dn, sum_den[b_idx] - dd)
        np.abs(stat, out=stat)
        count += (stat >= threshold).sum(axis=0)
    if exact:
        return count / total
    return (count + 1.0) / (total + 1.0)


def _cluster_sum(values: np.ndarray, clusters: Sequence | np.ndarray | None) -> np.ndarray:
    if clusters is None:
        return values
    labels, n_units = _labels(clusters)
    return np.bincount(labels, weights=values, minlength=n_units)


def ratio_se(
    num: np.ndarray, den: np.ndarray, clusters: Sequence | np.ndarray | None = None
) -> float:
    """Linearised (delta-method) SE of sum(num)/sum(den); clustered CR1 when clusters are given.

    For a mean (den = 1) this is sd/sqrt(n) i.i.d., and with clusters exactly the standard error
    of the intercept of ``statsmodels`` OLS with ``cov_type="cluster"``.
    """
    num, den = np.asarray(num, float), np.asarray(den, float)
    total = den.sum()
    if total <= 0:
        return 0.0
    resid = _cluster_sum(num - (num.sum() / total) * den, clusters)
    g = len(resid)
    if g < 2:
        return float("nan")
    return float(np.sqrt(g / (g - 1) * np.sum(resid**2)) / total)


def paired_ratio_se(
    num_a: np.ndarray,
    den_a: np.ndarray,
    num_b: np.ndarray,
    den_b: np.ndarray,
    clusters: Sequence | np.ndarray | None = None,
) -> float:
    """Linearised SE of metric(a) - metric(b) on paired items (clustered CR1 if clusters)."""
    num_a, den_a, num_b, den_b = (np.asarray(x, float) for x in (num_a, den_a, num_b, den_b))
    ta, tb = den_a.sum(), den_b.sum()
    infl = np.zeros(len(num_a))
    if ta > 0:
        infl += (num_a - num_a.sum() / ta * den_a) / ta
    if tb > 0:
        infl -= (num_b - num_b.sum() / tb * den_b) / tb
    resid = _cluster_sum(infl, clusters)
    g = len(resid)
    if g < 2:
        return float("nan")
    return float(np.sqrt(g / (g - 1) * np.sum(resid**2)))


def paired_se(
    num: np.ndarray,
    den: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    clusters: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """:func:`paired_ratio_se` for many pairs of model columns at once (via a Gram matrix)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    totals = den.sum(axis=0)
    scores = ratio(num.sum(axis=0), totals)
    safe = np.where(totals > 0, totals, 1.0)
    infl = np.where(totals > 0, (num - scores * den) / safe, 0.0)
    if clusters is not None:
        labels, n_units = _labels(clusters)
        summed = np.zeros((n_units, num.shape[1]))
        np.add.at(summed, labels, infl)
        infl = summed
    g = infl.shape[0]
    if g < 2:
        return np.full(len(pairs), np.nan)
    gram = infl.T @ infl
    a_idx, b_idx = _pair_index(pairs)
    var = gram[a_idx, a_idx] + gram[b_idx, b_idx] - 2 * gram[a_idx, b_idx]
    return np.sqrt(np.maximum(var, 0.0) * g / (g - 1))


def mde(se: np.ndarray | float, alpha: float = 0.05, power: float = 0.8) -> np.ndarray:
    """Smallest true difference a two-sided z-test at ``alpha`` detects with ``power``."""
    return (sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)) * np.asarray(se, float)


def adjust(p_values: Sequence[float], method: str) -> np.ndarray:
    """Holm (``"holm"``) or Benjamini-Hochberg (``"fdr_bh"``) adjusted p-values (statsmodels)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, float)
    if p.size == 0:
        return p
    return multipletests(p, method=method)[1]


# --- the batch engine -------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskInput:
    """One task for several models on the same (paired) items: ratio parts per item."""

    name: str
    num: np.ndarray  # (items, models)
    den: np.ndarray  # (items, models)
    binary: bool  # 0/1 per-item metric: McNemar applies
    clusters: np.ndarray | None = None  # (items,) cluster ids, or None

    @property
    def n_items(self) -> int:
        return self.num.shape[0]


@dataclass
class TaskStats:
    name: str
    pairs: list[tuple[int, int]]
    scores: np.ndarray  # (models,)
    score_low: np.ndarray
    score_high: np.ndarray
    replicates: np.ndarray  # (resamples, models) bootstrap replicates of each model's score
    diff: np.ndarray  # (pairs,)
    diff_low: np.ndarray
    diff_high: np.ndarray
    p_bootstrap: np.ndarray
    test: str  # "mcnemar" or "permutation"
    p_value: np.ndarray
    se_iid: np.ndarray
    se_cluster: np.ndarray | None
    n_clusters: int | None
    mde: np.ndarray
    discordant: tuple[np.ndarray, np.ndarray] | None = None
    extra: dict = field(default_factory=dict)


def analyse_task(
    task: TaskInput,
    pairs: Sequence[tuple[int, int]],
    *,
    n_resamples: int = N_RESAMPLES,
    n_permutations: int = N_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
) -> TaskStats:
    """Scores with CIs for every model, and paired statistics for every pair, of one task."""
    pairs = list(pairs)
    rng = task_rng(seed, task.name)
    units_num, units_den = to_units(task.num, task.den, task.clusters)
    scores = ratio(task.num.sum(axis=0), task.den.sum(axis=0))
    sum_num, sum_den = bootstrap_sums(units_num, units_den, n_resamples, rng)
    reps = ratio(sum_num, sum_den)
    low, high = percentile_interval(reps, level)
    a_idx, b_idx = _pair_index(pairs)
    diff = scores[a_idx] - scores[b_idx]
    lattice = (
        task.n_items if task.binary and task.clusters is None and (task.den == 1).all() else None
    )
    d_low, d_high, p_boot = paired_bootstrap(
        sum_num, sum_den, scores, pairs, level, lattice=lattice
    )
    disc = None
    if task.binary:
        disc = discordant(task.num, pairs)
        test, p_value = "mcnemar", mcnemar_exact(*disc)
    else:
        test = "permutation"
        p_value = permutation_p(units_num, units_den, pairs, n_permutations, rng)
    se_iid = paired_se(task.num, task.den, pairs)
    se_cl, n_clusters = None, None
    if task.clusters is not None:
        n_clusters = len(np.unique(task.clusters))
        se_cl = paired_se(task.num, task.den, pairs, task.clusters)
    se_for_mde = se_cl if se_cl is not None else se_iid
    return TaskStats(
        name=task.name,
        pairs=pairs,
        scores=scores,
        score_low=low,
        score_high=high,
        replicates=reps,
        diff=diff,
        diff_low=d_low,
        diff_high=d_high,
        p_bootstrap=p_boot,
        test=test,
        p_value=np.asarray(p_value, float),
        se_iid=se_iid,
        se_cluster=se_cl,
        n_clusters=n_clusters,
        mde=mde(se_for_mde, alpha, power),
        discordant=disc,
    )


def bca_diff_interval(
    num: np.ndarray,
    den: np.ndarray,
    level: float = 0.95,
    n_resamples: int = 9_999,
    seed: int = 0,
) -> tuple[float, float] | tuple[None, None]:
    """BCa bootstrap interval (scipy) of score A - score B over paired items (ratio of sums;
    ``num``/``den`` are (items, 2)). For small n, where percentile intervals are too narrow.

    None, None where BCa is undefined, decided before scipy is asked: the jackknife values
    are all equal (no single item moves the difference, so the acceleration is 0/0), or every
    bootstrap replicate falls on one side of the estimate (the bias correction is infinite).
    """
    from scipy.stats import bootstrap

    def statistic(na, da, nb, db, axis=-1):
        return ratio(na.sum(axis), da.sum(axis)) - ratio(nb.sum(axis), db.sum(axis))

    data = (num[:, 0], den[:, 0], num[:, 1], den[:, 1])
    d = float(statistic(*data))
    for_each = num[:, 0] / np.where(den[:, 0] > 0, den[:, 0], 1)
    other = num[:, 1] / np.where(den[:, 1] > 0, den[:, 1], 1)
    if np.unique(for_each - other).size == 1 and np.unique(den).size == 1:
        return d, d  # every item differs by the same amount: every resample gives d
    totals = [x.sum() for x in data]
    leave_one_out = ratio(totals[0] - data[0], totals[1] - data[1]) - ratio(
        totals[2] - data[2], totals[3] - data[3]
    )
    if np.ptp(leave_one_out) <= 1e-12 * max(1.0, float(np.abs(leave_one_out).max())):
        return None, None
    common = dict(paired=True, vectorized=True, confidence_level=level)
    rng = np.random.default_rng(seed)
    plain = bootstrap(
        data, statistic, n_resamples=n_resamples, method="percentile", rng=rng, **common
    )
    below = float(np.mean(plain.bootstrap_distribution < d))
    if below in (0.0, 1.0):
        return None, None
    res = bootstrap(
        data, statistic, n_resamples=0, method="BCa", bootstrap_result=plain, rng=rng, **common
    )
    low, high = (float(x) for x in res.confidence_interval)
    if not (np.isfinite(low) and np.isfinite(high)):
        return None, None
    return low, high


def degenerate(replicates: np.ndarray, min_distinct: int = 10) -> bool:
    """Whether a bootstrap distribution is too coarse to give a p-value (fewer than
    ``min_distinct`` distinct replicate values, e.g. three items)."""
    return int(np.unique(np.round(replicates, 12)).size) < min_distinct


def score_interval(
    num: np.ndarray,
    den: np.ndarray,
    name: str,
    *,
    clusters: np.ndarray | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(score, low, high) of one model on one task: percentile bootstrap over units."""
    units_num, units_den = to_units(num, den, clusters)
    reps = bootstrap_ratios(
        units_num[:, None], units_den[:, None], n_resamples, task_rng(seed, name)
    )
    low, high = percentile_interval(reps[:, 0], level)
    return float(ratio(np.sum(num), np.sum(den))), float(low), float(high)
