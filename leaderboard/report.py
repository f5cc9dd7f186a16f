"""Render a :class:`~leaderboard.schemas.Comparison` as a self-contained HTML page or Markdown.

Two figures (matplotlib, Agg): a forest plot of the paired differences with their CIs (filled
markers: significant after Holm; grey: both runs at a constant-answer baseline), and bars of
each submission's group scores with 95% CIs. Each run's constant-answer baselines (majority,
first option, random, its most frequent answer) stand next to its scores, and a difference
between two runs that are both at a constant baseline is marked "both at baseline". The
HTML embeds them as base64 PNGs; the Markdown writes them next to itself. Every string that
comes from a submission (model names, labels, notes) is escaped.

Both open with three plain sentences (:func:`opening`) generated from the same tables: the
clearest group difference of the first pair with its CI, the other groups, and how sure the
report is (significant tests, constant baselines, collapsed runs).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from leaderboard import collapse, trivial, verdict
from leaderboard.schemas import Comparison, PairedTest
from tasks import registry

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#1f2328;padding:0 1rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.88rem}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:right}
th{background:#f6f8fa}td.l,th.l{text-align:left}
tr.sig td{background:#eef8f0}tr.base td{color:#6e7781;font-style:italic}
.muted{color:#6e7781}img{max-width:100%}
code{background:#f6f8fa;padding:0 .2rem}
"""


def _display(column: str) -> str:
    for spec in registry.TASKS:
        if spec.name == column:
            return spec.display
    for group in registry.GROUPS:
        if group.name == column:
            return group.display
    return column


