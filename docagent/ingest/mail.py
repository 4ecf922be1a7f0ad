"""E-mail (``.eml``, RFC 5322 / MIME; mailboxes, ``.mbox``), rendered to paged PDF: the headers and the body are
the first pages, the attachments are documents of their own. A mailbox of several messages is a list of them on
its pages, each message a document of its own (``box.mbox/0001 Subject.eml``) with its attachments under it.

    source = MailSource(Path("offer.eml"), OpenOptions())
    source.read_page(0).text          # "Subject ... From ... To ... Date ... Attachments: price-list.xlsx ..."
    source.attachments()              # [Attachment("price-list.xlsx", b"PK...")]: the indexer indexes each one
                                      # as "offer.eml/price-list.xlsx", linked to the message

The standard library's parser (``email.policy.default``) decodes headers (RFC 2047 words), transfer encodings
and charsets. The body is the HTML alternative when there is one (cleaned as any HTML page is: no scripts, no
remote images, :mod:`docagent.ingest.markup`), else the plain text. Attachments are the parts sent as files,
``message/rfc822`` parts (a forwarded message) included as ``.eml``; images shown inside the HTML body (inline
parts with a ``Content-ID``) are part of the message, drawn on its page, not attachments; signatures (S/MIME, PGP),
winmail.dat, contact cards and invitations are not documents and are not indexed. Bounds: messages larger than
:data:`MAX_MAIL_BYTES` and more than :data:`MAX_ATTACHMENTS` attachments are refused or cut, with a message.
"""

from __future__ import annotations

import base64
import html
import logging
import mimetypes
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
        messages = _mbox(data)
        if len(messages) > 1:  # a mailbox: its messages are its attachments, listed on its pages
            self._attachments, left_out = _messages(messages)
            pieces, title = _listing(messages, left_out), f"{len(messages)} messages"
        else:
            try:
                message = BytesParser(policy=policy.default).parsebytes(messages[0] if messages else data)
            except Exception as e:
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


MAX_MESSAGES = 5000
"""Messages of one mailbox (mbox) indexed; the rest are counted, not indexed."""
_FROM_LINE = re.compile(rb"^From \S.*$", re.MULTILINE)


def _mbox(data: bytes) -> list[bytes]:
    """The messages of a Unix mailbox (each after a ``From `` line at the start of a line), ``>From`` unquoted;
    empty when ``data`` is no mailbox (a single message)."""
    if not data.startswith(b"From "):
        return []
    starts = [m.start() for m in _FROM_LINE.finditer(data) if m.start() == 0 or data[m.start() - 1:m.start()] == b"\n"]
    parts = [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]
    out = []
    for part in parts:
        body = part.split(b"\n", 1)[1] if b"\n" in part else b""
        if looks_like_mail(body[:4096].decode("utf-8", "replace")):
            out.append(re.sub(rb"(?m)^>(>*From )", rb"\1", body))
        elif out:  # a "From " line inside a body that was not quoted: part of the message before
            out[-1] += part
    return out


def _messages(messages: list[bytes]) -> tuple[list[Attachment], int]:
    parser = BytesParser(policy=policy.default)
    found = []
    for n, data in enumerate(messages[:MAX_MESSAGES], 1):
        subject = _header(parser.parsebytes(data, headersonly=True), "subject") or "no subject"
        found.append(Attachment(f"{n:04d} {subject[:80]}.eml", data))
    return found, max(0, len(messages) - MAX_MESSAGES)


def _listing(messages: list[bytes], left_out: int) -> list[str]:
    parser = BytesParser(policy=policy.default)
    rows = []
    for n, data in enumerate(messages[:MAX_MESSAGES], 1):
        head = parser.parsebytes(data, headersonly=True)
        cells = [str(n), _header(head, "date"), _header(head, "from"), _header(head, "subject") or "(no subject)"]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    more = f"<p>{left_out} more messages, not indexed.</p>" if left_out else ""
    return [f"<h1>Mailbox of {len(messages)} messages</h1><p>Each message is indexed as a document of its own.</p>"
            f"<table class=\"headers\"><tr><th>#</th><th>Date</th><th>From</th><th>Subject</th></tr>"
            + "".join(rows[i:i + 200]) + "</table>" + (more if i + 200 >= len(rows) else "")
            for i in range(0, len(rows), 200)]


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
        content = _inline_images(message, content)
        pieces, _, _ = clean_html(content)  # the message's own CSS is left out: its layout is the mail program's
        return pieces
    return text_html(content.replace("\r\n", "\n"))


_NOT_DOCUMENTS = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature",
                            "application/pgp-keys", "application/ms-tnef", "application/vnd.ms-tnef", "text/x-vcard",
                            "text/vcard", "text/calendar"})
"""Parts sent as files that are no documents: signatures (S/MIME, PGP), keys, Outlook's winmail.dat (TNEF),
contact cards and calendar invitations. They are listed with the attachments, not indexed."""


def _is_inline_image(part: Message) -> bool:
    """An image shown in the HTML body (``cid:``), part of the message rather than an attachment."""
    return (bool(part.get("content-id")) and part.get_content_disposition() != "attachment"
            and part.get_content_maintype() == "image")


_CID = re.compile(r"""(src\s*=\s*["']?)cid:([^"'\s>]+)""", re.IGNORECASE)


def _inline_images(message: EmailMessage, body: str) -> str:
    """The HTML body with its ``cid:`` images as ``data:`` URLs, so they are drawn on the page (and a scan pasted into
    a message is OCR'd with it) without anything being fetched."""
    images = {}
    for part in message.walk():
        if _is_inline_image(part):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload:
                cid = str(part.get("content-id")).strip().strip("<>")
                images[cid] = f"data:{part.get_content_type()};base64,{base64.b64encode(payload).decode()}"
    if not images:
        return body
    return _CID.sub(lambda m: m.group(1) + images.get(m.group(2), "cid:" + m.group(2)), body)


def _attachments(message: EmailMessage) -> tuple[list[Attachment], int]:
    found: list[Attachment] = []
    left_out = 0
    for i, part in enumerate(message.iter_attachments(), 1):
        if _is_inline_image(part):
            continue
        if part.get_content_type() in _NOT_DOCUMENTS or (part.get_filename() or "").lower() == "winmail.dat":
            continue
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
            name = part.get_filename() or f"attachment-{i}{mimetypes.guess_extension(part.get_content_type()) or ''}"
            data = payload
        if len(found) >= MAX_ATTACHMENTS:
            left_out += 1
            continue
        found.append(Attachment(name, data))
    if left_out:
        log.warning("%d attachments past the first %d are not indexed", left_out, MAX_ATTACHMENTS)
    return found, left_out
