"""A small OpenAI-compatible chat-completions server for tests, answering with a real ChatIdefics2.

It speaks the protocol the way TGI and vLLM do (JSON replies, server-sent events when streaming, tools,
``response_format``) and records every request, so tests can check what the client sent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.messages import convert_to_messages


class OpenAIStub:
    def __init__(self, chat: Any, model_name: str = "tiny-idefics2") -> None:
        self.chat, self.model_name, self.requests = chat, model_name, []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                if self.path != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                if body.get("model") != stub.model_name:
                    return self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                reply = stub.answer(body)
                if body.get("stream"):
                    return self._sse(body, reply)
                return self._json(200, reply)

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, body: dict, reply: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                message = reply["choices"][0]["message"]
                base = {"id": reply["id"], "object": "chat.completion.chunk", "created": reply["created"],
                        "model": reply["model"]}
                text = message.get("content") or ""
                pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
                for piece in pieces:
                    self._event({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                for i, call in enumerate(message.get("tool_calls") or []):
                    self._event({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{**call, "index": i}]},
                                                      "finish_reason": None}]})
                self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reply["choices"][0]["finish_reason"]}]})
                if body.get("stream_options", {}).get("include_usage"):
                    self._event({**base, "choices": [], "usage": reply["usage"]})
                self.wfile.write(b"data: [DONE]\n\n")

            def _event(self, payload: dict) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, body: dict) -> dict:
        kwargs: dict[str, Any] = {"max_tokens": body.get("max_tokens", 64), "temperature": body.get("temperature", 0)}
        if body.get("stop"):
            kwargs["stop"] = body["stop"]
        if body.get("tools"):
            choice = body.get("tool_choice")
            kwargs["tools"] = body["tools"]
            kwargs["tool_choice"] = ("any" if choice == "required" else
                                     choice["function"]["name"] if isinstance(choice, dict) else choice)
        if body.get("response_format"):
            kwargs["response_format"] = body["response_format"]
        reply = self.chat.invoke(convert_to_messages(body["messages"]), **kwargs)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
        if reply.tool_calls:
            message["tool_calls"] = [{"id": c["id"], "type": "function",
                                      "function": {"name": c["name"], "arguments": json.dumps(c["args"])}}
                                     for c in reply.tool_calls]
        usage = reply.usage_metadata
        finish = "tool_calls" if reply.tool_calls else reply.response_metadata["finish_reason"]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model_name, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": usage["input_tokens"], "completion_tokens": usage["output_tokens"],
                      "total_tokens": usage["total_tokens"]},
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
