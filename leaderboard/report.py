"""Render a :class:`~leaderboard.schemas.Comparison` as a self-contained HTML page or Markdown.

Two figures (matplotlib, Agg): a forest plot of the paired differences with their CIs (filled
markers: significant after Holm; grey: both runs at a constant-answer baseline), and bars of
each submission's group scores with 95% CIs. Each run's constant-answer baselines (majority,
first option, random, its most frequent answer) stand next to its scores, and a difference
between two runs that are both at a constant baseline is marked "both at baseline". The
HTML embeds them as base64 PNGs; the Markdown writes them next to itself. Every string that
comes from a submission (model names, labels, notes) is escaped.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

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


def _p(x: float | None) -> str:
    if x is None:
        return ""
    return "<1e-4" if x < 1e-4 else f"{x:.4f}"


def _pair_name(c: Comparison, t: PairedTest) -> str:
    return f"{c.labels[t.a]} − {c.labels[t.b]}"


# --- figures -----------------------------------------------------------------------------------


def forest_png(c: Comparison, *, percent: bool = False, dark: bool = False) -> bytes:
    """Forest plot of the paired differences (``percent``: in percentage points, as the
    leaderboard's tables; else as fractions, as the report's tables). ``dark``: light text on a
    transparent background, for a dark page. The title wraps instead of being clipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = [t for t in c.tests if t.kind == "task"] + [t for t in c.tests if t.kind == "group"]
    height = max(2.5, 0.32 * len(tests) + 1.2)
    import textwrap

    scale = 100.0 if percent else 1.0
    ink = "#e6edf3" if dark else "#1f2328"
    fig, ax = plt.subplots(figsize=(8.5, height + (0.3 if percent else 0.0)))
    if dark:
        fig.patch.set_alpha(0.0)
        ax.set_facecolor("none")
        for spine in ax.spines.values():
            spine.set_color("#8b949e")
        ax.tick_params(colors=ink)
    ys = list(range(len(tests)))[::-1]
    for y, t in zip(ys, tests, strict=True):
        color = "#1f6feb" if t.kind == "task" else "#8250df"
        if t.both_at_baseline:
            color = "#8c959f"
        ax.plot([scale * t.ci_low, scale * t.ci_high], [y, y], color=color, lw=1.6)
        ax.plot(
            [scale * t.diff],
            [y],
            marker="o" if t.kind == "task" else "D",
            ms=6,
            color=color,
            mfc=color if t.significant else ("none" if dark else "white"),
        )
    ax.axvline(0.0, color="#6e7781", lw=1, ls="--")
    multi = len({(t.a, t.b) for t in tests}) > 1
    ax.set_yticks(ys)
    ax.set_yticklabels(
        [
            _display(t.column)
            + (f"  ({_pair_name(c, t)})" if multi else "")
            + ("  [both at baseline]" if t.both_at_baseline else "")
            for t in tests
        ],
        fontsize=8,
    )
    first = tests[0] if tests else None
    title = "Paired difference with 95% CI" + (
        f": {_pair_name(c, first)}" if first is not None and not multi else ""
    )
    ax.set_title("\n".join(textwrap.wrap(title, 90)), fontsize=10, color=ink)
    unit = "percentage points" if percent else "fraction"
    ax.set_xlabel(
        f"difference in score, {unit} (filled: significant after Holm; grey: both at a "
        "constant baseline)",
        fontsize=9,
        color=ink,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def group_bars_png(c: Comparison) -> bytes:
    """Group scores with 95% CIs, one cluster of bars per category (QA, IE, GEN): the log-likelihood
    and generative groups of a category stand side by side (generative bars hatched)."""
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
    for x, category in enumerate(categories):
        bars = [s for s in groups if str(specs[s.column].category) == category]
        bars.sort(key=lambda s: (subs.index(s.submission_id), s.column))
        width = 0.8 / max(1, len(bars))
        for k, s in enumerate(bars):
            generative = specs[s.column].variant is registry.Variant.GEN
            ax.bar(
                x + (k - (len(bars) - 1) / 2) * width,
                s.value,
                width,
                yerr=[[s.value - s.ci_low], [s.ci_high - s.value]],
                capsize=3,
                color=color[s.submission_id],
                hatch="//" if generative else None,
                edgecolor="white",
            )
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels([category.upper() for category in categories], fontsize=9)
    ax.set_ylabel("mean score over the group's tasks (95% CI)", fontsize=8)
    ax.set_ylim(0, 1)
    handles = [Patch(color=color[sid], label=c.labels.get(sid, sid)) for sid in subs]
    handles.append(
        Patch(facecolor="#bbbbbb", hatch="//", edgecolor="white", label="generative variant")
    )
    ax.legend(handles=handles, fontsize=8)
    ax.set_title("Group scores", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, transparent=fig.patch.get_alpha() == 0.0)
    plt.close(fig)
    return buf.getvalue()


# --- tables ------------------------------------------------------------------------------------

TEST_HEADERS = [
    "task", "pair", "metric", "n paired", "A", "B", "A − B", "constant baseline", "95% CI",
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
        f"{_fmt(t.se_cluster, 4)} ({t.n_clusters} clusters)" if t.se_cluster is not None else "—"
    )
    return [
        _display(t.column) + (f" vs {_display(t.column_b)}" if t.column_b != t.column else ""),
        _pair_name(c, t),
        t.metric,
        str(t.n_paired),
        _fmt(t.score_a),
        _fmt(t.score_b),
        f"{t.diff:+.3f}",
        baseline_mark(t),
        f"[{t.ci_low:+.3f}, {t.ci_high:+.3f}]",
        f"[{t.ci_bca_low:+.3f}, {t.ci_bca_high:+.3f}]" if t.ci_bca_low is not None else "—",
        _p(t.p_bootstrap) if t.supported else f"not reported: {t.unsupported_reason}",
        test,
        _p(t.p_value),
        _p(t.p_holm),
        _p(t.p_bh),
        _fmt(t.se_iid, 4),
        clustered,
        _fmt(t.mde, 3),
        f"{t.n_only_a}/{t.n_only_b}/{t.n_conflicting}",
    ]


SCORE_HEADERS = [
    "task / group", "submission", "metric", "score", "95% CI", "n items", "complete",
    "majority", "first option", "random", "top answer (share)", "p vs top answer", "at baseline",
]  # fmt: skip


def _baseline_cells(b) -> list[str]:
    if b is None:
        return ["", "", "", "", "", ""]
    if not b.applicable:
        return ["n/a", "n/a", "n/a", f"(free text) ({b.top_share:.1%})", "", ""]
    top = f"{b.top_answer} ({b.top_share:.1%})" if b.top_answer else ""
    flag = "" if b.at_baseline is None else ("yes" if b.at_baseline else "no")
    return [
        _fmt(b.majority) + (f" ({b.majority_answer})" if b.majority_answer else ""),
        _fmt(b.first_option),
        _fmt(b.random),
        top,
        _p(b.p_value) + (f" ({b.test})" if b.test else ""),
        flag,
    ]


def _score_cells(c: Comparison, s) -> list[str]:
    return [
        _display(s.column) + (" (group)" if s.kind == "group" else ""),
        s.label,
        s.metric,
        _fmt(s.value),
        f"[{s.ci_low:.3f}, {s.ci_high:.3f}]",
        str(s.n_items),
        "yes" if s.complete else "no",
        *_baseline_cells(s.baselines),
    ]


METHODS = [
    "Scores: the registry's primary metric; 95% percentile bootstrap CI over items "
    "({n} resamples, seed {seed}).",
    "Pairing: only items with the same doc_id, doc_hash and prompt_hash in both submissions; "
    "other items are counted (unpaired A/B/conflict), never paired.",
    "Paired difference: paired bootstrap CI, two-sided p = (1 + #|d*−d| ≥ |d|)/(B + 1); "
    "below {bca} paired items also the BCa interval (scipy.stats.bootstrap). With fewer than "
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
    "abilities. Free-text tasks (NER, HoC, generation) have no constant-answer baseline.",
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
    ]


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
    forest = base64.b64encode(forest_png(c)).decode("ascii")
    bars = base64.b64encode(group_bars_png(c)).decode("ascii")
    task_tests = [t for t in c.tests if t.kind == "task"]
    group_tests = [t for t in c.tests if t.kind == "group"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>BioInstruct Bench comparison</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>BioInstruct Bench — statistical comparison</h1>",
        f"<p class='muted'>created {html.escape(c.created_at.isoformat())}; tasks matched by "
        f"<code>{html.escape(c.match)}</code></p>",
        "<h2>Submissions</h2>",
        _html_table(["label", "submission"], _subs_rows(c)),
        "<h2>Differences</h2>",
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
        f"{image_prefix}_forest.png": forest_png(c),
        f"{image_prefix}_groups.png": group_bars_png(c),
    }
    forest, bars = list(images)
    task_tests = [t for t in c.tests if t.kind == "task"]
    group_tests = [t for t in c.tests if t.kind == "group"]
    lines = [
        "# BioInstruct Bench — statistical comparison",
        "",
        f"Created {c.created_at.isoformat()}; tasks matched by `{c.match}`.",
        "",
        "## Submissions",
        "",
        _md_table(["label", "submission"], _subs_rows(c)),
        "",
        "## Differences",
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
