"""Idefics2 (and its family) as a LangChain chat model, run locally through transformers."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlparse

from langchain_core.callbacks import CallbackManager, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.load import dumpd
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    convert_to_messages,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    LLMResult,
)
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import get_config_list, run_in_executor
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from docagent.errors import ConfigError, ModelLoadError, ModelOutOfMemoryError
from docagent.models.abilities import ModelAbilities
from docagent.models.constrained import (
    GrammarConstraint,
    closing_token_classes,
    parse_tool_protocol,
    response_format_schema,
    tool_protocol_prompt,
    tool_protocol_schema,
)
from docagent.models.family import ModelFamily
from docagent.models.messages import to_turns
from docagent.models.specs import ModelSpec, spec_for
from docagent.models.structured import structured_output_runnable

__all__ = ["FAMILY", "ChatIdefics2"]

_CALL_KWARGS = ("max_tokens", "min_tokens", "temperature", "do_image_splitting", "response_format", "tools", "tool_choice")


class _Abandoned:
    """A stopping criterion set when nobody reads the stream any longer, so the GPU is free at once."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def set(self) -> None:
        self.event.set()

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _Clock:
    """A no-op logits processor that timestamps decoding steps: its first call ends the prefill."""

    def __init__(self, device: Any) -> None:
        self.sync = getattr(device, "type", str(device)).startswith("cuda")
        self.start = time.perf_counter()
        self.first: float | None = None
        self.steps = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.first is None:
            if self.sync:
                import torch

                torch.cuda.synchronize()
            self.first = time.perf_counter()
        self.steps += 1
        return scores

    def timings(self, generated: int) -> dict[str, float]:
        end = time.perf_counter()
        first = self.first or end
        decode_s = end - first
        rest = max(generated - 1, 0)
        return {
            "prefill_ms": round((first - self.start) * 1000, 2),
            "decode_ms": round(decode_s * 1000, 2),
            "tokens_per_s": round(rest / decode_s, 2) if decode_s > 0 and rest else 0.0,
        }


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _messages(value: LanguageModelInput) -> list[BaseMessage]:
    """A chat model's input (a prompt value, a string, a list of messages or message-likes) as messages."""
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    return convert_to_messages(value)


def _usage(n_in: int, n_out: int) -> UsageMetadata:
    return UsageMetadata(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)


_Prompt = tuple[list[dict[str, Any]], list[Any], dict[str, Any] | None]
"""Chat-template turns, images, and the JSON schema the reply must follow (``None`` for free text)."""


@dataclass
class _Request:
    """One ``generate`` call, built once from prompts (:meth:`ChatIdefics2._request`) for a batch or a stream."""

    inputs: Any
    """What the processor returned (``input_ids``, ``attention_mask``, ``pixel_values`` ...)."""
    gen: dict[str, Any]
    """``generate``'s keyword arguments: the inputs, limits, stops, logits processors."""
    clock: _Clock
    constraint: GrammarConstraint | None
    stops: list[str]

    def input_tokens(self, row: int) -> int:
        return int(self.inputs["attention_mask"][row].sum())


