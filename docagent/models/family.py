"""Model families: the one seam through which docagent finds a chat model for a name, built-in or plugin.

A family is a :class:`ModelFamily` named by an entry point in the ``docagent.chat_models`` group. docagent's
own two register exactly as a plugin would (pyproject.toml)::

    [project.entry-points."docagent.chat_models"]
    idefics2 = "docagent.models.idefics2:FAMILY"                  # Hub ids and local folders (fallback)
    openai-server = "docagent_connectors.openai_server:FAMILY"    # http:// and https:// URLs

Which family serves a name: the specific families first, then the fallback ones, each in entry-point name
order; the first whose ``accepts(name)`` is true. A plugin claims its own names (``toy:...``) and never
needs to outrank Idefics2, which only takes what nobody else claims.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from urllib.parse import urlparse

from langchain_core.language_models import BaseChatModel

from docagent.errors import ConfigError

__all__ = ["GROUP", "ModelFamily", "families", "family_for"]

GROUP = "docagent.chat_models"


@dataclass(frozen=True)
class ModelFamily:
    """A kind of chat model docagent can build from a name (``--model``, ``DOCAGENT_VLM_MODEL``)."""

    name: str
    """Shown in errors."""
    accepts: Callable[[str], bool]
    """Whether this family serves a model name."""
    create: Callable[..., BaseChatModel]
    """``create(name, **kwargs)``: the chat model, cheaply (weights, if any, load on first use)."""
    load: Callable[..., BaseChatModel] | None = None
    """``load(name, **kwargs)``: the chat model with its weights in memory now, so that a missing checkpoint
    fails here and not at the first question. ``None``: ``create`` has nothing to load (a server)."""
    fallback: bool = False
    """Asked only after every specific family declined (Idefics2: any Hub id or folder)."""


def families() -> list[ModelFamily]:
    """The installed families in the order they are asked: specific ones, then fallbacks."""
    found = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        family = ep.load()
        if not isinstance(family, ModelFamily):
            msg = f"entry point {ep.name} = {ep.value!r} in {GROUP} is not a docagent.models.family.ModelFamily"
            raise ConfigError(msg)
        found.append(family)
    return sorted(found, key=lambda f: f.fallback)


def family_for(name: str) -> ModelFamily:
    """The family that serves ``name``; a :class:`ConfigError` saying what to install when none does."""
    installed = families()
    for family in installed:
        if family.accepts(name):
            return family
    scheme = urlparse(name).scheme
    if scheme in ("http", "https"):
        msg = f"no plugin serves {scheme}:// models; install the remote backend: pip install 'docagent[remote]'"
    else:
        known = ", ".join(f.name for f in installed) or "none"
        what = f"{scheme}:// models" if scheme else f"the model {name!r}"
        msg = f"no plugin serves {what}; installed model families: {known}. Install the plugin that provides it"
    raise ConfigError(msg)
