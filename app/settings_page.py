"""Settings: the model, how many pages to read, image splitting; the store, the GPU and the model's state.

The store is fixed by ``docagent app --store`` (or ``DOCAGENT_STORE``): no visitor can point the app at
another directory. The model can be changed here only on loopback: beyond it the model decides where the
server sends page images and what it fetches, so it is the operator's (``docagent app --model``)."""

from __future__ import annotations

import streamlit as st

from app.ui import SPLITTING, Context, as_text, model_label, store_label
from docagent.doctor import run_checks
from docagent.models.resolve import model_state


def render(ctx: Context) -> None:
    st.header("Settings")
    config = st.session_state["config"]
    with st.form("settings"):
        if ctx.local:
            model = st.text_input("Vision-language model", value=ctx.settings.vlm_model,
                                  help="A Hub id (HuggingFaceM4/idefics2-8b), a local folder, or a server URL "
                                       "(http://host:8080/v1, TGI or vLLM)")
        else:
            model = ""
            st.markdown(f"**Vision-language model:** {as_text(model_label(ctx))}  \n"
                        "Set by whoever runs the app (`docagent app --model`).")
        k = st.slider("Pages to read per question", 1, 8, ctx.k)
        splitting = st.radio("Image splitting (finer crops for small print)", list(SPLITTING),
                             index=list(SPLITTING).index(config["splitting"]), horizontal=True,
                             help="auto: for one or two pages, not for more")
        if st.form_submit_button("Save"):
            config.update(k=k, splitting=splitting, **({"model": model.strip()} if ctx.local else {}))
            st.session_state.pop("history", None)
            st.success("Saved.")
    st.markdown(f"**Store:** {as_text(store_label(ctx))}  \nSet by whoever runs the app (`docagent app --store`).")
    st.subheader("This machine")
    if not ctx.local:  # its details name server paths
        st.caption("Shown on loopback only; on the server, `docagent doctor` prints them.")
        return
    if ctx.llm is not None:
        state, detail = "loaded", f"{type(ctx.llm).__name__} (given to the app)"
    else:
        state, detail = model_state(ctx.settings.vlm_model)
    rows = [{"check": "model", "ok": "✓" if state == "loaded" else "✗" if state == "failed" else "…",
             "detail": f"{ctx.settings.vlm_model}: {state} ({detail})", "fix": ""}]
    rows += [{"check": c.name, "ok": "✓" if c.ok else "✗", "detail": c.detail, "fix": c.fix}
             for c in run_checks(ctx.settings)]
    st.dataframe(rows, hide_index=True, use_container_width=True)