def _fmt(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


UNITS = (
    "Scores, differences, standard errors and MDEs in percentage points; a difference is the "
    "gain of B over A (B − A): positive when B is better."
)


def _pt(x: float | None, digits: int = 1, sign: bool = False) -> str:
    """A fraction in percentage points (the unit of the leaderboard's pages and of this report)."""
    if x is None:
        return ""
    return f"{100 * x:+.{digits}f}" if sign else f"{100 * x:.{digits}f}"


def _p(x: float | None) -> str:
    if x is None:
        return ""
    return "<1e-4" if x < 1e-4 else f"{x:.4f}"


def _pair_name(c: Comparison, t: PairedTest) -> str:
    return f"{c.labels[t.a]} − {c.labels[t.b]}"


# --- opening sentences -------------------------------------------------------------------------


def _lead(c: Comparison, t: PairedTest) -> tuple[str, str, float, float, float]:
    """(higher label, lower label, difference, CI low, CI high) of a test, higher minus lower."""
    if t.diff >= 0:
        return c.labels[t.a], c.labels[t.b], t.diff, t.ci_low, t.ci_high
    return c.labels[t.b], c.labels[t.a], -t.diff, -t.ci_high, -t.ci_low


def _verdict(t: PairedTest) -> str:
    if t.significant:
        return f"significant after Holm correction (p = {_p(t.p_holm)})"
    why = "" if t.supported else f"; {t.unsupported_reason}"
    return f"not significant (Holm p = {_p(t.p_holm)}{why})"


def opening(c: Comparison) -> list[str]:
    """Three sentences on the first pair of submissions, from the report's own tables: the
    clearest group difference (smallest Holm p, then largest difference) with its 95% CI, the
    other groups, and how sure the report is."""
    a, b = c.submissions[0], c.submissions[1]
    pair = [t for t in c.tests if (t.a, t.b) == (a, b)]
    groups = sorted(
        (t for t in pair if t.kind == "group"), key=lambda t: (t.p_holm or 1.0, -abs(t.diff))
    )
    tasks = [t for t in pair if t.kind == "task"]
    if groups:
        top = groups[0]
        hi, lo, d, low, high = _lead(c, top)
        unit = top.metric.split()[1] if top.metric.startswith("mean ") else top.metric
        first = (
            f"The clearest difference is on {_display(top.column)}: {hi} scores {d:.3f} {unit} "
            f"above {lo} (95% CI [{low:+.3f}, {high:+.3f}], {top.n_paired} paired items), "
            f"{_verdict(top)}."
        )
        rest = [
            f"{_display(t.column)} {_lead(c, t)[0]} higher by {_lead(c, t)[2]:.3f} "
            f"([{_lead(c, t)[3]:+.3f}, {_lead(c, t)[4]:+.3f}], "
            + ("significant" if t.significant else "not significant")
            + ")"
            for t in groups[1:]
        ]
        second = (
            "On the other groups: " + "; ".join(rest) + "."
            if rest
            else "No other group was compared."
        )
    else:
        first = f"{c.labels[a]} and {c.labels[b]} share no complete group; see the task table."
        second = "No group difference was tested."
    sig = [t for t in tasks if t.significant]
    both = [t for t in tasks if t.both_at_baseline]
    fallen = [s for s in c.scores if s.collapsed and s.submission_id in (a, b)]
    mdes = [t.mde for t in tasks if t.mde > 0]
    spread = f" (minimum detectable effects {min(mdes):.2f}–{max(mdes):.2f})" if mdes else ""
    third = (
        f"{len(sig)} of {len(tasks)} task differences are significant after Holm correction"
        f"{spread}; {len(both)} task(s) have both runs at a constant-answer baseline; "
        + (
            "collapsed (the same answer on every item): "
            + "; ".join(f"{s.label} on {s.collapsed}" for s in fallen)
            if fallen
            else "no run collapsed (the same answer on every item of a task)"
        )
        + "."
    )
    return [first, second, third]


# --- figures -----------------------------------------------------------------------------------


# Forest plot geometry, in inches at the report's 110 dpi: a figure narrow enough (~530 px) that
# a phone-width page (~370 px) shrinks it by no more than ~0.7, with text large enough to stay
# legible there; each test gets its own band: its label (and the difference with its CI, in
# numbers) on a line above its interval, so no column of labels takes half the width.
FOREST_WIDTH_IN = 4.8
_LABEL_PT, _VALUE_PT, _TICK_PT, _TITLE_PT, _NOTE_PT = 12.0, 11.0, 10.5, 13.0, 10.0
_LINE = 1.3 / 72  # inches per point of font size, for one line of text


def _chars(points: float, inches: float) -> int:
    """About how many characters of a ``points`` font fit on ``inches`` (DejaVu Sans)."""
    return max(12, int(inches * 72 / (0.56 * points)))


def forest_png(c: Comparison, *, percent: bool = False, dark: bool = False) -> bytes:
    """Forest plot of the paired differences (``percent``: in percentage points, as the
    leaderboard's tables; else as fractions, as the report's tables). ``dark``: light text on a
    transparent background, for a dark page. See :func:`forest_figure`."""
    return _png(forest_figure(c, percent=percent, dark=dark))


def forest_figure(c: Comparison, *, percent: bool = False, dark: bool = False):
    """The forest plot's matplotlib figure (the caller closes it). Tall rather than wide: one
    band per test with its label and numbers above its interval; the title, the axis caption
    and the key wrap to the figure's width (nothing is clipped)."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    from matplotlib.transforms import blended_transform_factory

    tests = [t for t in c.tests if t.kind == "task"] + [t for t in c.tests if t.kind == "group"]
    scale = 100.0 if percent else 1.0
    digits = 1 if percent else 3
    ink = "#e6edf3" if dark else "#1f2328"
    muted = "#8b949e" if dark else "#6e7781"
    page = "#171614" if dark else "#ffffff"  # behind labels, over the grid: the page colour
    width = FOREST_WIDTH_IN
    side = 0.18
    inner = width - 2 * side
    multi = len({(t.a, t.b) for t in tests}) > 1

    def number(x: float) -> str:
        return f"{scale * x:+.{digits}f}".replace("-", "−")  # the axis' minus sign

    bands = []  # (label lines as (text, points, note?), value text, band top, interval's y)
    y = 0.0
    values = [f"{number(-t.diff)}  [{number(-t.ci_high)}, {number(-t.ci_low)}]" for t in tests]
    # the widest value, in label characters (DejaVu digits and signs are ~0.64 em wide, the
    # label's average character 0.56 em), and a gap of 3: a label never runs into its value
    widest = max((len(v) for v in values), default=0)
    value_chars = int(widest * 0.64 * _VALUE_PT / (0.56 * _LABEL_PT)) + 3
    label_chars = _chars(_LABEL_PT, inner) - value_chars
    note_chars = _chars(_NOTE_PT, inner)
    for t in tests:
        name = _display(t.column) + (" (group)" if t.kind == "group" else "")
        if t.column_b != t.column:
            name += f" vs {_display(t.column_b)}"
        lines = [(line, _LABEL_PT, False) for line in textwrap.wrap(name, label_chars)[:2]]
        notes = textwrap.wrap(_pair_name(c, t), note_chars)[:2] if multi else []
        if t.both_at_baseline:
            notes.append("both at a constant baseline")
        lines = (lines or [("", _LABEL_PT, False)]) + [(n, _NOTE_PT, True) for n in notes]
        value = values[tests.index(t)]
        label_h = sum(points * _LINE for _, points, _ in lines)
        bands.append((lines, value, y + 0.06, y + 0.06 + label_h + 0.13))
        y += 0.06 + label_h + 0.32
    body = max(y, 0.6)

    first = tests[0] if tests else None
    title = ["Gain of B over A (B − A), with 95% CI"]
    if first is not None and not multi:
        title += [f"A: {c.labels[first.a]}", f"B: {c.labels[first.b]}"]
    head = [textwrap.wrap(title[0], _chars(_TITLE_PT, inner))]
    head += [textwrap.wrap(line, _chars(_NOTE_PT + 1, inner)) for line in title[1:]]
    unit = "percentage points" if percent else "difference of the scores as fractions (0–1)"
    caption = textwrap.wrap(f"B − A, {unit}; right of 0: B better", _chars(_LABEL_PT, inner))
    key = textwrap.wrap(
        "● task, ◆ group (mean over its tasks); filled: significant after Holm, hollow: not; "
        "grey: both runs at a constant-answer baseline (they answer one option throughout).",
        _chars(_NOTE_PT, inner),
    )
    ticks_h = 2.2 * _TICK_PT * _LINE
    top = 0.12 + len(head[0]) * _TITLE_PT * _LINE * 1.1
    top += sum(len(h) for h in head[1:]) * (_NOTE_PT + 1) * _LINE + 0.1 + ticks_h
    bottom = ticks_h + len(caption) * _LABEL_PT * _LINE + 0.08 + len(key) * _NOTE_PT * _LINE + 0.12
    height = top + body + bottom

    fig = plt.figure(figsize=(width, height))
    if dark:
        fig.patch.set_alpha(0.0)
    ax = fig.add_axes((side / width, bottom / height, inner / width, body / height))
    ax.set_facecolor("none")
    for spine in ax.spines.values():
        spine.set_color("#8b949e" if dark else "#d0d7de")
    ax.set_ylim(body, 0.0)
    ax.set_yticks([])
    lows = [-scale * t.ci_high for t in tests] + [0.0]
    highs = [-scale * t.ci_low for t in tests] + [0.0]
    span = (max(highs) - min(lows)) or 1.0
    ax.set_xlim(min(lows) - 0.06 * span, max(highs) + 0.06 * span)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.tick_params(axis="x", colors=ink, labelsize=_TICK_PT, top=True, labeltop=True)
    ax.grid(axis="x", alpha=0.35, color=muted)
    ax.axvline(0.0, color=muted, lw=1.2, ls="--")
    across = blended_transform_factory(ax.transAxes, ax.transData)
    box = {"facecolor": page, "edgecolor": "none", "pad": 0.6, "alpha": 0.85}
    for (lines, value, label_y, line_y), t in zip(bands, tests, strict=True):
        color = "#1f6feb" if t.kind == "task" else "#8250df"
        if t.both_at_baseline:
            color = "#8c959f"
        text_color = muted if t.both_at_baseline else ink
        line_y_text = label_y
        for line, points, note in lines:
            ax.text(0.012, line_y_text, line, transform=across, ha="left", va="top",
                    fontsize=points, color=muted if note else text_color, bbox=box,
                    fontweight="bold" if t.significant and not note else "normal")  # fmt: skip
            line_y_text += points * _LINE
        ax.text(0.988, label_y, value, transform=across, ha="right", va="top",
                fontsize=_VALUE_PT, color=text_color, bbox=box)  # fmt: skip
        ax.plot([-scale * t.ci_high, -scale * t.ci_low], [line_y, line_y], color=color, lw=2.2,
                solid_capstyle="butt")  # fmt: skip
        ax.plot([-scale * t.diff], [line_y], marker="o" if t.kind == "task" else "D", ms=8,
                color=color, mfc=color if t.significant else ("none" if dark else "white"),
                mew=1.8)  # fmt: skip

    y_fig = 1.0 - 0.12 / height
    for k, lines in enumerate(head):
        size = _TITLE_PT if k == 0 else _NOTE_PT + 1
        for line in lines:
            fig.text(side / width, y_fig, line, ha="left", va="top", fontsize=size, color=ink,
                     fontweight="bold" if k == 0 else "normal")  # fmt: skip
            y_fig -= size * _LINE * (1.1 if k == 0 else 1.0) / height
    y_fig = (bottom - ticks_h) / height
    for line in caption:
        fig.text(0.5, y_fig, line, ha="center", va="top", fontsize=_LABEL_PT, color=ink)
        y_fig -= _LABEL_PT * _LINE / height
    y_fig -= 0.08 / height
    for line in key:
        fig.text(side / width, y_fig, line, ha="left", va="top", fontsize=_NOTE_PT, color=muted)
        y_fig -= _NOTE_PT * _LINE / height
    return fig


def group_bars_png(c: Comparison) -> bytes:
    """:func:`group_bars_figure` as PNG bytes."""
    return _png(group_bars_figure(c))


def group_bars_figure(c: Comparison):
    """Group scores with 95% CIs in percent, one cluster of bars per category (QA, IE, GEN):
    where a category has both a log-likelihood and a generative group, the generative bars are
    hatched (the GEN category itself is not a variant of anything). Every bar carries its value,
    and a zero score is drawn as a line at 0 (an empty bar would not show)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    specs = {g.name: g for g in registry.GROUPS}
    groups = [s for s in c.scores if s.kind == "group" and s.column in specs]
    categories = list(dict.fromkeys(str(specs[s.column].category) for s in groups))
    subs = list(dict.fromkeys(s.submission_id for s in groups))
    palette = ["#1f6feb", "#fb8500", "#2da44e", "#8250df", "#cf222e", "#6e7781"]
    color = {sid: palette[k % len(palette)] for k, sid in enumerate(subs)}
    fig, ax = plt.subplots(figsize=(max(5.0, 2.4 * len(categories) + 2), 3.8))
    hatched = False
    for x, category in enumerate(categories):
        bars = [s for s in groups if str(specs[s.column].category) == category]
        bars.sort(key=lambda s: (subs.index(s.submission_id), s.column))
        variants = {specs[s.column].variant for s in bars}
        width = 0.8 / max(1, len(bars))
        for k, s in enumerate(bars):
            variant_bar = len(variants) > 1 and specs[s.column].variant is registry.Variant.GEN
            hatched |= variant_bar
            at = x + (k - (len(bars) - 1) / 2) * width
            ax.bar(
                at,
                100 * s.value,
                width,
                yerr=[[100 * (s.value - s.ci_low)], [100 * (s.ci_high - s.value)]],
                capsize=3,
                color=color[s.submission_id],
                hatch="//" if variant_bar else None,
                edgecolor="white",
            )
            if s.value == 0:
                ax.hlines(0.6, at - width / 2, at + width / 2, colors=color[s.submission_id], lw=3)
            ax.text(at, 100 * s.ci_high + 1.5, f"{100 * s.value:.1f}", ha="center", va="bottom",
                    fontsize=7)  # fmt: skip
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels([category.upper() for category in categories], fontsize=9)
    ax.set_ylabel("mean score over the group's tasks, % (95% CI)", fontsize=8)
    ax.set_ylim(0, 110)
    handles = [Patch(color=color[sid], label=c.labels.get(sid, sid)) for sid in subs]
    if hatched:
        handles.append(
            Patch(facecolor="#bbbbbb", hatch="//", edgecolor="white", label="generative variant")
        )
    ax.legend(handles=handles, fontsize=8)
    ax.set_title("Group scores", fontsize=10)
    fig.tight_layout()
    return fig


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, transparent=fig.patch.get_alpha() == 0.0)
    plt.close(fig)
    return buf.getvalue()


