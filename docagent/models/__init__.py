"""Vision-language chat models: the only part of docagent that touches a GPU.

    ChatIdefics2   Idefics2 / Idefics3 / SmolVLM through transformers, as a LangChain chat model
    ModelSpec      what a checkpoint needs (dtype, image tokens, stops, template quirks), as data
    family         ModelFamily: which chat model serves a --model name (entry points, plugins included)
    abilities      ModelAbilities: what a chat model can do, declared as data
    scratch        random-weight Idefics2 builders (with Idefics2's genuine tokenizer) for tests and benchmarks
"""

from docagent.models.idefics2 import ChatIdefics2
from docagent.models.specs import (
    IDEFICS2_8B,
    IDEFICS3_8B,
    SMOLVLM_256M,
    SPECS,
    ModelSpec,
    spec_for,
)

__all__ = ["IDEFICS2_8B", "IDEFICS3_8B", "SMOLVLM_256M", "SPECS", "ChatIdefics2", "ModelSpec", "spec_for"]
