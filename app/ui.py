"""What the pages share: the settings (saved with the store), the chat model, the store's state, text-only
rendering, evidence views."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import streamlit as st
from langchain_core.language_models import BaseChatModel

import docagent
from docagent.config import Settings, is_loopback
from docagent.errors import ConfigError, DocagentError, ModelError, StoreError
from docagent.index.store import PageStore
from docagent.types import Citation, page_name
from docagent_app.access import app_password, behind_auth_proxy, check_exposure

SPLITTING = {"auto": None, "on": True, "off": False}
SETTINGS_FILE = "app-settings.json"
"""What the Settings page saved, in the store's directory beside ``catalog.sqlite`` (a name the store's own
layout does not use): the settings belong to the store, so every session that opens it gets them."""


@dataclass
class Context:
    settings: Settings
    """Fixed by ``docagent app`` (``--store``, ``--model``) and the DOCAGENT_* environment; on loopback the
    Settings page may change the model for the session, never the store."""
    llm: BaseChatModel | None
    """A chat model put in ``st.session_state["llm"]`` by whoever embeds the app (tests: a scripted one);
    None: ``settings.vlm_model`` is loaded on first need."""
    k: int
    splitting: bool | None
    max_upload_mb: float
    local: bool
    """The server listens on loopback only, so every visitor is on this machine: server paths may be shown
    and the model changed. Beyond loopback both are the operator's, set on the command line."""


def context() -> Context:
    """The session's configuration: what the Settings page saved for this store, over the DOCAGENT_*
    environment (read once per session)."""
    local = listens_on_loopback()
    base = Settings()
    config = st.session_state.get("config")
    if config is None:
        st.session_state["store_was_new"] = not (base.store / "catalog.sqlite").exists()
        config = {"k": 4, "splitting": "auto",
                  "max_upload_mb": float(os.environ.get("DOCAGENT_APP_MAX_UPLOAD_MB", "50"))}
        config.update(saved_settings(base, local))
        st.session_state["config"] = config
    update: dict[str, Any] = {"vlm_model": config["model"]} if local and config.get("model") else {}
    return Context(base.model_copy(update=update), st.session_state.get("llm"), int(config["k"]),
                   SPLITTING[config["splitting"]], float(config["max_upload_mb"]), local)