# --- tables ------------------------------------------------------------------------------------

TEST_HEADERS = [
    "task", "pair", "metric", "n paired", "A", "B", "B − A", "constant baseline", "95% CI",
    "95% CI (BCa)",
    "p (bootstrap)", "test",
    "p", "p Holm", "p BH", "SE (iid)", "SE (clustered)", "MDE 80%", "unpaired A/B/conflict",
]  # fmt: skip


def baseline_mark(t: PairedTest) -> str:
    """Which side of a task test is at a constant-answer baseline: ``both at baseline``,
    ``A at baseline``, ``B at baseline``, or empty (neither, unknown, or a group test)."""
    if t.kind != "task":
        return ""
    if t.both_at_baseline:
        return "both at baseline"
    if t.at_baseline_a:
        return "A at baseline"
    if t.at_baseline_b:
        return "B at baseline"
    return ""


def _test_cells(c: Comparison, t: PairedTest) -> list[str]:
    test = t.test + (f" (b={t.discordant[0]}, c={t.discordant[1]})" if t.discordant else "")
    clustered = (
        f"{_pt(t.se_cluster, 2)} ({t.n_clusters} clusters)" if t.se_cluster is not None else "—"
    )
    return [
        _display(t.column) + (f" vs {_display(t.column_b)}" if t.column_b != t.column else ""),
        _pair_name(c, t),
        t.metric,
        str(t.n_paired),
        _pt(t.score_a),
        _pt(t.score_b),
        _pt(-t.diff, sign=True),
        baseline_mark(t),
        f"[{_pt(-t.ci_high, sign=True)}, {_pt(-t.ci_low, sign=True)}]",
        f"[{_pt(-t.ci_bca_high, sign=True)}, {_pt(-t.ci_bca_low, sign=True)}]"
        if t.ci_bca_low is not None
        else "—",
        _p(t.p_bootstrap) if t.supported else f"not reported: {t.unsupported_reason}",
        test,
        _p(t.p_value),
        _p(t.p_holm),
        _p(t.p_bh),
        _pt(t.se_iid, 2),
        clustered,
        _pt(t.mde),
        f"{t.n_only_a}/{t.n_only_b}/{t.n_conflicting}",
    ]


