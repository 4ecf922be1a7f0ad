"""The remote backend against a local OpenAI-compatible server that answers with the tiny Idefics2."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests
from PIL import Image, ImageDraw
from pydantic import BaseModel

from docagent.errors import ModelError
from docagent.models import ChatIdefics2
from docagent.models.abilities import with_image_splitting
from docagent.models.resolve import chat_model
from docagent_connectors.openai_server import ChatOpenAIServer
from tests.conftest import tiny_idefics2_path
from tests.openai_stub import OpenAIStub
from tests.test_chat_standard import RandomWeightsToolArguments

_STUB: list[OpenAIStub] = []


def _stub() -> OpenAIStub:
    if not _STUB:
        _STUB.append(OpenAIStub(ChatIdefics2(model=str(tiny_idefics2_path()), max_tokens=24).load()))
    return _STUB[0]


@pytest.fixture
def stub() -> OpenAIStub:
    server = _stub()
    server.requests.clear()
    return server


@pytest.fixture
def remote(stub: OpenAIStub) -> ChatOpenAIServer:
    return ChatOpenAIServer(base_url=stub.url, model=stub.model_name, max_tokens=24)


def _page_file(tmp_path: Path) -> Path:
    image = Image.new("RGB", (120, 90), "white")
    ImageDraw.Draw(image).rectangle([5, 5, 60, 45], fill="red")
    path = tmp_path / "page.png"
    image.save(path)
    return path


def _ask(path: Path) -> list:
    return [HumanMessage(content=[{"type": "image", "path": str(path)}, {"type": "text", "text": "What is the total?"}])]


def test_remote_answers_what_the_local_model_answers(remote: ChatOpenAIServer, stub: OpenAIStub, tmp_path: Path) -> None:
    messages = _ask(_page_file(tmp_path))
    local = stub.chat.invoke(messages)
    reply = remote.invoke(messages)
    assert reply.content == local.content
    assert reply.usage_metadata == local.usage_metadata
    sent = stub.requests[-1]["messages"][0]["content"]
    assert sent[0]["type"] == "image_url" and sent[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert stub.requests[-1]["max_tokens"] == 24 and stub.requests[-1]["temperature"] == 0
    assert reply.response_metadata["latency_ms"] > 0


def test_a_server_url_is_served_through_its_entry_point(stub: OpenAIStub, tmp_path: Path) -> None:
    """``--model http://host:port/v1?model=ID``: the openai-server family, registered like any plugin."""
    llm = chat_model(f"{stub.url}?model={stub.model_name}", max_tokens=24)
    assert isinstance(llm, ChatOpenAIServer) and (llm.base_url, llm.model) == (stub.url, stub.model_name)
    assert chat_model(stub.url, load=True).model == "tgi"  # a server has nothing to load; TGI takes any name
    messages = _ask(_page_file(tmp_path))
    assert llm.invoke(messages).content == stub.chat.invoke(messages).content
    assert with_image_splitting(llm, True) is llm  # the server decides image splitting: nothing bound


def test_remote_stream_joins_to_the_same_text(remote: ChatOpenAIServer, stub: OpenAIStub, tmp_path: Path) -> None:
    messages = _ask(_page_file(tmp_path))
    whole = remote.invoke(messages)
    chunks = list(remote.stream(messages))
    assert len([c for c in chunks if c.content]) > 1
    joined = chunks[0]
    for c in chunks[1:]:
        joined += c
    assert joined.content == whole.content
    assert joined.usage_metadata["output_tokens"] == whole.usage_metadata["output_tokens"]
    assert joined.response_metadata["first_token_ms"] > 0
    assert stub.requests[-1]["stream"] is True


def get_total(currency: str) -> float:
    """The invoice total in a currency."""
    return 42.0


def test_remote_tool_calls(remote: ChatOpenAIServer, stub: OpenAIStub) -> None:
    llm = remote.model_copy(update={"max_tokens": 100})
    reply = llm.bind_tools([get_total], tool_choice="any").invoke("Total in EUR?")
    assert reply.tool_calls[0]["name"] == "get_total" and set(reply.tool_calls[0]["args"]) == {"currency"}
    assert stub.requests[-1]["tool_choice"] == "required"
    assert stub.requests[-1]["tools"][0]["function"]["name"] == "get_total"
    streamed = list(llm.bind_tools([get_total], tool_choice="get_total").stream("Total?"))
    joined = streamed[0]
    for c in streamed[1:]:
        joined += c
    assert joined.tool_calls[0]["name"] == "get_total"


class Total(BaseModel):
    amount: float
    currency: str


def test_remote_structured_output(remote: ChatOpenAIServer, stub: OpenAIStub) -> None:
    llm = remote.model_copy(update={"max_tokens": 100})
    result = llm.with_structured_output(Total).invoke("Read the total.")
    assert isinstance(result, Total)
    sent = stub.requests[-1]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"]["required"] == ["amount", "currency"]


def test_server_errors_say_what_is_wrong(stub: OpenAIStub) -> None:
    wrong_model = ChatOpenAIServer(base_url=stub.url, model="gpt-17", max_retries=0)
    with pytest.raises(ModelError, match="answered 404.*does not exist"):
        wrong_model.invoke("hi")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = ChatOpenAIServer(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5)
    with pytest.raises(ModelError, match="cannot reach the model server"):
        down.invoke("hi")


class TestChatOpenAIServerIntegration(RandomWeightsToolArguments, ChatModelIntegrationTests):
    """The standard suite over the protocol; image input is covered above with local files."""

    @property
    def chat_model_class(self) -> type[ChatOpenAIServer]:
        return ChatOpenAIServer

    @property
    def chat_model_params(self) -> dict:
        server = _stub()
        return {"base_url": server.url, "model": server.model_name, "max_tokens": 200}  # room for a whole tool call with values in it

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True


def test_the_agent_drives_a_model_behind_a_server(stub: OpenAIStub, tmp_path: Path, embedder) -> None:
    """run_agent with a remote tool-calling model: OpenAI tools and tool_choice over HTTP, calls that parse."""
    from docagent.agents import make_tools, run_agent
    from docagent.index.store import PageStore
    from tests.scripted import scripted
    from tests.test_agents import NAMES, build_library

    remote = ChatOpenAIServer(base_url=stub.url, model=stub.model_name, max_tokens=160)
    with PageStore(build_library(tmp_path), embedder=embedder) as store:
        answer = run_agent("What is the total due on the invoice?", llm=remote, max_steps=1,
                           tools=make_tools(store=store, llm=scripted("7,981.99 EUR [1]")))
    sent = [r for r in stub.requests if r.get("tools")]
    assert sent[0]["tool_choice"] == "required" and sent[-1]["tool_choice"] == "none"
    assert [t["function"]["name"] for t in sent[0]["tools"]] == NAMES
    assert answer.rounds == 1 and answer.steps[0].tool in NAMES and answer.stopped == "step_limit"
    assert not str(answer.steps[0].result).startswith(("invalid arguments", "the call could not be read"))
