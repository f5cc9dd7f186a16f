"""Submit page: how to submit results or request an evaluation, and the request queue."""

import streamlit as st

from leaderboard import views
from leaderboard.schemas import ModelType, Precision
from leaderboard.screens import shared

root, _ = shared.current()

st.title(":material/upload: Submit")
st.markdown(
    """
Two ways onto the leaderboard. Either way the store keeps per-item records **without any
dataset text** (hashes of documents, prompts and targets, the model's filtered answer and the
per-item metric values), every aggregate is recomputed from them before a submission is
accepted, and nothing from a submission is ever executed.
"""
)
st.subheader("1 · Submit results you computed")
st.markdown(
    "Run the suite with `biobench eval` (it logs the per-item samples and the test data's "
    "SHA-256), then validate and store the output folder:"
)
st.code(
    "biobench eval --model hf --model_args pretrained=ORG/NAME,revision=SHA \\\n"
    "    --tasks bio_qa,bio_ie,bio_gen --output_path runs/NAME\n"
    "biobench submit runs/NAME --model-id ORG/NAME --revision SHA --precision bfloat16 \\\n"
    "    --license apache-2.0 --model-type instruction-tuned \\\n"
    "    --training-data 'BioInstruct 25k' --contamination-notes 'none known'\n"
    "# or in one go: biobench eval ... --submit",
    language="bash",
)
st.markdown(
    f"Model types: {', '.join(f'`{t.value}`' for t in ModelType)}. "
    f"Precisions: {', '.join(f'`{p.value}`' for p in Precision)}. "
    "A rejected submission leaves the store unchanged and the message names the field or file "
    "to fix; a second run of the same model, revision, precision and suite needs `--replace`."
)
st.subheader("2 · Request an evaluation")
st.markdown(
    "On the evaluation machine, queue a model (hub id or local folder) from the command line; "
    "a worker evaluates queued requests with "
    "`biobench eval`, stores the submission and marks the request FINISHED or FAILED:"
)
st.code(
    "biobench request ORG/NAME --revision main --precision bfloat16 \\\n"
    "    --license apache-2.0 --model-type base\n"
    "biobench worker            # on the evaluation machine",
    language="bash",
)

st.subheader("Request an evaluation here")
st.caption(
    "For models on the Hugging Face hub: give the hub id (org/name). The request gets the "
    "same checks as `biobench request` (licence, safetensors weights, no custom code) and "
    f"waits in the queue below; at most {shared.WEB_REQUESTS_PER_HOUR} requests per hour per "
    "visitor. Nothing typed here is rendered as markup."
)
with st.form("request_form", clear_on_submit=False):
    left, right = st.columns(2)
    model = left.text_input("Model (hub id org/name)", key="req_model")
    revision = right.text_input("Revision", value="main", key="req_revision")
    precision = left.selectbox(
        "Precision", ["(from the model)", *[p.value for p in Precision]], key="req_precision"
    )
    model_type = right.selectbox("Model type", [t.value for t in ModelType], key="req_type")
    license_ = left.text_input("Licence (when the model does not declare one)", key="req_license")
    tasks = right.text_input("Tasks or groups", value="bio_qa", key="req_tasks")
    sent = st.form_submit_button("Queue the request", type="primary")
if sent:
    fields = {"model": model, "revision": revision,
              "precision": None if precision.startswith("(") else precision,
              "model_type": model_type, "license": license_, "tasks": tasks}  # fmt: skip
    outcome = shared.file_request(root, fields, shared.visitor())
    if outcome.ok:
        st.success("Queued.", icon=":material/check_circle:")
        if outcome.request is not None:
            st.dataframe(
                views.request_queue([outcome.request]), hide_index=True, width="stretch",
                key="new_request",
            )  # fmt: skip
    else:
        st.error("Not queued:", icon=":material/block:")
    st.code(outcome.message, language=None)
    shared.load_requests.clear()

st.subheader("Request queue")
queue, problems = shared.load_requests(root)
shared.show_problems(problems)
counts = views.request_counts(queue)
for column, (state, n) in zip(st.columns(len(counts)), counts.items(), strict=True):
    column.metric(state, n)
if queue.empty:
    st.info("No evaluation requests yet.")
else:
    st.dataframe(queue, hide_index=True, width="stretch", key="queue")
