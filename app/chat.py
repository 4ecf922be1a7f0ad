"""Chat: questions answered as they stream, citations as page thumbnails with the evidence drawn."""

from __future__ import annotations

import streamlit as st

import docagent
from app.ui import Context, as_text, chat_model, no_model_banner, show_citations


def render(ctx: Context) -> None:
    st.header("Ask your documents")
    llm, reason = chat_model(ctx)
    if llm is None:
        no_model_banner(ctx, reason, "answers are **retrieval-only**: the passages that match best, with their pages "
                                "and the words found on them")
    history: list[docagent.Answer] = st.session_state.setdefault("history", [])
    for n, answer in enumerate(history):
        _show(answer, f"answer{n}")
    question = st.chat_input("Ask a question about your documents")
    if not question:
        return
    with st.chat_message("user"):
        st.markdown(as_text(question))
    with st.chat_message("assistant"):
        box, pieces = st.empty(), []

        def on_token(piece: str) -> None:
            pieces.append(piece)
            box.markdown(as_text("".join(pieces)))

        answer = docagent.ask(question, settings=ctx.settings, llm=llm, k=ctx.k, on_token=on_token,
                              image_splitting=ctx.splitting)
        box.empty()
        _body(answer, f"answer{len(history)}")
    history.append(answer)


def _show(answer: docagent.Answer, key: str) -> None:
    with st.chat_message("user"):
        st.markdown(as_text(answer.question))
    with st.chat_message("assistant"):
        _body(answer, key)


def _body(answer: docagent.Answer, key: str) -> None:
    if answer.abstained:
        st.info(f"**The documents do not answer this.** {as_text(answer.text)}", icon="🔎")
        if answer.model_reply and answer.mode == "vlm":
            st.caption(f"The model's own words: {as_text(answer.model_reply.strip())}")
    elif answer.mode == "retrieval-only":
        st.markdown("**Best-matching passages** (no model read them):")
        for line in answer.text.split("\n")[1:]:
            st.markdown(as_text(line))
    else:
        st.markdown(as_text(answer.text))
    if answer.notice and not answer.abstained and answer.mode == "vlm":  # retrieval-only: the banner says why
        st.caption(as_text(answer.notice))
    show_citations(answer.citations, key)
