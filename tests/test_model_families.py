"""Model families: a plugin's chat model reaches ``docagent ask --model`` through a real entry point.

The toy plugin is a real installed distribution as far as ``importlib.metadata`` is concerned: a
``toyfamily-0.1.dist-info`` folder (METADATA, entry_points.txt) and its module, on ``sys.path``. It registers
in the ``docagent.chat_models`` group exactly as docagent's own Idefics2 and server families do.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pymupdf
import pytest

from docagent.cli import main
from docagent.errors import ConfigError
from docagent.models.abilities import abilities, with_image_splitting
from docagent.models.family import families, family_for
from docagent.models.resolve import chat_model, loaded_chat_model, model_state

TOY_MODULE = '''
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from docagent.models.abilities import ModelAbilities
from docagent.models.family import ModelFamily


class ToyChat(BaseChatModel):
    """Says how many page images it was shown and what they hold, in a sentence that cites page [1]."""

    abilities: ClassVar[ModelAbilities] = ModelAbilities(images_per_prompt=1, structured_output=False,
                                                         tool_calling=False, streaming=False)
    model: str
    loaded: bool = False

    @property
    def _llm_type(self) -> str:
        return "toy"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        parts = [p for m in messages if isinstance(m.content, list) for p in m.content if isinstance(p, dict)]
        images = sum(p.get("type") in ("image", "image_url") for p in parts)
        text = f"{self.model} saw {images} page image(s): the total is 7,981.99 EUR [1]."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


def create(name: str, **kwargs: Any) -> ToyChat:
    return ToyChat(model=name, **kwargs)


def load(name: str, **kwargs: Any) -> ToyChat:
    return ToyChat(model=name, loaded=True, **kwargs)


FAMILY = ModelFamily(name="toy", accepts=lambda name: name.startswith("toy:"), create=create, load=load)
NOT_A_FAMILY = create
'''


def _install(root: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str) -> None:
    """A distribution ``toyfamily`` with ``entry_points`` and the module ``toy_models``, importable from ``root``."""
    info = root / "toyfamily-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyfamily\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (root / "toy_models.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(root))  # also invalidates importlib's caches, metadata's included


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The toy plugin installed; yields a model name only this test uses (loaded models live per process)."""
    _install(tmp_path / "site", monkeypatch, """
        [docagent.chat_models]
        toy = toy_models:FAMILY
    """)
    yield f"toy:{tmp_path.name}"
    sys.modules.pop("toy_models", None)


def test_a_plugin_family_serves_its_names_and_declares_its_abilities(toy: str) -> None:
    assert [f.name for f in families()][-1] == "idefics2"  # the fallback is asked last
    assert {"toy", "openai-server"} <= {f.name for f in families()}
    assert family_for(toy).name == "toy" and family_for("HuggingFaceM4/idefics2-8b").name == "idefics2"
    llm = chat_model(toy)
    assert type(llm).__name__ == "ToyChat" and llm.model == toy and not llm.loaded
    assert chat_model(toy, load=True).loaded  # loading is the family's to declare, not probed on the model
    assert abilities(llm).streaming is False and abilities(llm).images_per_prompt == 1
    assert with_image_splitting(llm, True) is llm  # no image splitting declared: nothing bound


def test_docagent_ask_answers_with_a_plugin_model(toy: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pdf = tmp_path / "invoice.pdf"
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Invoice 2024-117. Total due: 7,981.99 EUR, payable within 30 days.")
    doc.save(pdf)
    store = str(tmp_path / "store")
    assert main(["index", str(pdf), "--store", store, "-q"]) == 0
    capfd.readouterr()
    assert model_state(toy) == ("not loaded", "loads on first use")
    assert main(["ask", "What is the total due on the invoice?", "--model", toy, "--store", store, "--json"]) == 0
    answer = json.loads(capfd.readouterr().out)
    assert answer["mode"] == "vlm"
    assert answer["answer"].startswith(f"{toy} saw 1 page image(s): the total is 7,981.99 EUR")
    assert [(c["doc"], c["page"]) for c in answer["citations"]] == [("invoice.pdf", 1)]
    assert model_state(toy) == ("loaded", "ToyChat") and loaded_chat_model(toy).loaded


def test_an_unknown_scheme_says_no_plugin_serves_it(toy: str) -> None:
    for name in ("nosuch://model", "nosuch:model"):
        with pytest.raises(ConfigError, match=r"no plugin serves nosuch:// models; installed model families: .*toy"):
            chat_model(name)
    with pytest.raises(ConfigError, match="no plugin serves nosuch://"):
        loaded_chat_model("nosuch://model")


def test_an_entry_point_that_is_not_a_family_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path, monkeypatch, """
        [docagent.chat_models]
        broken = toy_models:NOT_A_FAMILY
    """)
    try:
        with pytest.raises(ConfigError, match=r"entry point broken = 'toy_models:NOT_A_FAMILY' .* is not a .*ModelFamily"):
            chat_model("HuggingFaceM4/idefics2-8b")
    finally:
        sys.modules.pop("toy_models", None)


def test_idefics2_still_serves_hub_ids_and_local_folders(tiny_idefics2: Path) -> None:
    from docagent.models import ChatIdefics2

    assert family_for("HuggingFaceM4/idefics2-8b").name == "idefics2"
    lazy = chat_model(str(tiny_idefics2))
    assert isinstance(lazy, ChatIdefics2) and lazy._model is None  # weights load on first use
    ready = chat_model(str(tiny_idefics2), load=True, max_tokens=3)
    assert isinstance(ready, ChatIdefics2) and ready._model is not None
    assert ready.invoke("Total?").usage_metadata["output_tokens"] == 3

