"""LangChain's standard chat-model suites against ChatIdefics2 on the tiny random Idefics2.

Abilities are read from what ChatIdefics2 declares (docagent.models.abilities), so the suites hold the
declaration to account. The suites' own image tests download their pictures from the network, so image
input is left undeclared here and covered by tests/test_chat_idefics2.py with local images.
"""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from docagent.models import ChatIdefics2
from tests.conftest import tiny_idefics2_path


class RandomWeightsToolArguments:
    """The suite's tool-calling tests, marked xfail for a model with random weights.

    Random weights cannot pick argument values (the suite wants {"input": 3} from "What is the value of
    magic_function(3)?"), nor whether to call a tool at all or how many times. Constrained decoding still
    returns well-formed calls of the right tools with arguments that validate; tests/test_chat_idefics2.py
    asserts exactly that.
    """

    _RANDOM = "random weights write valid arguments, not the values the suite asks for"

    @pytest.mark.xfail(reason=_RANDOM, strict=True)
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_tool_calling(self, model):
        super().test_tool_calling(model)

    @pytest.mark.xfail(reason=_RANDOM, strict=True)
    async def test_tool_calling_async(self, model):
        await super().test_tool_calling_async(model)

    @pytest.mark.xfail(reason=_RANDOM, strict=True)
    def test_unicode_tool_call_integration(self, model, *, tool_choice=None, force_tool_call=True):
        super().test_unicode_tool_call_integration(model, tool_choice=tool_choice, force_tool_call=force_tool_call)

    @pytest.mark.xfail(reason="random weights decide how many calls to write (up to 8); the suite wants exactly one",
                       strict=True)
    def test_tool_calling_with_no_arguments(self, model):
        super().test_tool_calling_with_no_arguments(model)

    @pytest.mark.xfail(reason="with tool_choice 'auto', random weights over Idefics2's vocabulary answer in text "
                              "instead of calling the tool", strict=True)
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_agent_loop(self, model):
        super().test_agent_loop(model)


class _Abilities:
    @property
    def chat_model_class(self) -> type[ChatIdefics2]:
        return ChatIdefics2

    @property
    def chat_model_params(self) -> dict:
        return {"model": str(tiny_idefics2_path())}

    @property
    def has_tool_calling(self) -> bool:
        return ChatIdefics2.abilities.tool_calling

    @property
    def has_tool_choice(self) -> bool:
        return ChatIdefics2.abilities.tool_calling

    @property
    def has_structured_output(self) -> bool:
        return ChatIdefics2.abilities.structured_output

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def returns_usage_metadata(self) -> bool:
        return True


class TestChatIdefics2Unit(_Abilities, ChatModelUnitTests):
    pass


@pytest.mark.slow
class TestChatIdefics2Integration(RandomWeightsToolArguments, _Abilities, ChatModelIntegrationTests):
    pass
