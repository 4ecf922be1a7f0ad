"""Who may use the app: anyone on this machine (loopback), whoever knows ``DOCAGENT_APP_PASSWORD``, or whoever
an authenticating proxy in front lets through (``--behind-auth-proxy``). Beyond loopback one of the last two
is required. No Streamlit here: ``docagent app`` checks this before it starts the server."""

from __future__ import annotations

import os

from docagent.config import is_loopback
from docagent.errors import ConfigError

__all__ = ["MIN_PASSWORD", "PASSWORD_ENV", "PROXY_ENV", "app_password", "behind_auth_proxy", "check_exposure"]

PASSWORD_ENV = "DOCAGENT_APP_PASSWORD"
PROXY_ENV = "DOCAGENT_APP_BEHIND_AUTH_PROXY"
MIN_PASSWORD = 12
_MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe())'"


def app_password() -> str | None:
    """``$DOCAGENT_APP_PASSWORD`` without surrounding blanks; None when unset, empty or blank. A password
    shorter than :data:`MIN_PASSWORD` is a :class:`ConfigError`, not a weaker lock."""
    password = os.environ.get(PASSWORD_ENV, "").strip()
    if not password:
        return None
    if len(password) < MIN_PASSWORD:
        msg = (f"{PASSWORD_ENV} is shorter than {MIN_PASSWORD} characters: choose a longer one "
               f"(for example the output of {_MAKE_ONE})")
        raise ConfigError(msg)
    return password


def behind_auth_proxy() -> bool:
    """Whether the user said that a proxy in front authenticates every visitor (``--behind-auth-proxy``)."""
    return os.environ.get(PROXY_ENV, "").strip().lower() in ("1", "true", "yes")


def check_exposure(host: str, password: str | None, proxy: bool) -> None:
    """Refuse to listen on ``host`` beyond loopback with no access control: anyone who reached the app
    could read, upload and delete documents."""
    if is_loopback(host) or password or proxy:
        return
    where = f"'{host}'" if host else "every interface"
    msg = (f"the app would listen on {where}, beyond loopback, where anyone who reaches it could read, upload "
           f"and delete your documents: set {PASSWORD_ENV} (at least {MIN_PASSWORD} characters, for example the "
           f"output of {_MAKE_ONE}) and the app asks for it, or pass --behind-auth-proxy if a proxy in front of "
           "the app authenticates every visitor, or listen on 127.0.0.1")
    raise ConfigError(msg)
