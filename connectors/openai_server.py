"""docagent's chat messages against an OpenAI-compatible server: TGI serves Idefics2, vLLM serves Idefics3.

When one GPU is not enough, run the model on a serving engine and point docagent at it::

    # text-generation-inference
    docker run --gpus all -p 8080:80 ghcr.io/huggingface/text-generation-inference \\
        --model-id HuggingFaceM4/idefics2-8b
    # or vLLM
    vllm serve HuggingFaceM4/Idefics3-8B-Llama3 --port 8080

    from docagent_connectors.openai_server import ChatOpenAIServer
    llm = ChatOpenAIServer(base_url="http://localhost:8080/v1", model="HuggingFaceM4/idefics2-8b")

Messages are normalised by the same code as the local model (every LangChain image form, local paths
and PIL images; images travel as PNG data URLs, since the server cannot read this disk). Tools go as
OpenAI ``tools``; structured output as a ``json_schema`` ``response_format`` (the server constrains
decoding) and is validated here again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlparse, urlunparse

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, SecretStr

from docagent.errors import ModelError
from docagent.models.abilities import ModelAbilities
from docagent.models.family import ModelFamily
from docagent.models.messages import to_openai_messages
from docagent.models.structured import structured_output_runnable

__all__ = ["FAMILY", "ChatOpenAIServer", "from_url"]


def from_url(url: str, **kwargs: Any) -> ChatOpenAIServer:
    """``http://host:8080/v1?model=ID`` to a :class:`ChatOpenAIServer` (how :data:`FAMILY` creates one, so
    ``docagent ask --model URL`` works)."""
    parsed = urlparse(url)
    model = parse_qs(parsed.query).get("model", [None])[0]
    base = urlunparse(parsed._replace(query=""))
    if model:
        kwargs.setdefault("model", model)
    return ChatOpenAIServer(base_url=base, **kwargs)


def _usage(usage: Any) -> UsageMetadata | None:
    if usage is None:
        return None
    return UsageMetadata(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                         total_tokens=usage.total_tokens)


def _tool_choice(choice: Any) -> Any:
    if choice in (None, "auto", "none"):
        return choice
    if choice in ("any", "required", True):
        return "required"
    if isinstance(choice, str):
        return {"type": "function", "function": {"name": choice}}
    return choice


class ChatOpenAIServer(BaseChatModel):
    """A vision-language model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Instantiate:
        .. code-block:: python

            llm = ChatOpenAIServer(base_url="http://gpu-box:8080/v1", model="HuggingFaceM4/idefics2-8b")

    Invoke, stream, batch, ``bind_tools`` and ``with_structured_output`` work as with
    :class:`docagent.models.ChatIdefics2`. ``response_metadata`` has ``latency_ms`` (and, when
    streaming, ``first_token_ms``).
    """

    abilities: ClassVar[ModelAbilities] = ModelAbilities(images_per_prompt=None, image_splitting=False, local=False)
    """Images per prompt: the server's limit, unknown here (vLLM takes one unless started with
    ``--limit-mm-per-prompt``). The server decides image splitting (``do_image_splitting`` is accepted and
    dropped). Structured output by ``response_format``, tools as OpenAI ``tools``, token streaming."""

    base_url: str
    """Server URL up to and including ``/v1``."""

    model: str = "tgi"
    """Model name the server expects (TGI accepts any; vLLM wants the served model id)."""

    api_key: SecretStr = Field(default_factory=lambda: SecretStr(os.environ.get("DOCAGENT_OPENAI_API_KEY", "EMPTY")))
    """Bearer token, if the server wants one (``DOCAGENT_OPENAI_API_KEY``)."""

    max_tokens: int = Field(default=512, ge=1)
    """Most tokens to generate per answer."""

    temperature: float = Field(default=0.0, ge=0.0)
    """0 decodes greedily."""

    stop: list[str] | None = None
    """Extra stop strings."""

    timeout: float = 120.0
    """Seconds to wait for a reply."""

    max_retries: int = 2
    """Retries on connection errors, 429 and 5xx (with backoff, by the openai client)."""

    @property
    def _llm_type(self) -> str:
        return "docagent-openai-server"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model, "max_tokens": self.max_tokens,
                "temperature": self.temperature}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai-compatible"
        params["ls_model_name"] = kwargs.get("model", self.model)
        params["ls_max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        return params

    def _client(self) -> Any:
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key.get_secret_value(),
                             timeout=self.timeout, max_retries=self.max_retries)

    def _request(self, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": kwargs.pop("model", self.model),
            "messages": to_openai_messages(messages),
            "max_tokens": kwargs.pop("max_tokens", self.max_tokens),
            "temperature": kwargs.pop("temperature", self.temperature),
        }
        stops = [*(self.stop or []), *(stop or [])]
        if stops:
            request["stop"] = stops
        if kwargs.get("tools"):
            request["tools"] = kwargs.pop("tools")
            choice = _tool_choice(kwargs.pop("tool_choice", None))
            if choice is not None:
                request["tool_choice"] = choice
        kwargs.pop("tool_choice", None)
        if kwargs.get("response_format") is not None:
            request["response_format"] = kwargs.pop("response_format")
        kwargs.pop("do_image_splitting", None)  # the server decides; accepted so code runs on both backends
        request.update(kwargs)
        return request

    @contextlib.contextmanager
    def _failures(self, streaming: bool = False) -> Iterator[None]:
        """The server's failures as ModelError, which callers turn into a retrieval-only answer: unreachable,
        an error status, or (``streaming``) a connection that drops in the middle of an answer."""
        import httpx
        import openai

        try:
            yield
        except (openai.APIError, httpx.HTTPError) as e:
            if streaming:
                msg = f"the model server at {self.base_url} stopped in the middle of an answer ({type(e).__name__}: {e})"
            elif isinstance(e, openai.APIStatusError):
                msg = f"the model server at {self.base_url} answered {e.status_code}: {e.message}"
            elif isinstance(e, (openai.APIConnectionError, httpx.HTTPError)):
                msg = (f"cannot reach the model server at {self.base_url} ({e}); is TGI or vLLM running there? "
                       "Check base_url (it ends in /v1)")
            else:
                msg = f"the model server at {self.base_url} failed ({type(e).__name__}: {e})"
            raise ModelError(msg) from e

    def _call(self, request: dict[str, Any]) -> Any:
        with self._failures():
            return self._client().chat.completions.create(**request)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        start = time.perf_counter()
        response = self._call(self._request(messages, stop, kwargs))
        choice = response.choices[0]
        calls = [
            {"name": c.function.name, "args": json.loads(c.function.arguments or "{}"), "id": c.id, "type": "tool_call"}
            for c in (choice.message.tool_calls or [])
        ]
        message = AIMessage(
            content=choice.message.content or "",
            tool_calls=calls,
            usage_metadata=_usage(response.usage),
            response_metadata={"model_name": response.model, "model_provider": "openai-compatible",
                               "finish_reason": choice.finish_reason,
                               "latency_ms": round((time.perf_counter() - start) * 1000, 2)},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        start = time.perf_counter()
        request = self._request(messages, stop, kwargs)
        request.update(stream=True, stream_options={"include_usage": True})
        first: float | None = None
        finish, model = None, self.model
        for event in self._events(self._call(request)):
            model = event.model or model
            if event.choices:
                delta = event.choices[0].delta
                finish = event.choices[0].finish_reason or finish
                chunks = [tool_call_chunk(name=t.function.name if t.function else None,
                                          args=t.function.arguments if t.function else None,
                                          id=t.id, index=t.index) for t in (delta.tool_calls or [])]
                if delta.content or chunks:
                    first = first or time.perf_counter()
                    if run_manager and delta.content:
                        run_manager.on_llm_new_token(delta.content)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=delta.content or "", tool_call_chunks=chunks))
            if event.usage is not None:
                yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=_usage(event.usage)))
        now = time.perf_counter()
        yield ChatGenerationChunk(message=AIMessageChunk(content="", chunk_position="last", response_metadata={
            "model_name": model, "model_provider": "openai-compatible", "finish_reason": finish,
            "latency_ms": round((now - start) * 1000, 2),
            "first_token_ms": round(((first or now) - start) * 1000, 2)}))

    def _events(self, stream: Any) -> Iterator[Any]:
        try:
            with self._failures(streaming=True):
                yield from stream
        finally:
            stream.close()  # a reader that stopped early hangs up, so the server stops generating too

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | dict[str, Any] | bool | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools as OpenAI ``tools``; ``tool_choice`` ``"any"``/a tool name forces a call."""
        return super().bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def with_structured_output(self, schema: Any, *, include_raw: bool = False,
                               method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
                               **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        """Structured output through the server's ``response_format`` (or tools), validated here."""
        return structured_output_runnable(self, schema, include_raw=include_raw, method=method, **kwargs)


def _is_server_url(name: str) -> bool:
    return urlparse(name).scheme in ("http", "https")


FAMILY = ModelFamily(name="openai-server", accepts=_is_server_url, create=from_url)
"""``http://`` and ``https://`` URLs of OpenAI-compatible servers (TGI, vLLM); nothing to load here."""
