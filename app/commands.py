"""``docagent app``: registered through the ``docagent.commands`` entry points (docagent imports no app)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from docagent.config import Settings
from docagent.errors import ConfigError
from docagent_app import access

__all__ = ["register"]

log = logging.getLogger("docagent")


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("app", parents=[common], help="open the Streamlit app (upload, ask, extract, charts)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1); beyond loopback $DOCAGENT_APP_PASSWORD or "
                        "--behind-auth-proxy is required")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument("--model", help="vision-language model: Hub id, local folder or server URL (default $DOCAGENT_VLM_MODEL)")
    p.add_argument("--max-upload-mb", type=int, default=50, help="largest file accepted, in MiB (default 50)")
    p.add_argument("--behind-auth-proxy", action="store_true", default=access.behind_auth_proxy(),
                   help="a proxy in front of the app authenticates every visitor, so it may listen beyond loopback "
                        "without a password (or $DOCAGENT_APP_BEHIND_AUTH_PROXY=1)")
    p.set_defaults(handler=_run)


def _run(args: Any, settings: Settings) -> int:
    access.check_exposure(args.host, access.app_password(), args.behind_auth_proxy)
    try:
        import streamlit  # noqa: F401
    except ImportError as e:
        msg = "the app needs Streamlit: pip install 'docagent[app]'"
        raise ConfigError(msg) from e
    env = dict(os.environ, DOCAGENT_STORE=str(settings.store), DOCAGENT_APP_MAX_UPLOAD_MB=str(args.max_upload_mb))
    if args.model:
        env["DOCAGENT_VLM_MODEL"] = args.model
    env[access.PROXY_ENV] = "1" if args.behind_auth_proxy else ""
    host = args.host[1:-1] if args.host.startswith("[") and args.host.endswith("]") else args.host  # [::1]
    command = [sys.executable, "-m", "streamlit", "run", str(Path(__file__).with_name("main.py")),
               "--server.address", host, "--server.port", str(args.port), "--server.headless", "true",
               "--server.maxUploadSize", str(args.max_upload_mb), "--browser.gatherUsageStats", "false",
               "--client.toolbarMode", "viewer"]  # no "Deploy" button nor developer menu: this is an app, not a sketch
    log.info("docagent app on http://%s:%s; store %s", args.host, args.port, settings.store)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, env)  # become the Streamlit server: signals reach it directly
    return 0  # not reached
