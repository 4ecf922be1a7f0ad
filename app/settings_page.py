"""Settings: the model, how many pages to read, image splitting (saved with the store); a test of the model;
the store, the GPU and the model's state.

The store is fixed by ``docagent app --store`` (or ``DOCAGENT_STORE``): no visitor can point the app at
another directory. The model can be changed here only on loopback: beyond it the model decides where the
server sends page images and what it fetches, so it is the operator's (``docagent app --model``)."""

from __future__ import annotations

import streamlit as st

from docagent.config import Settings
from docagent.doctor import run_checks
from docagent.models.resolve import model_state, try_chat_model
from docagent_app.ui import (
    SETTINGS_FILE,
    SPLITTING,
    Context,
    as_text,
    model_label,
    save_settings,
    store_label,
    without_server_paths,
)


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
        st.caption(as_text(f"Saved with the store (in {store_label(ctx)}/{SETTINGS_FILE}): every session that "
                           "opens this store starts with them."))
        if st.form_submit_button("Save"):
            values = {"k": k, "splitting": splitting, **({"model": model.strip()} if ctx.local else {})}
            config.update(values)  # the conversation stays (answers already given keep their pages)
            failed = save_settings(Settings(), values)  # Settings(): the environment's model, the one replaced
            if failed:
                st.warning(f"Saved for this session only: they cannot be written to the store ({as_text(failed)}).")
            else:
                st.success("Saved for this store.")
    _test_the_model(ctx)
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


def _test_the_model(ctx: Context) -> None:
    """Load the model (or reach its server) and ask it for one word: OK, or why it cannot be used."""
    if not st.button("Test the model", key="test_model",
                     help="Loads the model, or reaches its server, and asks it for one word"):
        return
    if ctx.llm is not None:
        st.success(as_text(f"The model is {type(ctx.llm).__name__}, given to the app."), icon="✅")
        return
    with st.spinner(f"Trying {as_text(model_label(ctx))} ..."):
        ok, detail = try_chat_model(ctx.settings.vlm_model)
    detail = as_text(without_server_paths(ctx, detail))
    if ok:
        st.success(f"**The model works**: {detail}.", icon="✅")
    else:
        st.error(f"**The model cannot be used**, so answers are retrieval-only. Why: {detail}", icon="❌")
