"""What every task works with: the settings, the page store and the chat model, in one object.

    from docagent import Context
    with Context(settings, llm=chat_model) as ctx:       # or Context(settings): the model loads on first need
        docagent.ask("What is the total?", context=ctx)
        docagent.chart(("report.pdf", 2), expression='cell("2019", "Revenue")', context=ctx)

A task is a function over a :class:`Context` (see tests/test_context.py for one written from scratch): it reads
``ctx.store``, calls ``ctx.chat_model()`` only when it needs a model, and checks names with
``ctx.require_document``. The store opens on first use and is closed by the context that opened it (a store
given to the context stays open for its owner); the model loads on first use, once, through
:func:`docagent.models.resolve.loaded_chat_model`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from langchain_core.language_models import BaseChatModel

from docagent.config import Settings
from docagent.errors import ConfigError, ModelError, StoreError
from docagent.index.catalog import DocumentRecord
from docagent.index.store import PageStore

__all__ = ["Context"]

LISTED_DOCUMENTS = 20
"""A missing document's error names at most this many of the documents the store holds."""


class Context:
    """Settings, store and chat model for the tasks (``ask``, ``extract``, ``chart``, the agent's tools).

    ``store``: an open store to use, left open (its owner closes it); else the store of ``settings`` opens on
    first use and :meth:`close` (or leaving the ``with`` block) closes it. ``llm``: any LangChain chat model
    that reads images; else ``model`` (a Hub id, a local folder or a server URL) or ``settings.vlm_model``
    loads the first time a task asks for it.
    """

    def __init__(self, settings: Settings | None = None, *, store: PageStore | None = None,
                 llm: BaseChatModel | None = None, model: str | None = None) -> None:
        self.settings: Settings = settings or (store.settings if store is not None else Settings())
        self.model_name: str = model or self.settings.vlm_model
        """The model loaded when no ``llm`` was given."""
        self._given_store = store
        self._own_store: PageStore | None = None
        self._llm = llm
        self._lock = threading.Lock()

    @classmethod
    @contextmanager
    def of(cls, context: Context | None = None, *, settings: Settings | None = None, store: PageStore | None = None,
           llm: BaseChatModel | None = None, model: str | None = None) -> Iterator[Context]:
        """``context`` itself when given (left as it is), else a context of the other arguments for the ``with``
        block, closed after it: how the public functions take either."""
        if context is None:
            with cls(settings, store=store, llm=llm, model=model) as own:
                yield own
            return
        if any(v is not None for v in (settings, store, llm, model)):
            msg = "give either a context or settings, store, llm and model, not both (the context holds them)"
            raise ConfigError(msg)
        yield context

    # -- the store ---------------------------------------------------------------------------------
    @property
    def store(self) -> PageStore:
        """The page store: the one given, else the store of ``settings``, opened now if it is not yet."""
        if self._given_store is not None:
            return self._given_store
        with self._lock:
            if self._own_store is None:
                self._own_store = PageStore(self.settings)
            return self._own_store

    @property
    def store_open(self) -> bool:
        """Whether this context holds an open store now (one given, or one it opened and has not closed)."""
        return self._given_store is not None or self._own_store is not None

    def close(self) -> None:
        """Close the store this context opened (a given store stays open). The context stays usable: its
        store opens again on next use."""
        with self._lock:
            own, self._own_store = self._own_store, None
        if own is not None:
            own.close()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def require_document(self, name: str, page: int | None = None) -> DocumentRecord:
        """The store's record of document ``name`` (and its page ``page`` exists), else a :class:`StoreError`
        that names the documents the store does hold."""
        rec = self.store.document(name)
        if rec is None:
            names = [d.name for d in self.store.documents()]
            more = len(names) - LISTED_DOCUMENTS
            listed = ", ".join(names[:LISTED_DOCUMENTS]) + (f" and {more} more" if more > 0 else "")
            msg = (f"no document named {name!r}; the indexed documents are: {listed}" if names
                   else "no documents are indexed yet")
            raise StoreError(msg)
        if page is not None and not 1 <= page <= rec.pages:
            msg = f"{name} has {rec.pages} page{'s' if rec.pages != 1 else ''}; page {page} does not exist"
            raise StoreError(msg)
        return rec

    # -- the chat model ----------------------------------------------------------------------------
    @property
    def has_model(self) -> bool:
        """Whether a chat model is at hand without loading one (given, or loaded already)."""
        return self._llm is not None

    def chat_model(self) -> BaseChatModel:
        """The chat model: the one given, else ``model_name`` loaded now (once per process: see
        :func:`docagent.models.resolve.loaded_chat_model`). Raises :class:`ModelError` when it cannot load."""
        if self._llm is None:
            from docagent.models.resolve import loaded_chat_model

            llm = loaded_chat_model(self.model_name)
            with self._lock:
                self._llm = self._llm or llm
        return self._llm

    def chat_model_or_reason(self) -> tuple[BaseChatModel | None, str]:
        """``(chat model, "")``, or ``(None, why none loads)`` in one line."""
        try:
            return self.chat_model(), ""
        except ModelError as e:
            return None, " ".join(str(e).split())