SCORE_HEADERS = [
    "task / group", "submission", "metric", "score", "95% CI", "n items", "complete",
    "majority", "first option", "random", "top answer (share)", "p vs top answer", "at baseline",
    "collapsed",
]  # fmt: skip


def _baseline_cells(b) -> list[str]:
    if b is None:
        return ["", "", "", "", "", ""]
    if not b.applicable:
        return ["n/a", "n/a", "n/a", f"(free text) ({b.top_share:.1%})", "", ""]
    top = f"{b.top_answer} ({b.top_share:.1%})" if b.top_answer else ""
    if b.trivial:
        words = trivial.words_text(b)
        top = f"(free text) ({b.top_share:.1%})" + (
            f"; words run / ref / baseline {words}" if words else ""
        )
    flag = "" if b.at_baseline is None else ("yes" if b.at_baseline else "no")
    return [
        _pt(b.majority) + (f" ({b.majority_answer})" if b.majority_answer else ""),
        _pt(b.first_option),
        _pt(b.random),
        top,
        _p(b.p_value) + (f" ({b.test})" if b.test else ""),
        flag,
    ]


def _score_cells(c: Comparison, s) -> list[str]:
    return [
        _display(s.column) + (" (group)" if s.kind == "group" else ""),
        s.label,
        s.metric,
        _pt(s.value),
        f"[{_pt(s.ci_low)}, {_pt(s.ci_high)}]",
        str(s.n_items),
        "yes" if s.complete else "no",
        *_baseline_cells(s.baselines),
        "COLLAPSED" if s.collapsed else "",
    ]


