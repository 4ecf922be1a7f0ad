"""Which chat model answers: a name (Hub id, local folder or server URL) to a LangChain chat model.

Server URLs are served by plugins registered under the ``docagent.chat_models`` entry-point group,
keyed by URL scheme; docagent's own ``connectors.openai_server`` registers ``http`` and ``https``
(OpenAI-compatible servers: TGI, vLLM). Anything else is a checkpoint for :class:`ChatIdefics2`.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlparse

from docagent.errors import ConfigError

__all__ = ["chat_model"]


def chat_model(name: str, **kwargs: Any) -> Any:
    """A chat model for ``name``: ``http(s)://host:port/v1[?model=ID]`` or a Hub id / local folder."""
    scheme = urlparse(name).scheme
    if scheme in ("http", "https"):
        for ep in entry_points(group="docagent.chat_models"):
            if ep.name == scheme:
                return ep.load()(name, **kwargs)
        msg = f"no plugin serves {scheme}:// models; install the remote backend: pip install 'docagent[remote]'"
        raise ConfigError(msg)
    from docagent.models.idefics2 import ChatIdefics2

    return ChatIdefics2(model=name, **kwargs)
