"""LangChain messages to chat-template turns and images, in one place.

Every image form LangChain defines is accepted, plus the ones a document tool meets:

    {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}       OpenAI
    {"type": "image_url", "image_url": "https://..."}                               OpenAI, short form
    {"type": "image", "source_type": "base64", "data": "...", "mime_type": "..."}   LangChain v0
    {"type": "image", "source_type": "url", "url": "..."}                           LangChain v0
    {"type": "image", "base64": "...", "mime_type": "..."}                          LangChain v1
    {"type": "image", "url": "..."}                                                 LangChain v1
    {"type": "image", "image": <PIL.Image> | "page.png"}                            transformers
    {"type": "image", "path": "page.png"}                                           local file

URLs may be ``data:``, ``file://``, ``http(s)://`` or a plain local path.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from docagent.errors import ConfigError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["image_data_url", "load_image", "to_openai_messages", "to_turns", "tool_calls_text"]

Turn = dict[str, Any]


def _image_from_bytes(data: bytes, where: str) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as e:
        msg = f"image {where} cannot be decoded ({e}); send PNG, JPEG, TIFF, GIF or WebP"
        raise ConfigError(msg) from e
    return image.convert("RGB")


def _image_from_url(url: str) -> Image.Image:
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if ";base64" not in header:
            return _image_from_bytes(unquote(payload).encode("latin-1"), "in a data URL")
        return _image_from_base64(payload, "in a data URL")
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        import httpx

        try:
            response = httpx.get(url, timeout=30, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as e:
            msg = f"image {url} could not be fetched ({e}); download it and pass the local path instead"
            raise ConfigError(msg) from e
        return _image_from_bytes(response.content, url)
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(url).expanduser()
    try:
        data = path.read_bytes()
    except OSError as e:
        msg = f"image {path} cannot be read ({e.strerror or e}); check the path"
        raise ConfigError(msg) from e
    return _image_from_bytes(data, str(path))


def _image_from_base64(payload: str, where: str) -> Image.Image:
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as e:
        msg = f"image {where} is not valid base64 ({e})"
        raise ConfigError(msg) from e
    return _image_from_bytes(data, where)


def load_image(block: dict[str, Any]) -> Image.Image:
    """The RGB ``PIL.Image`` an image content block stands for (any form listed in the module docstring)."""
    from PIL import Image

    kind = block.get("type")
    if kind == "image_url":
        ref = block.get("image_url")
        url = ref.get("url") if isinstance(ref, dict) else ref
        if not isinstance(url, str):
            msg = f"image_url block without a url: {_short(block)}"
            raise ConfigError(msg)
        return _image_from_url(url)
    if kind == "image":
        image = block.get("image")
        if isinstance(image, Image.Image):
            return image.convert("RGB")
        if block.get("source_type") == "base64" or "base64" in block:
            return _image_from_base64(block.get("data") or block.get("base64") or "", "in a base64 block")
        for key in ("url", "path", "image", "data"):
            if isinstance(block.get(key), str):
                return _image_from_url(block[key])
    msg = f"unsupported image block {_short(block)}: send a data URL, base64, a URL, a local path or a PIL image"
    raise ConfigError(msg)


def _short(block: dict[str, Any]) -> str:
    return json.dumps({k: (v if isinstance(v, str) and len(v) < 40 else "...") for k, v in block.items()})


def _is_image(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") in ("image", "image_url")


def _parts(content: str | list[Any]) -> list[Any]:
    return [content] if isinstance(content, str) else list(content)


def tool_calls_text(message: AIMessage) -> str:
    """How an assistant turn that called tools reads in the prompt: the JSON protocol the model writes."""
    calls = [{"name": c["name"], "arguments": c["args"]} for c in message.tool_calls]
    return json.dumps({"tool_calls": calls}, ensure_ascii=False)


def to_turns(messages: Sequence[BaseMessage], *, system_prompt: str = "fold") -> tuple[list[Turn], list[Any]]:
    """Chat-template turns (``{"role", "content": [{"type": "text"|"image"}]}``) and the images, in order.

    System text is folded into the first user turn (``system_prompt="fold"``) or kept as a turn; tool
    results become user turns; consecutive turns of one role are merged, as the template wants
    strict alternation.
    """
    turns: list[Turn] = []
    images: list[Any] = []
    system: list[str] = []

    def add(role: str, parts: list[Turn]) -> None:
        if not parts:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend([{"type": "text", "text": "\n"}, *parts])
        else:
            turns.append({"role": role, "content": parts})

    for message in messages:
        parts: list[Turn] = []
        if isinstance(message, AIMessage) and message.tool_calls:
            parts.append({"type": "text", "text": tool_calls_text(message)})
        else:
            for part in _parts(message.content):
                if isinstance(part, str):
                    parts.append({"type": "text", "text": part})
                elif _is_image(part):
                    images.append(load_image(part))
                    parts.append({"type": "image"})
                elif isinstance(part, dict) and part.get("type") == "text":
                    parts.append({"type": "text", "text": part.get("text", "")})
                elif isinstance(part, dict) and part.get("type") in ("tool_use", "tool_call", "reasoning"):
                    continue
                else:
                    msg = f"unsupported content block {_short(part) if isinstance(part, dict) else repr(part)[:60]}"
                    raise ConfigError(msg)
        if isinstance(message, SystemMessage):
            if system_prompt == "fold":
                system.extend(p["text"] for p in parts if p["type"] == "text")
            else:
                add("system", parts)
        elif isinstance(message, HumanMessage):
            add("user", parts)
        elif isinstance(message, AIMessage):
            add("assistant", parts)
        elif isinstance(message, ToolMessage):
            name = getattr(message, "name", None) or "tool"
            prefix = f"Result of {name} (call {message.tool_call_id})" + (" [error]" if message.status == "error" else "")
            add("user", [{"type": "text", "text": prefix + ": "}, *parts])
        else:
            add(message.type if message.type in ("user", "assistant") else "user", parts)

    if system:
        text = "\n".join(system).strip() + "\n\n"
        first_user = next((t for t in turns if t["role"] == "user"), None)
        if first_user is None:
            turns.insert(0, {"role": "user", "content": [{"type": "text", "text": text.strip()}]})
        else:
            first_user["content"].insert(0, {"type": "text", "text": text})
    if turns and turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": ""}]})
    return turns, images


def image_data_url(image: Any) -> str:
    """A PNG ``data:`` URL of a PIL image, the form OpenAI-compatible servers accept everywhere."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """OpenAI chat-completions messages, every image re-encoded as a data URL (servers cannot read our disk)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        content: list[dict[str, Any]] = []
        for part in _parts(message.content):
            if isinstance(part, str):
                content.append({"type": "text", "text": part})
            elif _is_image(part):
                content.append({"type": "image_url", "image_url": {"url": image_data_url(load_image(part))}})
            elif isinstance(part, dict) and part.get("type") == "text":
                content.append({"type": "text", "text": part.get("text", "")})
        text_only = all(c["type"] == "text" for c in content)
        flat: Any = "".join(c["text"] for c in content) if text_only else content
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": flat})
        elif isinstance(message, AIMessage):
            entry: dict[str, Any] = {"role": "assistant", "content": flat or None}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {"id": c["id"], "type": "function",
                     "function": {"name": c["name"], "arguments": json.dumps(c["args"], ensure_ascii=False)}}
                    for c in message.tool_calls
                ]
            out.append(entry)
        elif isinstance(message, ToolMessage):
            out.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": flat})
        else:
            out.append({"role": "user", "content": flat})
    return out
