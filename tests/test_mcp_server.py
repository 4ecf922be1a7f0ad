"""The MCP server: `docagent mcp` started by the official SDK's client, spoken to over stdio."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the MCP server needs the server extra: pip install 'docagent[server]'")

from mcp import Client, StdioServerParameters

from docagent.config import Settings
from docagent.index.indexer import index_paths
from tests import factories
from tests.test_agents import INVOICE, NAMES

pytestmark = pytest.mark.slow  # starts real programs (see CONTRIBUTING.md: slow tests)


@pytest.fixture
def store(settings: Settings, docs_dir: Path) -> Path:
    factories.text_pdf(docs_dir / "invoice.pdf", INVOICE)
    assert not index_paths([docs_dir], settings, progress=False).failed
    return settings.store


async def test_the_tools_over_stdio(store: Path, tiny_idefics2: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k.startswith(("HF_", "TRANSFORMERS_", "ORT_", "TOKENIZERS_", "ANONYMIZED_"))}
    server = StdioServerParameters(command=sys.executable, env=env, cwd=str(Path(__file__).resolve().parents[1]),
                                   args=["-m", "docagent", "mcp", "--store", str(store), "--model", str(tiny_idefics2)])
    async with Client(server, read_timeout_seconds=300) as client:
        listed = (await client.list_tools()).tools
        assert [t.name for t in listed] == NAMES
        for t in listed:
            assert t.description and t.annotations.read_only_hint
            assert all(p.get("description") for p in t.input_schema["properties"].values()), t.name

        found = await client.call_tool("search_documents", {"query": "total due on the invoice", "k": 2})
        assert not found.is_error
        top = found.structured_content["results"][0]
        assert (top["doc"], top["page"]) == ("invoice.pdf", 1) and "7,981.99" in top["snippet"]
        shown = [{k: v for k, v in r.items() if k != "image"} for r in found.structured_content["results"]]
        assert json.loads(found.content[0].text) == {"results": shown}  # the model's text, less the images' URIs

        read = await client.call_tool("read_page", {"doc": "invoice.pdf", "page": 1, "question": "What is the total?"})
        assert not read.is_error and read.structured_content["mode"] == "vlm"  # the tiny Idefics2 read the page

        missing = await client.call_tool("read_page", {"doc": "missing.pdf", "page": 1, "question": "q"})
        assert missing.is_error and missing.content[0].text.startswith("no document named 'missing.pdf'")
        bad = await client.call_tool("search_documents", {"query": "x", "k": 0})
        assert bad.is_error and bad.content[0].text.startswith("invalid arguments (k: ")
        assert (await client.call_tool("calculator", {"expression": "1290 - 820"})).content[0].text == "470"
        unknown = await client.call_tool("delete_documents", {})
        assert unknown.is_error and "there is no tool named 'delete_documents'" in unknown.content[0].text


async def test_page_images_are_resources_the_client_reads_by_the_uri_results_give(store: Path, settings: Settings,
                                                                                   docs_dir: Path) -> None:
    """A search result names its page image by URI (no path of the server's machine); the client reads the PNG as a
    resource, drawn on first use. The URI names one version: once the document is replaced, reading it says so."""
    import base64
    import io

    from mcp.shared.exceptions import MCPError
    from PIL import Image

    env = {k: v for k, v in os.environ.items() if k.startswith(("HF_", "TRANSFORMERS_", "ORT_", "TOKENIZERS_", "ANONYMIZED_"))}
    server = StdioServerParameters(command=sys.executable, env=env, cwd=str(Path(__file__).resolve().parents[1]),
                                   args=["-m", "docagent", "mcp", "--store", str(store)])
    async with Client(server, read_timeout_seconds=300) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert [(t.uri_template, t.mime_type) for t in templates] == [("docagent://pages/{version}/{page}.png", "image/png")]

        found = await client.call_tool("search_documents", {"query": "total due on the invoice", "k": 1})
        uri = found.structured_content["results"][0]["image"]
        assert uri.startswith("docagent://pages/") and str(store) not in json.dumps(found.structured_content)
        read = await client.read_resource(uri)
        (content,) = read.contents
        assert content.mime_type == "image/png" and content.uri == uri
        with Image.open(io.BytesIO(base64.b64decode(content.blob))) as page:
            assert abs(page.width / page.height - 595 / 842) < 0.01  # the whole A4 page

        with pytest.raises(MCPError, match="is not a page image's URI"):
            await client.read_resource("docagent://pages/nothing-here.png")

        factories.text_pdf(docs_dir / "invoice.pdf", ["A different invoice now: total due 12.00 EUR."])
        assert index_paths([docs_dir / "invoice.pdf"], settings, progress=False).replaced
        with pytest.raises(MCPError, match="replaced or removed"):
            await client.read_resource(uri)
