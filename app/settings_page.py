"""Settings: the model, how many pages to read, image splitting, the store; the GPU and the model's state."""

from __future__ import annotations

import streamlit as st

from app.ui import SPLITTING, Context, as_text
from docagent.doctor import run_checks
from docagent.models.resolve import model_state


def render(ctx: Context) -> None:
    st.header("Settings")
    config = st.session_state["config"]
    with st.form("settings"):
        model = st.text_input("Vision-language model", value=ctx.settings.vlm_model,
                              help="A Hub id (HuggingFaceM4/idefics2-8b), a local folder, or a server URL "
                                   "(http://host:8080/v1, TGI or vLLM)")
        k = st.slider("Pages to read per question", 1, 8, ctx.k)
        splitting = st.radio("Image splitting (finer crops for small print)", list(SPLITTING),
                             index=list(SPLITTING).index(config["splitting"]), horizontal=True,
                             help="auto: for one or two pages, not for more")
        store = st.text_input("Store location", value=str(ctx.settings.store))
        if st.form_submit_button("Save"):
            config.update(model=model.strip(), k=k, splitting=splitting, store=store.strip())
            st.session_state.pop("history", None)
            st.success("Saved.")
    st.subheader("This machine")
    if ctx.llm is not None:
        state, detail = "loaded", f"{type(ctx.llm).__name__} (given to the app)"
    else:
        state, detail = model_state(ctx.settings.vlm_model)
    rows = [{"check": "model", "ok": "✓" if state == "loaded" else "✗" if state == "failed" else "…",
             "detail": f"{ctx.settings.vlm_model}: {state} ({detail})", "fix": ""}]
    rows += [{"check": c.name, "ok": "✓" if c.ok else "✗", "detail": c.detail, "fix": c.fix}
             for c in run_checks(ctx.settings)]
    st.dataframe(rows, hide_index=True, use_container_width=True)
    st.caption(as_text(f"Store: {ctx.settings.store}"))