METHODS = [
    "Scores: the registry's primary metric; 95% percentile bootstrap CI over items "
    "({n} resamples, seed {seed}).",
    "Pairing: only items with the same doc_id, doc_hash and prompt_hash in both submissions; "
    "other items are counted (unpaired A/B/conflict), never paired.",
    "Paired difference: paired bootstrap CI, two-sided p = (1 + #|d*−d| ≥ |d|)/(B + 1); "
    "below {bca} paired items also the BCa interval (scipy.stats.bootstrap; '—' where it is "
    "undefined: every leave-one-out difference equal, or every bootstrap replicate on one side "
    "of the estimate). With fewer than "
    "{min_paired} paired items, or a bootstrap distribution of fewer than 10 distinct values, "
    "no bootstrap p is reported and no test is marked significant: the exact test's p stands "
    "alone.",
    "Tests: McNemar's exact test for 0/1 metrics; otherwise an approximate randomisation test "
    "swapping the two systems' outputs per item ({p} permutations, exact when 2^n is smaller).",
    "Corrections: Holm and Benjamini–Hochberg across all task-level tests of this report; "
    "group-level tests (mean over a group's tasks, tasks resampled independently) form a "
    "separate family. Significant = Holm-adjusted p < {alpha}.",
    "SE: linearised standard error of the paired difference (i.i.d.; clustered CR1 when items "
    "carry a cluster id). MDE: (z_(1−α/2) + z_power)·SE at α = {alpha}, power = {power}.",
    "Constant-answer baselines (stored with each submission, leaderboard/baselines.py), on each "
    "run's own items and scored by the suite's task code: majority = the best constant answer "
    "(accuracy: the most frequent gold option; F1: the constant with the highest micro F1), "
    "first option = option 1 throughout, random = a uniform random option (expected accuracy; "
    "for F1 the F1 of the expected summed counts); top answer = the run's most frequent answer "
    "and its share of items. At baseline: a paired test of the run against always giving its "
    "most frequent answer (McNemar exact for accuracy, approximate randomisation for F1) has "
    "p ≥ 0.05. A task difference between two runs that are both at baseline is marked "
    "'both at baseline' (greyed): it compares two ways of answering one option, not two "
    "abilities. Free-text tasks have trivial answers instead (leaderboard/trivial.py), scored "
    "the same way and tested the same way (approximate randomisation against the best one): "
    "HoC all labels and the majority-label set, NER the empty answer (F1 0), generation a "
    "lead-k copy of the input with k fixed on training data; for generation the mean words of "
    "the run's responses, the references and that copy are shown beside ROUGE.",
]


