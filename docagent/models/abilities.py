"""What a chat model can do, declared as data that tasks read (never ``isinstance`` on a model class).

A model class declares ``abilities: ClassVar[ModelAbilities]``; a LangChain chat model that declares nothing
is taken to have the defaults below (one image per prompt unknown, no image splitting, structured output,
tool calls and streaming through LangChain's own fallbacks).
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

__all__ = ["ModelAbilities", "abilities", "with_image_splitting"]


@dataclass(frozen=True)
class ModelAbilities:
    """A chat model's abilities, as tasks need to know them."""

    images_per_prompt: int | None = None
    """Most page images one prompt may carry; ``None``: no known limit."""
    image_splitting: bool = False
    """Takes ``do_image_splitting=`` per call (fine crops of each image, more visual tokens)."""
    structured_output: bool = True
    """``with_structured_output`` returns schema-valid objects."""
    tool_calling: bool = True
    """``bind_tools`` makes it call tools."""
    streaming: bool = True
    """``stream`` yields tokens as they are generated (not one final chunk)."""
    local: bool = True
    """Generates in this process, on its GPU or CPU: a server lets one generation at a time use it. False for a model
    served elsewhere (TGI, vLLM), whose own batching limits how many run at once."""


DEFAULT = ModelAbilities()


def abilities(llm: BaseChatModel) -> ModelAbilities:
    """The abilities ``llm``'s class declares, else the defaults."""
    declared = getattr(type(llm), "abilities", None)
    return declared if isinstance(declared, ModelAbilities) else DEFAULT


def with_image_splitting(llm: BaseChatModel, splitting: bool) -> Runnable[LanguageModelInput, BaseMessage]:
    """``llm`` set to split images into crops (or not) when it can; unchanged when it cannot."""
    return llm.bind(do_image_splitting=splitting) if abilities(llm).image_splitting else llm