def saved_settings(settings: Settings, local: bool) -> dict[str, Any]:
    """What :func:`save_settings` kept for ``settings.store`` that is still valid: pages per question, image
    splitting and (on loopback) the model, while the environment still names the model it replaced (a model
    the operator names later, ``docagent app --model``, wins)."""
    try:
        saved = json.loads((settings.store / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(saved, dict):
        return {}
    kept: dict[str, Any] = {}
    if isinstance(saved.get("k"), int) and 1 <= saved["k"] <= 8:
        kept["k"] = saved["k"]
    if saved.get("splitting") in SPLITTING:
        kept["splitting"] = saved["splitting"]
    if local and isinstance(saved.get("model"), str) and saved["model"] and saved.get("replaces") == settings.vlm_model:
        kept["model"] = saved["model"]
    return kept


def save_settings(settings: Settings, values: dict[str, Any]) -> str:
    """Keep ``values`` (``k``, ``splitting``, ``model``) for the store ``settings`` names, beside what was
    kept before; ``""`` or why they could not be written. ``settings.vlm_model`` is the environment's model,
    the one a saved model replaces."""
    path = settings.store / SETTINGS_FILE
    try:
        before = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        before = {}
    kept = {**(before if isinstance(before, dict) else {}), **values}
    if "model" in values:
        kept["replaces"] = settings.vlm_model
    temporary = path.with_name(f".{SETTINGS_FILE}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(kept, indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        return e.strerror or str(e)
    return ""


def store_notice(ctx: Context) -> bool:
    """Say so when the store is new or holds nothing (a mistyped ``--store`` opens an empty one), or that its
    first documents are being indexed; False when it cannot be opened at all (the reason is shown)."""
    try:
        with PageStore(ctx.settings) as store:
            empty = not store.documents()
            indexing = empty and bool(store.catalog.jobs(1, states=("queued", "running")))
    except DocagentError as e:
        st.error(as_text(without_server_paths(ctx, str(e))))
        return False
    if indexing:  # the first documents are on their way: the store is not what the user should fix
        st.info("**Indexing your first documents**: they appear here as each is done (the **Library** shows "
                "the progress).", icon="⏳")
    elif empty:
        where = as_text(store_label(ctx))
        if st.session_state.get("store_was_new"):
            st.warning(f"**This store is new**: nothing is indexed at {where}. Add documents in the **Library**"
                       + (", or, if your documents are in another store, restart the app with "
                          "`docagent app --store PATH`." if ctx.local else
                          "; if your documents are in another store, ask whoever runs the app."), icon="🆕")
        else:
            st.warning(f"**This store is empty**: nothing is indexed at {where}. Add documents in the **Library**.",
                       icon="📭")
    return True


def plural(n: int, word: str, many: str = "") -> str:
    """``1 page``, ``2 pages``, ``0 pages`` (``many``: the plural when it is not ``word + "s"``)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def listens_on_loopback() -> bool:
    """Whether Streamlit listens on loopback only (``docagent app`` passes ``--host``; an unset address,
    as ``streamlit run`` has by default, means every interface)."""
    return is_loopback(str(st.get_option("server.address") or ""))


def admitted() -> bool:
    """Whether this session may see the app. With ``DOCAGENT_APP_PASSWORD`` set it asks for the password
    first (once per session); beyond loopback with neither a password nor ``--behind-auth-proxy`` it shows
    only what to do."""
    try:
        password = app_password()
    except ConfigError as e:
        st.error(as_text(str(e)))
        return False
    if password is None:
        if listens_on_loopback() or behind_auth_proxy():
            return True
        try:
            check_exposure(str(st.get_option("server.address") or ""), None, False)
        except ConfigError as e:
            st.error(as_text(str(e)))
        return False
    if st.session_state.get("signed_in"):
        return True
    st.header("docagent")
    with st.form("sign_in"):
        given = st.text_input("Password", type="password", key="password")
        if st.form_submit_button("Sign in", type="primary"):
            if secrets.compare_digest(given.strip().encode(), password.encode()):
                st.session_state["signed_in"] = True
                st.rerun()
            time.sleep(1)  # slows guessing
            st.error("Wrong password.")
    return False


def store_label(ctx: Context) -> str:
    """The store as visitors may see it: its path on loopback, its folder's name beyond (no server paths)."""
    return str(ctx.settings.store) if ctx.local else ctx.settings.store.name


def model_label(ctx: Context) -> str:
    """The model as visitors may see it: as set on loopback; beyond, a local folder by its name and a
    server URL without user name or password (a Hub id as it is)."""
    model = ctx.settings.vlm_model
    if ctx.local:
        return model
    url = urlsplit(model)
    if url.scheme in ("http", "https") and url.hostname:
        return urlunsplit(url._replace(netloc=url.netloc.rsplit("@", 1)[-1]))
    if model.startswith(("/", "~", ".")) or Path(model).expanduser().exists():
        return Path(model).name
    return model


def without_server_paths(ctx: Context, text: str) -> str:
    """``text`` (an error message) with the store's path and the model's location as :func:`store_label` and
    :func:`model_label` show them."""
    if ctx.local:
        return text
    for path, label in ((ctx.settings.vlm_model, model_label(ctx)), (str(ctx.settings.store), store_label(ctx))):
        text = text.replace(path, label) if path else text
    return text


def tasks(ctx: Context, llm: BaseChatModel | None = None) -> docagent.Context:
    """The context the page's tasks run in (``with tasks(ctx, llm) as c: docagent.ask(..., context=c)``): the
    session's settings, ``llm`` (else the model given to the app, else ``settings.vlm_model`` on first need),
    the store opened for the block and closed after it."""
    return docagent.Context(ctx.settings, llm=llm or ctx.llm)


def chat_model(ctx: Context) -> tuple[BaseChatModel | None, str]:
    """``(chat model, "")`` or ``(None, why none is available)``; a model loads once per process."""
    if ctx.llm is not None:
        return ctx.llm, ""
    from docagent.models.resolve import loaded_chat_model

    try:
        with st.spinner(f"Loading {as_text(model_label(ctx))} ..."):
            return loaded_chat_model(ctx.settings.vlm_model), ""
    except ModelError as e:
        return None, " ".join(str(e).split())


def no_model_banner(ctx: Context, reason: str, what: str) -> None:
    where = ("open **Settings** and set the model to" if ctx.local else
             "whoever runs the app can start it with `docagent app --model` naming")
    st.warning(
        f"**No vision-language model is available**, so {what}.\n\n"
        f"Why: {as_text(without_server_paths(ctx, reason))}\n\n"
        f"To enable one, {where} a local folder with Idefics2 weights, a Hub id "
        "(on a machine with a GPU; downloaded once when online), or a model server such as "
        "`http://host:8080/v1` (TGI or vLLM).", icon="⚠️")


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:/@])")


def as_text(text: str) -> str:
    """``text`` for ``st.markdown`` shown literally: markdown syntax escaped, bare URLs and addresses not
    turned into links (HTML is never rendered)."""
    return _MARKDOWN.sub(r"\\\1", text)


def show_citations(citations: list[Citation], key: str, doubtful: bool = False) -> None:
    """Thumbnails of the cited pages around their evidence boxes (a possible answer, ``doubtful``, boxed in amber
    rather than green); each opens its page in the page viewer."""
    from docagent.tasks.qa import evidence_image

    shown, drawn = [], []
    for c in citations:
        if c.image is None:
            continue
        try:
            drawn.append(evidence_image(c, doubtful))
        except StoreError:
            continue  # its document was replaced or removed since the answer
        shown.append(c)
    for row in range(0, len(shown), 3):
        for column, (i, c) in zip(st.columns(3), list(enumerate(shown))[row: row + 3], strict=False):
            with column:
                st.image(_around_evidence(drawn[i], c.boxes), caption=as_text(f"{c.doc} · {page_name(c.page, c.page_label)}"))
                if st.button("Open the page", key=f"{key}:{i}"):
                    st.session_state["viewer"] = {"page": c.page, "zoom": ZOOMS[0]}
                    page_viewer(c, drawn[i])


ZOOMS = ("Whole page", "1.5x", "2x", "3x")


@st.dialog("Page viewer", width="large")
def page_viewer(citation: Citation, drawn: Any) -> None:
    """The cited page with its evidence boxes, zoomed around them, and the document's other pages (previous / next)
    as they are; the printed page label beside the page number. Closed by its ✕, Escape or Close."""
    state = st.session_state.setdefault("viewer", {"page": citation.page, "zoom": ZOOMS[0]})
    with PageStore(context().settings) as store:
        version = citation.image.doc_id if citation.image is not None else ""
        rec = store.catalog.document_by_id(version)  # the cited version's pages, not a newer one's
        if rec is None or rec.status != "ready":
            st.warning(as_text(f"{citation.doc} was replaced or removed since this answer; ask again to see it."))
            return
        pages = rec.pages
        number = state["page"] = min(max(1, int(state["page"])), pages)
        back, where, forward, zoom = st.columns([1, 3, 1, 2])
        back.button("◀ Previous", key="viewer:previous", disabled=number <= 1, on_click=_turn, args=(-1,))
        forward.button("Next ▶", key="viewer:next", disabled=number >= pages, on_click=_turn, args=(1,))
        state["zoom"] = zoom.selectbox("Zoom", ZOOMS, index=ZOOMS.index(state["zoom"]), key="viewer:zoom",
                                       label_visibility="collapsed")
        try:
            if number == citation.page:
                image, boxes, label = drawn, citation.boxes, citation.page_label
            else:
                page = store.catalog.page(version, number)
                from PIL import Image

                image = Image.open(io.BytesIO(store.image_bytes(store.image(version, number)))).convert("RGB")
                boxes, label = [], page.label if page is not None else ""
        except StoreError as e:
            st.warning(as_text(f"This page cannot be shown: {e}"))
            return
        where.markdown(as_text(f"{citation.doc} · {page_name(number, label)} of {pages}"))
    factor = {"Whole page": 1.0, "1.5x": 1.5, "2x": 2.0, "3x": 3.0}[state["zoom"]]
    st.image(_zoomed(image, boxes, factor), width="stretch",
             caption=as_text(f"{citation.doc} · {page_name(number, label)}"
                             + (f" · {plural(len(boxes), 'evidence box', 'evidence boxes')}" if boxes else "")))
    if st.button("Close", key="viewer:close"):
        st.session_state.pop("viewer", None)
        st.rerun()


def _turn(by: int) -> None:
    """Previous / next: the page turns before the viewer is drawn again."""
    st.session_state["viewer"]["page"] += by


def _zoomed(image: Any, boxes: list[tuple[int, int, int, int]], factor: float) -> Any:
    """The part of the page ``factor`` times closer, around the evidence (the page's top when there is none)."""
    if factor <= 1:
        return image
    width, height = image.size
    w, h = int(width / factor), int(height / factor)
    cx, cy = ((sum(b[0] + b[2] for b in boxes) / (2 * len(boxes)), sum(b[1] + b[3] for b in boxes) / (2 * len(boxes)))
              if boxes else (width / 2, h / 2))
    left, top = max(0, min(int(cx - w / 2), width - w)), max(0, min(int(cy - h / 2), height - h))
    return image.crop((left, top, left + w, top + h))


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
