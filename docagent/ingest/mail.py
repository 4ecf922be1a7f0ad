"""E-mail (``.eml``, RFC 5322 / MIME), rendered to paged PDF: the headers and the body are the first pages,
the attachments are documents of their own.

    source = MailSource(Path("offer.eml"), OpenOptions())
    source.read_page(0).text          # "Subject ... From ... To ... Date ... Attachments: price-list.xlsx ..."
    source.attachments()              # [Attachment("price-list.xlsx", b"PK...")]: the indexer indexes each one
                                      # as "offer.eml/price-list.xlsx", linked to the message

The standard library's parser (``email.policy.default``) decodes headers (RFC 2047 words), transfer encodings
and charsets. The body is the HTML alternative when there is one (cleaned as any HTML page is: no scripts, no
remote images, :mod:`docagent.ingest.markup`), else the plain text. Attachments are the parts sent as files,
``message/rfc822`` parts (a forwarded message) included as ``.eml``; images shown inside the HTML body (inline
parts with a ``Content-ID``) are part of the message, not attachments. Bounds: messages larger than
:data:`MAX_MAIL_BYTES` and more than :data:`MAX_ATTACHMENTS` attachments are refused or cut, with a message.
"""

from __future__ import annotations

import html
import logging
import re
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from pathlib import Path

from docagent.errors import CorruptDocumentError, EmptyDocumentError, UnsupportedFileError
from docagent.ingest.base import Attachment, OpenOptions, open_regular, read_bounded
from docagent.ingest.markup import CSS, clean_html, render_pdf, text_html
from docagent.ingest.pdf import PdfSource

__all__ = ["MAX_ATTACHMENTS", "MAX_MAIL_BYTES", "MailSource", "looks_like_mail"]

log = logging.getLogger(__name__)

MAX_MAIL_BYTES = 64 << 20
"""Larger messages are refused (attachments included, as sent: base64 makes them a third larger)."""
MAX_ATTACHMENTS = 100
"""Attachments past this many in one message are not indexed (the message says how many were left out)."""

_HEADER_LINE = re.compile(r"^[!-9;-~]+:[ \t]?", re.MULTILINE)
_KNOWN = ("from", "to", "cc", "subject", "date", "message-id", "mime-version", "received", "return-path",
          "delivered-to", "reply-to", "content-type", "x-mailer", "sender")


def looks_like_mail(text: str) -> bool:
    """Whether text starts as an e-mail does: a block of ``Name: value`` header lines (folded lines allowed) with at
    least two of From, To, Subject, Date, Message-ID, MIME-Version, Received ... and a From or a Received among them."""
    head = text.lstrip("\ufeff")
    if head.startswith("From "):  # an mbox "From " separator line before the headers
        head = head.split("\n", 1)[1] if "\n" in head else ""
    names: list[str] = []
    for line in head.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            break
        if line[0] in " \t":  # a folded continuation of the previous header
            if not names:
                return False
            continue
        match = _HEADER_LINE.match(line)
        if match is None:
            return False
        names.append(line.split(":", 1)[0].lower())
    known = {n for n in names if n in _KNOWN}
    return len(known) >= 2 and bool(known & {"from", "received", "return-path", "delivered-to", "sender"})


class MailSource(PdfSource):
    """An e-mail read as its PDF rendering (headers, then body); its attachments are :meth:`attachments`."""

    stored_suffix = ".pdf"
    rendered = True

    def __init__(self, path: Path, options: OpenOptions) -> None:
        with open_regular(path) as (f, size):
            if size > MAX_MAIL_BYTES:
                msg = (f"the message is {size / (1 << 20):.1f} MiB, more than the {MAX_MAIL_BYTES >> 20} MiB docagent "
                       "reads; save its attachments and index them as files")
                raise UnsupportedFileError(path, msg)
            data = b"".join(read_bounded(f, size))
        try:
            message = BytesParser(policy=policy.default).parsebytes(data)
        except Exception as e:  # noqa: BLE001 - the parser is lenient; anything it still raises is damage
            raise CorruptDocumentError(path, f"the message cannot be parsed ({e}); save it again from the mail program") from e
        assert isinstance(message, EmailMessage)
        self._attachments, left_out = _attachments(message)
        pieces = _headers(message, self._attachments, left_out) + _body(message)
        title = _header(message, "subject")
        if not any(p.strip() for p in pieces):
            raise EmptyDocumentError(path, "the message has no headers and no text")
        self._pdf = render_pdf(path, pieces, CSS + _CSS, title, options.max_pages)
        super().__init__(path, max_pages=options.max_pages, data=self._pdf)
        self.kind = "email"

    def attachments(self) -> list[Attachment]:
        return list(self._attachments)

    def copy_to(self, target: Path) -> None:
        target.write_bytes(self._pdf)


_CSS = """
table.headers { border-collapse: collapse; margin-bottom: 8pt; }
table.headers th, table.headers td { border: none; padding: 1pt 6pt 1pt 0; text-align: left; vertical-align: top; }
table.headers th { color: #555; font-weight: bold; }
"""


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - a malformed header is shown as missing, not a failure of the message
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _headers(message: EmailMessage, attachments: list[Attachment], left_out: int) -> list[str]:
    subject = _header(message, "subject") or "(no subject)"
    rows = [(label, _header(message, name)) for label, name in
            (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Date", "date"), ("Reply-To", "reply-to"))]
    if attachments:
        more = f" and {left_out} more, not indexed" if left_out else ""
        rows.append(("Attachments", ", ".join(a.name for a in attachments) + more))
    shown = "".join(f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in rows
                    if value)
    return [f"<h1>{html.escape(subject)}</h1><table class=\"headers\">{shown}</table><hr/>"]


def _body(message: EmailMessage) -> list[str]:
    part = message.get_body(preferencelist=("html", "plain"))
    if part is None:
        return []
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str) or not content.strip():
        return []
    if part.get_content_subtype() == "html":
        pieces, _, _ = clean_html(content)  # the message's own CSS is left out: its layout is the mail program's
        return pieces
    return text_html(content.replace("\r\n", "\n"))


def _attachments(message: EmailMessage) -> tuple[list[Attachment], int]:
    found: list[Attachment] = []
    left_out = 0
    for i, part in enumerate(message.iter_attachments(), 1):
        if part.get("content-id") and part.get_content_disposition() != "attachment" and part.get_content_maintype() == "image":
            continue  # an image shown in the HTML body
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload(0) if part.is_multipart() else None
            if not isinstance(inner, Message):
                continue
            data = inner.as_bytes(policy=policy.default)
            name = part.get_filename() or f"{_header(inner, 'subject') or f'message-{i}'}.eml"
        else:
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes) or not payload:
                continue
            data, name = payload, part.get_filename() or f"attachment-{i}"
        if len(found) >= MAX_ATTACHMENTS:
            left_out += 1
            continue
        found.append(Attachment(name, data))
    if left_out:
        log.warning("%d attachments past the first %d are not indexed", left_out, MAX_ATTACHMENTS)
    return found, left_out
