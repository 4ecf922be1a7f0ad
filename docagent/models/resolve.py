"""Which chat model answers: a name (Hub id, local folder, server URL, a plugin's own names) to a LangChain chat model.

Every name goes to the :class:`~docagent.models.family.ModelFamily` that accepts it, found through the
``docagent.chat_models`` entry-point group: docagent's ``docagent_connectors.openai_server`` serves ``http``
and ``https`` URLs (OpenAI-compatible servers: TGI, vLLM), :class:`ChatIdefics2` every Hub id and local
folder no other family claims, and a plugin registers its own family the same way.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from langchain_core.language_models import BaseChatModel

from docagent.errors import ModelError
from docagent.models.family import family_for

__all__ = ["chat_model", "loaded_chat_model", "model_state", "try_chat_model"]


def chat_model(name: str, *, load: bool = False, **kwargs: Any) -> BaseChatModel:
    """A chat model for ``name``: ``http(s)://host:port/v1[?model=ID]``, a Hub id, a local folder, or a
    name a plugin's family claims. ``load=True``: with its weights in memory now (a bad name fails here)."""
    family = family_for(name)
    make = family.load if load and family.load is not None else family.create
    return make(name, **kwargs)


_LOADED: dict[str, BaseChatModel] = {}
_FAILED: dict[str, tuple[float, ModelError]] = {}
_RETRY_AFTER_S = 300.0
_LOCK = threading.Lock()


def loaded_chat_model(name: str) -> BaseChatModel:
    """The chat model for ``name``, loaded once per process and reused by every later call (``ask``,
    ``extract``, ``chart``, the agent's tools, the servers). A failed load raises the same
    :class:`ModelError` again, without retrying, for five minutes."""
    with _LOCK:
        if name in _LOADED:
            return _LOADED[name]
        failed = _FAILED.get(name)
        if failed and time.monotonic() - failed[0] < _RETRY_AFTER_S:
            # a copy: raising the remembered exception itself would add this call's frames to its traceback
            # on every ask, and keep them all alive
            raise copy.copy(failed[1]) from None
        try:
            llm = chat_model(name, load=True)
        except ModelError as e:
            _FAILED[name] = (time.monotonic(), e)
            raise
        _FAILED.pop(name, None)
        _LOADED[name] = llm
        return llm


def model_state(name: str) -> tuple[str, str]:
    """``("loaded" | "failed" | "not loaded", detail)`` for ``name`` in this process, without loading it."""
    with _LOCK:
        if name in _LOADED:
            return "loaded", type(_LOADED[name]).__name__
        if name in _FAILED:
            return "failed", " ".join(str(_FAILED[name][1]).split())
    return "not loaded", "loads on first use"


def try_chat_model(name: str) -> tuple[bool, str]:
    """Whether the chat model ``name`` works now: loaded (a failure remembered from an earlier load is tried
    again) and asked for one word. ``(True, what answered and how fast)`` or ``(False, why not)``; never
    raises (the Settings page's "Test the model")."""
    from langchain_core.messages import HumanMessage

    with _LOCK:
        _FAILED.pop(name, None)
    start = time.perf_counter()
    try:
        llm = loaded_chat_model(name)
        reply = llm.invoke([HumanMessage("Reply with the word OK.")], max_tokens=4)
    except Exception as e:  # noqa: BLE001 - a diagnosis: every failure is its answer
        return False, " ".join(str(e).split()) or type(e).__name__
    text = reply.content if isinstance(reply.content, str) else str(reply.content)
    return True, f"{type(llm).__name__} answered {' '.join(text.split())[:40]!r} in {time.perf_counter() - start:.1f} s"
