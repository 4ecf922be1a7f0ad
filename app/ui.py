"""What the pages share: the session's settings, the chat model, text-only rendering, evidence views."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from docagent.config import Settings
from docagent.errors import ModelError
from docagent.types import Citation

SPLITTING = {"auto": None, "on": True, "off": False}
LOW_CONFIDENCE = 0.5


@dataclass
class Context:
    settings: Settings
    llm: Any
    """A chat model put in ``st.session_state["llm"]`` by whoever embeds the app (tests: a scripted one);
    None: ``settings.vlm_model`` is loaded on first need."""
    k: int
    splitting: bool | None
    max_upload_mb: float


def context() -> Context:
    """The session's configuration (Settings page), over the DOCAGENT_* environment."""
    config = st.session_state.setdefault("config", {
        "k": 4, "splitting": "auto", "max_upload_mb": float(os.environ.get("DOCAGENT_APP_MAX_UPLOAD_MB", "50"))})
    base = Settings()
    update: dict[str, Any] = {}
    if config.get("store"):
        update["store"] = Path(config["store"]).expanduser()
    if config.get("model"):
        update["vlm_model"] = config["model"]
    return Context(base.model_copy(update=update), st.session_state.get("llm"), int(config["k"]),
                   SPLITTING[config["splitting"]], float(config["max_upload_mb"]))


def chat_model(ctx: Context) -> tuple[Any, str]:
    """``(chat model, "")`` or ``(None, why none is available)``; a model loads once per process."""
    if ctx.llm is not None:
        return ctx.llm, ""
    from docagent.models.resolve import loaded_chat_model

    try:
        with st.spinner(f"Loading {ctx.settings.vlm_model} ..."):
            return loaded_chat_model(ctx.settings.vlm_model), ""
    except ModelError as e:
        return None, " ".join(str(e).split())


def no_model_banner(reason: str, what: str) -> None:
    st.warning(
        f"**No vision-language model is available**, so {what}.\n\n"
        f"Why: {as_text(reason)}\n\n"
        "To enable one, open **Settings** and set the model to a local folder with Idefics2 weights, a Hub id "
        "(on a machine with a GPU; downloaded once when online), or a model server such as "
        "`http://host:8080/v1` (TGI or vLLM).", icon="⚠️")


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:/@])")


def as_text(text: str) -> str:
    """``text`` for ``st.markdown`` shown literally: markdown syntax escaped, bare URLs and addresses not
    turned into links (HTML is never rendered)."""
    return _MARKDOWN.sub(r"\\\1", text)


def show_citations(citations: list[Citation], key: str) -> None:
    """Thumbnails of the cited pages around their evidence boxes; each opens its full page below them."""
    from docagent.tasks.qa import evidence_image

    shown = [c for c in citations if c.image is not None and Path(c.image).exists()]
    for row in range(0, len(shown), 3):
        for column, (i, c) in zip(st.columns(3), list(enumerate(shown))[row: row + 3], strict=False):
            with column:
                st.image(_around_evidence(evidence_image(c), c.boxes), caption=f"{c.doc} · page {c.page}")
                if st.button("Open the page", key=f"{key}:{i}"):
                    st.session_state["opened"] = f"{key}:{i}"
    opened = st.session_state.get("opened", "")
    if opened.startswith(f"{key}:"):
        c = shown[int(opened.rsplit(":", 1)[1])]
        st.image(evidence_image(c), caption=f"{c.doc} · page {c.page} · {len(c.boxes)} evidence boxes",
                 use_container_width=True)


def _around_evidence(image: Any, boxes: list[tuple[int, int, int, int]]) -> Any:
    """A 2:1 thumbnail of the part of the page that holds the evidence (the page's top when there is no
    box): the boxes with a margin, at least half the page wide, so every thumbnail lines up."""
    width, height = image.size
    x0, y0, x1, y1 = ((min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                       max(b[3] for b in boxes)) if boxes else (0, 0, width, height // 6))
    margin = width // 16
    w = min(width, max(x1 - x0 + 2 * margin, width // 2))
    h = min(height, w // 2)
    left = max(0, min((x0 + x1) // 2 - w // 2, width - w))
    top = max(0, min((y0 + y1) // 2 - h // 2, height - h))
    thumb = image.crop((left, top, left + w, top + h))
    thumb.thumbnail((480, 240))
    return thumb
