"""Chat: questions answered as they stream, citations as page thumbnails with the evidence drawn. The conversation
is kept with the store (``app-chats/<id>.json``), under an id in the page's address (``?chat=``): a reload or a
change of settings keeps it, and another visitor, with another address, does not see it."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import streamlit as st

import docagent
from docagent.index.store import PageStore
from docagent.types import Answer, PageImage
from docagent_app.ui import (
    Context,
    as_text,
    chat_model,
    model_label,
    no_model_banner,
    show_citations,
    tasks,
    without_server_paths,
)


def render(ctx: Context) -> None:
    st.header("Ask your documents")
    llm, reason = chat_model(ctx)
    if llm is None:
        no_model_banner(ctx, reason, "answers are **retrieval-only**: the passages that match best, with their pages "
                                "and the words found on them")
    with PageStore(ctx.settings) as store:  # the answers' page images are read from it, on every run
        history: list[docagent.Answer] = st.session_state.get("history") or load_history(ctx, store)
        st.session_state["history"] = history
        for n, answer in enumerate(history):
            for c in answer.citations:  # bound to this run's store (the one they came with is closed)
                if c.image is not None:
                    c.image = PageImage(c.image.doc_id, c.image.page, store, c.image.file)
            _show(ctx, answer, f"answer{n}")
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

        with tasks(ctx, llm) as task_context:
            answer = docagent.ask(question, context=task_context, k=ctx.k, on_token=on_token,
                                  image_splitting=ctx.splitting)
        box.empty()
        _body(ctx, answer, f"answer{len(history)}")
    history.append(answer)
    save_history(ctx, history)


KEPT = 50
"""Answers a conversation keeps (the oldest go first)."""
_CHAT_ID = re.compile(r"[0-9a-f]{16}")


def _history_file(ctx: Context) -> Path:
    chat = st.query_params.get("chat", "")
    if not _CHAT_ID.fullmatch(chat):
        chat = secrets.token_hex(8)
        st.query_params["chat"] = chat
    return ctx.settings.store / "app-chats" / f"{chat}.json"


def load_history(ctx: Context, store: PageStore) -> list[Answer]:
    """The conversation the page's address names, as kept; empty when there is none (or it cannot be read)."""
    try:
        kept = json.loads(_history_file(ctx).read_text(encoding="utf-8"))
        return [Answer.from_json(a["question"], a["answer"], store, model_reply=a.get("model_reply", ""))
                for a in kept][-KEPT:]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def save_history(ctx: Context, history: list[Answer]) -> None:
    """Keep the conversation with the store (nothing said when the store's folder cannot be written: it stays for
    the session)."""
    path = _history_file(ctx)
    data = [{"question": a.question, "answer": a.to_json(), "model_reply": a.model_reply} for a in history[-KEPT:]]
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        temporary.unlink(missing_ok=True)


def _show(ctx: Context, answer: docagent.Answer, key: str) -> None:
    with st.chat_message("user"):
        st.markdown(as_text(answer.question))
    with st.chat_message("assistant"):
        _body(ctx, answer, key)


_PASSAGE = re.compile(r"\[\d+\] ")  # "[1] invoice.pdf, page 1: ..." in a retrieval-only answer


def _body(ctx: Context, answer: docagent.Answer, key: str) -> None:
    lines = [line for line in answer.text.split("\n") if line.strip()]
    passages = [line for line in lines if _PASSAGE.match(line)]
    if answer.abstained:
        said = " ".join(line for line in lines if not _PASSAGE.match(line) and not line.startswith("Best-matching"))
        why = answer.reason or answer.notice.removeprefix("abstained: ")
        st.info(f"**The documents do not answer this.** {as_text(said)}"
                + (f"  \nWhy: {as_text(without_server_paths(ctx, why))}" if why else ""), icon="🔎")
        if answer.model_reply and answer.mode == "vlm":
            st.caption(f"The model's own words: {as_text(answer.model_reply.strip())}")
        if passages:
            st.markdown("**Closest passages** (they do not answer it):")
    elif answer.mode == "retrieval-only":
        span = answer.answer_span
        if span is not None and span.kind == "computed":  # arithmetic asked in words, over a found table
            st.markdown(f"**Computed without a model:** {as_text(lines[0].removeprefix('Computed without a model: '))}")
            for line in lines[1:]:
                if not _PASSAGE.match(line) and not line.startswith("Best-matching"):
                    st.caption(as_text(line))
        elif span is not None:
            sure = f"confidence {span.confidence:.2f}" if span.confidence is not None else "confidence not measured"
            where = f"{as_text(span.text)} — {as_text(span.doc)}, page {span.page}"
            if span.kind == "sentence":
                st.markdown(f"**Most relevant line** (no value stands out; {sure}): {where}")
            elif span.needs_review:
                st.warning(f"**Possible answer — check it** ({sure}): {where}", icon="🤔")
            else:
                st.markdown(f"**Most likely answer** ({sure}): {where}")
        if passages:
            st.markdown("**Best-matching passages** (no model read them):")
    else:
        st.markdown(as_text(answer.text))
    for line in passages:
        st.markdown(as_text(line))
    _status(ctx, answer)
    show_citations(answer.citations, key, answer.answer_span is not None and answer.answer_span.needs_review)


def _status(ctx: Context, answer: docagent.Answer) -> None:
    """Which model answered, or why none did: beside every answer (a model server can go away mid-session)."""
    if answer.mode == "retrieval-only":
        why = answer.notice.removeprefix("retrieval-only: ") or "no model was used"
        st.warning(f"**Retrieval-only**: no model read these pages. Why: {as_text(without_server_paths(ctx, why))}",
                   icon="⚠️")
        return
    model = type(ctx.llm).__name__ if ctx.llm is not None else model_label(ctx)
    st.caption(as_text(f"Read by the model {model}" + (f"; {answer.notice}" if answer.notice and not answer.abstained
                                                       else "")))