class ChatIdefics2(BaseChatModel):
    """Idefics2, Idefics3 or SmolVLM through transformers, as a LangChain chat model.

    Setup:
        ``pip install docagent``; a CUDA GPU with about 20 GB for Idefics2-8b in bf16 (or
        ``load_in_4bit=True`` with bitsandbytes). Offline, download once with
        ``hf download HuggingFaceM4/idefics2-8b`` or pass a local folder.

    Instantiate:
        .. code-block:: python

            from docagent.models import ChatIdefics2

            llm = ChatIdefics2(model="HuggingFaceM4/idefics2-8b", max_tokens=256)

    Invoke:
        .. code-block:: python

            from langchain_core.messages import HumanMessage

            msg = HumanMessage(content=[
                {"type": "image", "path": "page-3.png"},
                {"type": "text", "text": "What is the invoice total?"},
            ])
            llm.invoke([msg]).content

    Stream:
        .. code-block:: python

            for chunk in llm.stream([msg]):
                print(chunk.content, end="", flush=True)

    Batch (one ``generate`` for up to ``max_batch_size`` prompts, left-padded):
        .. code-block:: python

            llm.batch([[msg], [other_msg]])

    Structured output and tools (constrained decoding: the JSON always parses):
        .. code-block:: python

            class Total(BaseModel):
                amount: float
                currency: str

            llm.with_structured_output(Total).invoke([msg])
            llm.bind_tools([get_weather]).invoke("Weather in Paris?").tool_calls

    The model loads on first use, once. ``response_metadata`` carries ``prefill_ms``, ``decode_ms``
    and ``tokens_per_s``; ``usage_metadata`` the token counts (image tokens included in the input).
    """

    abilities: ClassVar[ModelAbilities] = ModelAbilities(images_per_prompt=None, image_splitting=True)
    """The same for every spec of the family: no image limit of its own (the processor takes any number; the
    context window bounds it: 32k tokens, 64 or 320 per page for Idefics2-8b); ``do_image_splitting`` per
    call (Idefics2 and Idefics3); structured output and tool calls by constrained decoding; token streaming
    (a tool call streams as one chunk)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str = "HuggingFaceM4/idefics2-8b"
    """Hub id or local folder of the checkpoint."""

    spec: ModelSpec | None = None
    """Model spec; derived from ``model`` when unset (see :mod:`docagent.models.specs`)."""

    device: str | None = None
    """``cuda``, ``cuda:1``, ``cpu``. Unset: the first CUDA GPU, else the CPU (refused for GPU-sized models)."""

    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """``auto``: the spec's GPU dtype (bf16) on a GPU, float32 on a CPU."""

    device_map: str | dict[str, Any] | None = None
    """Passed to ``from_pretrained`` (``"auto"`` spreads a model over several GPUs). Unset: the whole model
    loads straight onto ``device``."""

    attn_implementation: str | None = None
    """``sdpa`` by default; ``flash_attention_2`` when the flash-attn package is installed and a GPU is used."""

    load_in_4bit: bool = False
    """Quantise weights to 4 bits with bitsandbytes (about 5 GB for Idefics2-8b)."""

    max_tokens: int = Field(default=512, ge=1)
    """Most tokens to generate per answer."""

    max_seconds: float = Field(default=300.0, gt=0)
    """Most seconds one ``generate`` may run: a shared GPU is never held longer by one request (the answer
    ends where it got to, finish reason ``length``)."""

    temperature: float = Field(default=0.0, ge=0.0)
    """0 decodes greedily (reproducible answers); above 0 samples."""

    stop: list[str] | None = None
    """Extra stop strings (the model's own end-of-turn marker always stops)."""

    do_image_splitting: bool | None = None
    """Split images into crops for finer text (5x the visual tokens). Unset: the spec's choice."""

    max_batch_size: int = Field(default=16, ge=1)
    """Prompts per ``generate`` call in :meth:`batch`."""

    local_files_only: bool | None = None
    """Never reach the Hub. Unset: follows ``HF_HUB_OFFLINE``."""

    _model: Any = PrivateAttr(default=None)
    _processor: Any = PrivateAttr(default=None)
    _ll_tokenizer: Any = PrivateAttr(default=None)
    _closing: Any = PrivateAttr(default=None)
    _special: re.Pattern[str] | None = PrivateAttr(default=None)
    _load_lock: Any = PrivateAttr(default_factory=threading.Lock)
    _processor_lock: Any = PrivateAttr(default_factory=threading.Lock)

    # ----------------------------------------------------------------- loading

    @classmethod
    def from_loaded(cls, model: Any, processor: Any, **kwargs: Any) -> ChatIdefics2:
        """Wrap a model and processor already in memory (a fine-tune, a benchmark's random weights)."""
        chat = cls(model=kwargs.pop("model_name", getattr(model, "name_or_path", "") or "in-memory"), **kwargs)
        chat._model, chat._processor = model, processor
        return chat

    @property
    def resolved_spec(self) -> ModelSpec:
        return self.spec or spec_for(self.model)

    @property
    def _llm_type(self) -> str:
        return f"docagent-{self.resolved_spec.family}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "dtype": self.dtype, "max_tokens": self.max_tokens,
                "temperature": self.temperature, "do_image_splitting": self.do_image_splitting}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "docagent"
        params["ls_model_name"] = kwargs.get("model", self.model)
        params["ls_max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        return params

    def _offline(self) -> bool:
        if self.local_files_only is not None:
            return self.local_files_only
        return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")

    def load(self) -> ChatIdefics2:
        """Load weights and processor now (they load on first use otherwise). Returns ``self``."""
        with self._load_lock:
            if self._model is None:
                self._model, self._processor = self._load()
        return self

    def _load(self) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        spec = self.resolved_spec
        cuda = torch.cuda.is_available()
        device = self.device or ("cuda" if cuda else "cpu")
        on_gpu = device.startswith("cuda")
        if on_gpu and not cuda:
            msg = f"device {device!r} was asked for but torch sees no CUDA GPU; use device='cpu' or a CUDA build of torch"
            raise ModelLoadError(msg)
        if spec.needs_gpu and not on_gpu and self.device is None:
            size = f" (about {spec.weights_gb:g} GB of weights)" if spec.weights_gb else ""
            msg = (
                f"{self.model}{size} needs a CUDA GPU and none is visible. Run on a machine with one, use a model "
                "server (--model http://HOST:PORT/v1 with TGI or vLLM), a CPU-sized model "
                "(--model HuggingFaceTB/SmolVLM-256M-Instruct), or force ChatIdefics2(device='cpu') (very slow)."
            )
            raise ModelLoadError(msg)
        dtype_name = self.dtype if self.dtype != "auto" else (spec.gpu_dtype if on_gpu else "float32")
        kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype_name), "local_files_only": self._offline()}
        attn = self.attn_implementation
        if attn is None:
            attn = "flash_attention_2" if on_gpu and importlib.util.find_spec("flash_attn") else "sdpa"
        kwargs["attn_implementation"] = attn
        if self.load_in_4bit:
            if importlib.util.find_spec("bitsandbytes") is None or not on_gpu:
                msg = ("load_in_4bit needs the bitsandbytes package and a CUDA GPU: `pip install bitsandbytes`, "
                       "or load in bf16 without load_in_4bit")
                raise ModelLoadError(msg)
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = self.device_map if self.device_map is not None else (device if on_gpu else None)
        location = str(Path(self.model).expanduser()) if Path(self.model).expanduser().is_dir() else self.model
        try:
            processor = AutoProcessor.from_pretrained(location, local_files_only=kwargs["local_files_only"])
            model = AutoModelForImageTextToText.from_pretrained(location, **kwargs)
        except (OSError, ValueError) as e:
            if Path(self.model).expanduser().exists() or "/" not in self.model or self.model.startswith((".", "/", "~")):
                msg = f"cannot load a vision-language model from {self.model!r}: {e}"
            elif kwargs["local_files_only"]:
                msg = (f"weights of {self.model} are not on this machine and the Hub is off (HF_HUB_OFFLINE=1). "
                       f"Download them once with `hf download {self.model}` while online, or pass a local folder.")
            else:
                msg = f"cannot download {self.model} ({e}); check the id and your connection, or pass a local folder"
            raise ModelLoadError(msg) from e
        if kwargs["device_map"] is None and on_gpu:
            # transformers decorates .to with functools.wraps, which mypy reads as an unbound function
            model = model.to(device)  # type: ignore[arg-type]
        model.eval()
        processor.tokenizer.padding_side = "left"  # decoder-only: batches pad on the left
        return model, processor

    @property
    def processor(self) -> Any:
        return self.load()._processor

    @property
    def hf_model(self) -> Any:
        return self.load()._model

    def _ll(self) -> Any:
        if self._ll_tokenizer is None:
            import llguidance.hf

            tokenizer = self.processor.tokenizer
            vocab = self.hf_model.get_output_embeddings().weight.shape[0]
            self._ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab, eos_token=self._stop_ids())
        return self._ll_tokenizer

    def _constraint(self, schema: dict[str, Any], batch_size: int, max_new_tokens: int) -> GrammarConstraint:
        vocab = self.hf_model.get_output_embeddings().weight.shape[0]
        if self._closing is None:
            self._closing = closing_token_classes(self.processor.tokenizer, vocab)
        return GrammarConstraint(self._ll(), schema, batch_size, vocab, self._stop_ids(),
                                 max_new_tokens=max_new_tokens, closing_classes=self._closing)

    def _stop_ids(self) -> list[int]:
        tokenizer = self.processor.tokenizer
        ids = [tokenizer.eos_token_id]
        ids += [tokenizer.convert_tokens_to_ids(s) for s in self.resolved_spec.stop_strings]
        return sorted({i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id})

    # -------------------------------------------------------------- generation

    def _prepare(self, messages: Sequence[BaseMessage], kwargs: dict[str, Any]) -> _Prompt:
        """Turns, images and the JSON schema the reply must follow (``None`` for free text)."""
        messages = list(messages)
        schema: dict[str, Any] | None = None
        tools, choice = kwargs.get("tools"), kwargs.get("tool_choice")
        if tools and choice != "none":
            schema = tool_protocol_schema(tools, choice)
            messages.insert(0, SystemMessage(content=tool_protocol_prompt(tools, choice)))
        elif kwargs.get("response_format") is not None:
            schema = response_format_schema(kwargs["response_format"])
            hint = "Reply with one JSON object that follows this JSON schema: " + json.dumps(schema, ensure_ascii=False)
            messages.insert(0, SystemMessage(content=hint))
        turns, images = to_turns(messages, system_prompt=self.resolved_spec.system_prompt)
        pattern = self._special_pattern()
        for turn in turns:  # text is text: a page or question that prints "<image>" or "<end_of_utterance>"
            for part in turn["content"]:  # must not become the model's control tokens
                if part["type"] == "text":
                    part["text"] = pattern.sub(lambda m: m.group(0)[0] + "\u200b" + m.group(0)[1:], part["text"])
        return turns, images, schema

    def _special_pattern(self) -> re.Pattern[str]:
        """The tokenizer's added and special tokens (``<image>``, ``<end_of_utterance>``, ``</s>`` ...) as one regex."""
        if self._special is None:
            tok = self.processor.tokenizer
            found = {t.content for t in tok.added_tokens_decoder.values()} | set(tok.all_special_tokens)
            texts = sorted((t for t in found if len(t) > 1), key=len, reverse=True)
            self._special = re.compile("|".join(map(re.escape, texts)) or r"(?!)")
        return self._special

    def _inputs(self, prompts: list[str], images: list[list[Any]], splitting: bool | None) -> Any:
        processor = self.processor
        image_processor = processor.image_processor
        with self._processor_lock:  # the splitting switch is an attribute: one caller at a time
            before = getattr(image_processor, "do_image_splitting", None)
            if splitting is not None and before is not None:
                image_processor.do_image_splitting = splitting
            try:
                if any(images):
                    return processor(text=prompts, images=images, padding=True, return_tensors="pt")
                return processor(text=prompts, padding=True, return_tensors="pt")
            finally:
                if before is not None:
                    image_processor.do_image_splitting = before

    def _generate_kwargs(self, inputs: Any, kwargs: dict[str, Any], stop: list[str] | None, processors: list[Any],
                         streamer: Any = None) -> dict[str, Any]:
        from transformers import LogitsProcessorList

        model = self.hf_model
        tokenizer = self.processor.tokenizer
        inputs = inputs.to(model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        temperature = kwargs.get("temperature", self.temperature)
        bad = [[i] for i in (tokenizer.convert_tokens_to_ids(t) for t in self.resolved_spec.image_tokens)
               if isinstance(i, int) and i != tokenizer.unk_token_id]
        gen: dict[str, Any] = {
            **inputs,  # every processor output (pixel_attention_mask too) reaches generate
            "max_new_tokens": kwargs.get("max_tokens", self.max_tokens),
            "do_sample": temperature > 0,
            "eos_token_id": self._stop_ids(),
            "pad_token_id": tokenizer.pad_token_id,
            "bad_words_ids": bad or None,
            "logits_processor": LogitsProcessorList(processors),
        }
        if kwargs.get("min_tokens"):  # as in vLLM: no end of turn before this many tokens (benchmarks)
            gen["min_new_tokens"] = kwargs["min_tokens"]
        if temperature > 0:
            gen["temperature"] = temperature
        else:  # greedy: silence sampling settings a checkpoint's generation_config may carry
            gen.update(temperature=None, top_p=None, top_k=None)
        if stop:
            gen["stop_strings"], gen["tokenizer"] = list(stop), tokenizer
        if streamer is not None:
            gen["streamer"] = streamer
        gen["max_time"] = self.max_seconds
        return gen

    def _run_generate(self, gen: dict[str, Any]) -> Any:
        import torch

        try:
            with torch.inference_mode():
                return self.hf_model.generate(**gen)
        except torch.OutOfMemoryError as e:
            msg = ("the GPU ran out of memory while generating: lower max_tokens or the batch size (max_batch_size), "
                   "send fewer or smaller images, set do_image_splitting=False (5x fewer visual tokens), "
                   "or load with load_in_4bit=True")
            raise ModelOutOfMemoryError(msg) from e

    def _stops(self, stop: list[str] | None) -> list[str]:
        return [*(self.stop or []), *(stop or [])]

    def _check(self, kwargs: dict[str, Any]) -> None:
        unknown = set(kwargs) - set(_CALL_KWARGS)
        if unknown:
            msg = f"unsupported argument(s) {sorted(unknown)}; ChatIdefics2 takes {', '.join(_CALL_KWARGS)}"
            raise ConfigError(msg)

    def _complete(self, batch: Sequence[Sequence[BaseMessage]], stop: list[str] | None, **kwargs: Any) -> list[AIMessage]:
        """Answers for a batch of conversations: one ``generate`` call (two when only some have images)."""
        self._check(kwargs)
        prompts = [self._prepare(m, kwargs) for m in batch]
        if len({repr(schema) for _, _, schema in prompts}) > 1:
            msg = "one batch cannot mix different output schemas"
            raise ConfigError(msg)
        with_images = [i for i, (_, images, _) in enumerate(prompts) if images]
        if 0 < len(with_images) < len(prompts):  # the processor wants images for every prompt or for none
            without = [i for i in range(len(prompts)) if i not in set(with_images)]
            answers: dict[int, AIMessage] = {}
            for group in (with_images, without):
                answers.update(zip(group, self._answer([prompts[i] for i in group], stop, kwargs), strict=True))
            return [answers[i] for i in range(len(prompts))]
        return self._answer(prompts, stop, kwargs)

    def _request(self, prompts: list[_Prompt], stop: list[str] | None, kwargs: dict[str, Any],
                 streamer: Any = None) -> _Request:
        """Prompts to one ``generate`` call: chat template, processor, schema constraint, stops, limits."""
        processor = self.processor
        texts = [processor.apply_chat_template(turns, add_generation_prompt=True) for turns, _, _ in prompts]
        inputs = self._inputs(texts, [images for _, images, _ in prompts],
                              kwargs.get("do_image_splitting", self._splitting()))
        clock = _Clock(self.hf_model.device)
        processors: list[Any] = [clock]
        schema = prompts[0][2]
        constraint = None
        if schema is not None:
            constraint = self._constraint(schema, len(prompts), kwargs.get("max_tokens", self.max_tokens))
            processors.append(constraint)
        stops = self._stops(stop)
        gen = self._generate_kwargs(inputs, kwargs, stops, processors, streamer)
        return _Request(inputs=inputs, gen=gen, clock=clock, constraint=constraint, stops=stops)

    def _metadata(self, finish: str, batch_size: int, timings: dict[str, float]) -> dict[str, Any]:
        return {"model_name": self.model, "model_provider": "docagent", "finish_reason": finish,
                "batch_size": batch_size, **timings}

    def _answer(self, prompts: list[_Prompt], stop: list[str] | None, kwargs: dict[str, Any]) -> list[AIMessage]:
        request = self._request(prompts, stop, kwargs)
        output = self._run_generate(request.gen)
        tokenizer = self.processor.tokenizer
        prompt_len = request.inputs["input_ids"].shape[1]
        stop_ids = set(self._stop_ids())
        rows = []
        for row in range(len(prompts)):
            new = output[row, prompt_len:].tolist()
            end = next((i for i, t in enumerate(new) if t in stop_ids), None)
            n_out = len(new) if end is None else end + 1
            while end is None and n_out and new[n_out - 1] == tokenizer.pad_token_id:  # a stop string ended it early
                n_out -= 1
            text, stopped = _cut_at_stop(tokenizer.decode(new[:n_out], skip_special_tokens=True), request.stops)
            rows.append((text, n_out, "stop" if end is not None or stopped else "length"))
        timings = request.clock.timings(max(n for _, n, _ in rows))
        if len(prompts) > 1 and timings["decode_ms"] > 0:
            total_out = sum(n for _, n, _ in rows)
            timings["tokens_per_s"] = round((total_out - len(prompts)) / (timings["decode_ms"] / 1000), 2)
        messages = []
        for row, (text, n_out, finish) in enumerate(rows):
            message = self._message(text, kwargs, request.constraint is not None)
            message.usage_metadata = _usage(request.input_tokens(row), n_out)
            message.response_metadata = self._metadata(finish, len(prompts), timings)
            if request.constraint is not None:
                message.response_metadata["truncated"] = request.constraint.truncated[row]
            messages.append(message)
        return messages

    def _splitting(self) -> bool | None:
        return self.do_image_splitting if self.do_image_splitting is not None else self.resolved_spec.do_image_splitting

    def _message(self, text: str, kwargs: dict[str, Any], constrained: bool) -> AIMessage:
        if constrained and kwargs.get("tools") and kwargs.get("tool_choice") != "none":
            content, calls, invalid = parse_tool_protocol(text)
            return AIMessage(content=content, tool_calls=calls, invalid_tool_calls=invalid)
        return AIMessage(content=text)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._complete([messages], stop, **kwargs)[0])])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        if kwargs.get("tools") and kwargs.get("tool_choice") != "none":
            # a tool call is only meaningful whole: generate it, then hand it over as one chunk
            message = self._complete([messages], stop, **kwargs)[0]
            chunk = AIMessageChunk(
                content=message.content, usage_metadata=message.usage_metadata,
                response_metadata=message.response_metadata, chunk_position="last",
                tool_call_chunks=[{"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"],
                                   "index": i, "type": "tool_call_chunk"} for i, c in enumerate(message.tool_calls)],
            )
            yield ChatGenerationChunk(message=chunk)
            return
        yield from self._stream_text(messages, stop, run_manager, kwargs)

    def _stream_text(self, messages: list[BaseMessage], stop: list[str] | None,
                     run_manager: CallbackManagerForLLMRun | None, kwargs: dict[str, Any]) -> Iterator[ChatGenerationChunk]:
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        self._check(kwargs)
        prompt = self._prepare(messages, kwargs)
        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        request = self._request([prompt], stop, kwargs, streamer)
        abandoned = _Abandoned()
        request.gen["stopping_criteria"] = StoppingCriteriaList([abandoned])
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self._run_generate(request.gen)
            except BaseException as e:  # noqa: BLE001  (surfaced in the caller's thread below)
                failure.append(e)
                streamer.end()

        thread = threading.Thread(target=work, name="docagent-generate", daemon=True)
        thread.start()
        stops = request.stops
        held, stopped = "", False
        longest = max((len(s) for s in stops), default=0)
        try:
            for piece in streamer:
                if stopped:
                    continue  # drain: generate stops on the stop string a token or so later
                held += piece
                text, stopped = _cut_at_stop(held, stops)
                if stopped:
                    emit, held = text, ""
                else:  # hold back what could be the start of a stop string
                    keep = next((k for k in range(min(longest, len(held)), 0, -1)
                                 if any(s.startswith(held[-k:]) for s in stops)), 0)
                    emit, held = held[: len(held) - keep], held[len(held) - keep:]
                if emit:
                    if run_manager:
                        run_manager.on_llm_new_token(emit)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=emit))
        finally:
            abandoned.set()  # the reader stopped early (a client went away): generation ends at the next token
            thread.join()
        if failure:
            raise failure[0]
        if held and not stopped:
            yield ChatGenerationChunk(message=AIMessageChunk(content=held))
        n_out = request.clock.steps
        finish = "stop" if stopped or n_out < request.gen["max_new_tokens"] else "length"
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", chunk_position="last", usage_metadata=_usage(request.input_tokens(0), n_out),
            response_metadata=self._metadata(finish, 1, request.clock.timings(n_out)),
        ))

    # ------------------------------------------------------------------ batch

    def batch(self, inputs: list[LanguageModelInput], config: RunnableConfig | list[RunnableConfig] | None = None,
              *, return_exceptions: bool = False, **kwargs: Any) -> list[AIMessage]:
        """Answer many conversations with one ``generate`` per ``max_batch_size`` of them (left padding).
        Each prompt is its own run for callbacks and tracing, with its own config, as in ``invoke``."""
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        stop = kwargs.pop("stop", None)
        kwargs.pop("ls_structured_output_format", None)
        conversations = [_messages(i) for i in inputs]
        params = {**self.asdict(), "stop": stop, **kwargs}
        serialized = dumpd(self)
        managers = []
        for messages, cfg in zip(conversations, configs, strict=True):
            callbacks = CallbackManager.configure(
                cfg.get("callbacks"), self.callbacks, self.verbose, cfg.get("tags"), self.tags,
                {**(cfg.get("metadata") or {}), **self._get_ls_params(stop=stop, **kwargs)}, self.metadata,
            )
            managers.append(callbacks.on_chat_model_start(
                serialized, [messages], invocation_params=params, options={"stop": stop},
                name=cfg.get("run_name"), run_id=cfg.get("run_id"), batch_size=len(inputs),
            )[0])
        outputs: list[Any] = []  # exceptions too, with return_exceptions (as in Runnable.batch)
        for start in range(0, len(conversations), self.max_batch_size):
            part = slice(start, start + self.max_batch_size)
            try:
                answers = self._complete(conversations[part], stop, **kwargs)
            except Exception as e:
                for manager in managers[part]:
                    manager.on_llm_error(e)
                if not return_exceptions:
                    raise
                outputs.extend([e] * len(conversations[part]))
                continue
            for manager, answer in zip(managers[part], answers, strict=True):
                manager.on_llm_end(LLMResult(generations=[[ChatGeneration(message=answer)]]))
                outputs.append(answer)
        return outputs

    async def abatch(self, inputs: list[LanguageModelInput], config: RunnableConfig | list[RunnableConfig] | None = None,
                     *, return_exceptions: bool = False, **kwargs: Any) -> list[AIMessage]:
        return await run_in_executor(None, lambda: self.batch(inputs, config, return_exceptions=return_exceptions, **kwargs))

    # ------------------------------------------------- tools, structured output

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | dict[str, Any] | bool | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (functions, pydantic models, LangChain tools, OpenAI dicts). The model answers with
        ``tool_calls`` or text; ``tool_choice`` ``"any"``/``"required"``/a tool name forces a call."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is True:
            tool_choice = "any"
        if tool_choice is not None and tool_choice not in ("auto", "any", "required", "none"):
            tool_protocol_schema(formatted, tool_choice)  # fail now, not at the first call
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(self, schema: Any, *, include_raw: bool = False,
                               method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
                               **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        """A runnable whose output follows ``schema`` (a pydantic class, a JSON schema dict or an OpenAI tool):
        decoding is constrained to the schema, then the result is validated against it."""
        return structured_output_runnable(self, schema, include_raw=include_raw, method=method, **kwargs)


def _is_checkpoint(name: str) -> bool:
    """A local path, or a name without a URL scheme (a Hub id); a one-letter scheme is a Windows drive."""
    return len(urlparse(name).scheme) <= 1 or Path(name).expanduser().exists()


def _create(name: str, **kwargs: Any) -> ChatIdefics2:
    return ChatIdefics2(model=name, **kwargs)


def _load(name: str, **kwargs: Any) -> ChatIdefics2:
    return ChatIdefics2(model=name, **kwargs).load()


FAMILY = ModelFamily(name="idefics2", accepts=_is_checkpoint, create=_create, load=_load, fallback=True)
"""Idefics2, Idefics3 and SmolVLM checkpoints: every Hub id and local folder no other family claims."""