def _methods(c: Comparison) -> list[str]:
    s = c.settings
    return [
        m.format(
            n=s.n_resamples,
            seed=s.seed,
            p=s.n_permutations,
            alpha=s.alpha,
            power=s.power,
            bca=s.bca_below,
            min_paired=s.min_paired,
        )
        for m in METHODS
    ] + [collapse.legend()]


def _subs_rows(c: Comparison) -> list[list[str]]:
    return [[c.labels[sid], sid] for sid in c.submissions]


# --- HTML --------------------------------------------------------------------------------------


def _html_table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(
        f'<th class="l">{html.escape(h)}</th>' if i < 3 else f"<th>{html.escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for k, row in enumerate(rows):
        cls = f' class="{classes[k]}"' if classes and classes[k] else ""
        cells = "".join(
            f'<td class="l">{html.escape(v)}</td>' if i < 3 else f"<td>{html.escape(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _row_class(t: PairedTest) -> str:
    return " ".join(
        name for name, on in (("sig", t.significant), ("base", t.both_at_baseline)) if on
    )


def render_html(c: Comparison) -> str:
    forest = base64.b64encode(forest_png(c, percent=True)).decode("ascii")
    bars = base64.b64encode(group_bars_png(c)).decode("ascii")
    task_tests = [t for t in c.tests if t.kind == "task"]
    group_tests = [t for t in c.tests if t.kind == "group"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>BioInstruct Bench comparison</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>BioInstruct Bench — statistical comparison</h1>",
        "<p>" + " ".join(html.escape(x) for x in opening(c)) + "</p>",
        f"<p class='muted'>created {html.escape(c.created_at.isoformat())}; tasks matched by "
        f"<code>{html.escape(c.match)}</code></p>",
        "<h2>Submissions</h2>",
        _html_table(["label", "submission"], _subs_rows(c)),
        "<h2>Verdict</h2>",
        *(f"<p>{html.escape(line)}</p>" for line in verdict.sentences(c)),
        "<h2>Differences</h2>",
        f"<p class='muted'>{html.escape(UNITS)}</p>",
        f"<img alt='forest plot of paired differences' src='data:image/png;base64,{forest}'>",
        "<h3>Per task</h3>",
        _html_table(
            TEST_HEADERS,
            [_test_cells(c, t) for t in task_tests],
            [_row_class(t) for t in task_tests],
        ),
        "<h3>Per group</h3>",
        _html_table(
            TEST_HEADERS,
            [_test_cells(c, t) for t in group_tests],
            ["sig" if t.significant else "" for t in group_tests],
        ),
        "<h2>Scores</h2>",
        f"<img alt='group scores' src='data:image/png;base64,{bars}'>",
        _html_table(SCORE_HEADERS, [_score_cells(c, s) for s in c.scores]),
        "<h2>Methods</h2><ul>",
        *(f"<li>{html.escape(m)}</li>" for m in _methods(c)),
        "</ul>",
    ]
    if c.notes:
        parts += ["<h2>Notes</h2><ul>", *(f"<li>{html.escape(n)}</li>" for n in c.notes), "</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts)


# --- Markdown ----------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    """Text as literal Markdown: markup characters backslash-escaped, angle brackets as entities."""
    text = text.replace("\\", "\\\\")
    for ch in "`*_[]|#":
        text = text.replace(ch, "\\" + ch)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_escape(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(c: Comparison, image_prefix: str) -> tuple[str, dict[str, bytes]]:
    """Markdown text and the images it references (``<image_prefix>_forest.png`` ...)."""
    images = {
        f"{image_prefix}_forest.png": forest_png(c, percent=True),
        f"{image_prefix}_groups.png": group_bars_png(c),
    }
    forest, bars = list(images)
    task_tests = [t for t in c.tests if t.kind == "task"]
    group_tests = [t for t in c.tests if t.kind == "group"]
    lines = [
        "# BioInstruct Bench — statistical comparison",
        "",
        " ".join(_md_escape(x) for x in opening(c)),
        "",
        f"Created {c.created_at.isoformat()}; tasks matched by `{c.match}`.",
        "",
        "## Submissions",
        "",
        _md_table(["label", "submission"], _subs_rows(c)),
        "",
        "## Verdict",
        "",
        *(f"{_md_escape(line)}\n" for line in verdict.sentences(c)),
        "## Differences",
        "",
        UNITS,
        "",
        f"![forest plot]({Path(forest).name})",
        "",
        "### Per task",
        "",
        _md_table(TEST_HEADERS, [_test_cells(c, t) for t in task_tests]),
        "",
        "### Per group",
        "",
        _md_table(TEST_HEADERS, [_test_cells(c, t) for t in group_tests]),
        "",
        "## Scores",
        "",
        f"![group scores]({Path(bars).name})",
        "",
        _md_table(SCORE_HEADERS, [_score_cells(c, s) for s in c.scores]),
        "",
        "## Methods",
        "",
        *(f"- {_md_escape(m)}" for m in _methods(c)),
    ]
    if c.notes:
        lines += ["", "## Notes", "", *(f"- {_md_escape(n)}" for n in c.notes)]
    return "\n".join(lines) + "\n", images
