"""Vision-language models as data: one :class:`ModelSpec` per model, the same code for the whole family.

    IDEFICS2_8B     HuggingFaceM4/idefics2-8b            the default; a GPU with about 20 GB in bf16
    IDEFICS3_8B     HuggingFaceM4/Idefics3-8B-Llama3     its successor (Llama 3 text model)
    SMOLVLM_256M    HuggingFaceTB/SmolVLM-256M-Instruct  Idefics3 architecture, small enough for a CPU

A local folder gets the spec of its family (read from ``config.json``'s ``model_type``) with its own path.
Derive variants with ``model_copy(update=...)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["IDEFICS2_8B", "IDEFICS3_8B", "SMOLVLM_256M", "SPECS", "ModelSpec", "spec_for"]


class ModelSpec(BaseModel):
    """What docagent needs to know about a vision-language checkpoint to drive it well."""

    model_config = ConfigDict(frozen=True)

    repo_id: str
    """Hub id or local folder."""

    family: Literal["idefics2", "idefics3"]
    """Architecture family; decides template quirks and how the processor expands images."""

    gpu_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    """Weights dtype on a GPU. On a CPU models run in float32 (bf16 matmuls are slow without AMX)."""

    image_tokens: tuple[str, ...] = ("<image>", "<fake_token_around_image>")
    """Placeholder tokens the model must never write (they become ``bad_words_ids``)."""

    stop_strings: tuple[str, ...] = ("<end_of_utterance>",)
    """End-of-turn markers: generation stops on them and they never reach the answer."""

    image_seq_len: int = 64
    """Visual tokens per image (or per crop when splitting)."""

    do_image_splitting: bool | None = None
    """Split each image into crops plus a downscaled whole: several times the visual tokens, finer text.
    ``None`` keeps what the checkpoint's processor was saved with."""

    system_prompt: Literal["role", "fold"] = "fold"
    """``fold``: system text goes at the start of the first user turn (Idefics2 was not trained with a
    system role); ``role``: the template renders a ``System:`` turn."""

    needs_gpu: bool = True
    """Too big to be useful on a CPU: loading without a GPU is refused unless a CPU is asked for explicitly."""

    weights_gb: float | None = None
    """Size of the weights in the GPU dtype, for error messages and memory planning."""


IDEFICS2_8B = ModelSpec(
    repo_id="HuggingFaceM4/idefics2-8b",
    family="idefics2",
    image_seq_len=64,
    do_image_splitting=True,  # 320 visual tokens a page; DocVQA 74.0 vs 67.3 without (model card)
    weights_gb=16.2,
)
IDEFICS3_8B = ModelSpec(
    repo_id="HuggingFaceM4/Idefics3-8B-Llama3",
    family="idefics3",
    image_tokens=("<image>", "<fake_token_around_image>", "<global-img>"),
    image_seq_len=169,
    system_prompt="role",
    weights_gb=17.0,
)
SMOLVLM_256M = IDEFICS3_8B.model_copy(
    update={"repo_id": "HuggingFaceTB/SmolVLM-256M-Instruct", "image_seq_len": 64, "needs_gpu": False, "weights_gb": 0.5}
)

SPECS: dict[str, ModelSpec] = {s.repo_id.lower(): s for s in (IDEFICS2_8B, IDEFICS3_8B, SMOLVLM_256M)}
_FAMILY = {"idefics2": IDEFICS2_8B, "idefics3": IDEFICS3_8B, "smolvlm": SMOLVLM_256M}


def spec_for(model: str) -> ModelSpec:
    """The spec of a known Hub id, or of a local checkpoint's family (``config.json``), or Idefics2's."""
    known = SPECS.get(model.lower())
    if known is not None:
        return known
    config = Path(model).expanduser() / "config.json"
    if config.is_file():
        model_type = str(json.loads(config.read_text()).get("model_type", "")).lower()
        base = _FAMILY.get(model_type, IDEFICS2_8B)
        size_gb = sum(f.stat().st_size for f in config.parent.glob("*.safetensors")) / 1e9
        return base.model_copy(
            update={"repo_id": str(config.parent), "do_image_splitting": None, "needs_gpu": size_gb > 4.0,
                    "weights_gb": round(size_gb, 2)}
        )
    return IDEFICS2_8B.model_copy(update={"repo_id": model})
