"""``docagent serve`` and ``docagent mcp``: registered through the ``docagent.commands`` entry points, so
docagent's CLI offers them without importing connectors. Parsers only here; the servers load on use."""

from __future__ import annotations

import logging
from typing import Any

from docagent.config import Settings, is_loopback
from docagent.errors import ConfigError

__all__ = ["mcp", "serve"]

log = logging.getLogger("docagent")


def _missing(e: ImportError) -> ConfigError:
    return ConfigError(f"the servers need more packages ({e.name} is missing): pip install 'docagent[server]'")


def serve(sub: Any, common: Any) -> None:
    p = sub.add_parser("serve", parents=[common], help="serve the HTTP API (OpenAPI at /docs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other needs DOCAGENT_API_TOKEN)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--model", help="vision-language model: Hub id, local folder or server URL (default $DOCAGENT_VLM_MODEL)")
    p.set_defaults(handler=_serve)


def _serve(args: Any, settings: Settings) -> int:
    try:
        from pydantic import ValidationError

        from docagent_connectors.http_api import ApiSettings, serve
    except ImportError as e:
        raise _missing(e) from e
    try:
        api = ApiSettings()
    except ValidationError as e:
        raise ConfigError("; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())) from None
    if not is_loopback(args.host) and api.token is None:
        msg = (f"listening on {args.host} exposes your documents beyond this machine: set DOCAGENT_API_TOKEN "
               "(for example `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`) or use --host 127.0.0.1")
        raise ConfigError(msg)
    where = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}"
    log.info("docagent API on %s (OpenAPI: %s/docs); store %s%s", where, where, settings.store,
             "; bearer token required" if api.token else "")
    serve(args.host, args.port, settings=settings, api=api, model=args.model)
    return 0


def mcp(sub: Any, common: Any) -> None:
    p = sub.add_parser("mcp", parents=[common], help="serve the document tools to MCP clients, on stdio")
    p.add_argument("--model", help="vision-language model: Hub id, local folder or server URL (default $DOCAGENT_VLM_MODEL)")
    p.set_defaults(handler=_mcp)


def _mcp(args: Any, settings: Settings) -> int:
    try:
        import anyio

        from docagent_connectors.mcp_server import run_stdio
    except ImportError as e:
        raise _missing(e) from e
    log.info("docagent MCP server on stdio; store %s", settings.store)
    anyio.run(run_stdio, settings, args.model)
    return 0
