"""The recipe for a new document format: a package declares a Format under the ``docagent.formats`` entry-point
group, and files of that format are indexed, searched and cited like any other.

The plugin here is a real installed distribution: a module and a ``.dist-info`` folder with ``entry_points.txt``,
put on ``sys.path`` as pip would put them in site-packages.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from docagent.cli import main
from docagent.config import Settings
from docagent.errors import UnsupportedFileError
from docagent.index import PageStore
from docagent.ingest import formats, open_source, sniff
from docagent.tasks.qa import ask
from tests.scripted import scripted

TOY_MODULE = '''
"""Toy notes: text whose first line is ``%TOY 1``; a line ``%PAGE`` starts a new page."""

from pathlib import Path

from PIL import Image, ImageDraw

from docagent.errors import EmptyDocumentError
from docagent.ingest.base import OpenOptions, Source, check_page_count
from docagent.ingest.formats import Format, Probe
from docagent.types import Page, Word

MAGIC = "%TOY 1"
WIDTH, HEIGHT, MARGIN, LINE, CHAR = 595.0, 842.0, 36.0, 14.0, 6.0  # points; one fixed-width character is CHAR wide


def is_toy(probe: Probe) -> bool:
    return probe.text is not None and probe.text.lstrip("\\ufeff").startswith(MAGIC + "\\n")


class ToySource(Source):
    kind = "toy"

    def __init__(self, path: Path, options: OpenOptions) -> None:
        super().__init__(path)
        body = path.read_text(encoding="utf-8").split("\\n", 1)[1]
        self._pages = [page.strip("\\n").splitlines() for page in body.split("%PAGE\\n")]
        if not body.strip():
            raise EmptyDocumentError(path, "the toy file has no text after its first line")
        check_page_count(path, len(self._pages), options.max_pages)

    @property
    def page_count(self) -> int:
        return len(self._pages)

    def _words(self, index: int) -> list[Word]:
        words = []
        for row, line in enumerate(self._pages[index]):
            col = 0
            for token in line.split(" "):
                if token:
                    x0, y0 = MARGIN + col * CHAR, MARGIN + row * LINE
                    words.append(Word(token, (x0, y0, x0 + len(token) * CHAR, y0 + LINE)))
                col += len(token) + 1
        return words

    def read_page(self, index: int) -> Page:
        return Page(self.name, index + 1, WIDTH, HEIGHT, "\\n".join(self._pages[index]), self._words(index))

    def has_images(self, index: int) -> bool:
        return False  # text only: never worth OCR

    def render(self, index: int, scale: float) -> Image.Image:
        image = Image.new("RGB", (round(WIDTH * scale), round(HEIGHT * scale)), "white")
        draw = ImageDraw.Draw(image)
        for word in self._words(index):
            draw.text((word.box[0] * scale, word.box[1] * scale), word.text, fill="black")
        return image


TOY = Format("toy", "toy notes", (".toy",), is_toy, ToySource, text=True)
'''

NOTES = "%TOY 1\nThe lighthouse keeper logs the weather at dawn.\n%PAGE\nThe lamp of the lighthouse burns 40 litres of paraffin a week.\n"


@pytest.fixture
def toy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[formats.Format]:
    """The toy format installed as a distribution of its own, registered for the test and gone after it."""
    site = tmp_path / "site-packages"
    dist = site / "toy_docagent-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "toy_docagent.py").write_text(TOY_MODULE, encoding="utf-8")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-docagent\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[docagent.formats]\ntoy = toy_docagent:TOY\n", encoding="utf-8")
    before = list(formats.FORMATS)
    monkeypatch.syspath_prepend(str(site))
    added = formats.load_plugins()
    try:
        assert [f.kind for f in added] == ["toy"]
        yield added[0]
    finally:
        formats.FORMATS[:] = before
        sys.modules.pop("toy_docagent", None)


def test_a_plugin_format_is_indexed_searched_and_cited_like_any_other(
        toy_plugin: formats.Format, docs_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (docs_dir / "lighthouse.toy").write_text(NOTES, encoding="utf-8")
    (docs_dir / "plain.toy").write_text("Just a note without the toy header.\n", encoding="utf-8")
    assert formats.formats()[0] is toy_plugin and "toy notes" in formats.describe()
    assert sniff(docs_dir / "lighthouse.toy") == "toy"
    assert sniff(docs_dir / "plain.toy") == "text"  # text without the first line is still plain text
    store = tmp_path / "store"

    assert main(["index", str(docs_dir), "--store", str(store), "--json", "-q"]) == 0  # the folder walk finds .toy
    report = json.loads(capfd.readouterr().out)
    assert report["documents"] == 2 and report["pages"] == 3 and not report["failed"]
    assert main(["docs", "--store", str(store), "--json"]) == 0
    kinds = {d["doc"]: d["kind"] for d in json.loads(capfd.readouterr().out)["documents"]}
    assert kinds == {"lighthouse.toy": "toy", "plain.toy": "text"}

    assert main(["search", "how much paraffin does the lamp burn", "--store", str(store), "--json", "-k", "1"]) == 0
    [hit] = json.loads(capfd.readouterr().out)["results"]
    assert (hit["doc"], hit["page"]) == ("lighthouse.toy", 2) and "paraffin" in hit["text"]

    with PageStore(Settings(store=store)) as opened:
        answer = ask("How much paraffin does the lamp burn?", store=opened, settings=Settings(store=store),
                     llm=scripted("It burns 40 litres a week [1]."))
    assert not answer.abstained
    [citation] = answer.citations
    assert (citation.doc, citation.page) == ("lighthouse.toy", 2) and citation.boxes  # evidence boxes on the page


def test_unknown_content_under_the_plugin_s_suffix_gets_the_usual_error(toy_plugin: formats.Format, docs_dir: Path) -> None:
    (docs_dir / "blob.toy").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UnsupportedFileError, match=r"blob\.toy: not a document docagent reads: its content looks like "
                                                   r"binary data, despite the \.toy suffix; docagent reads .*toy notes"):
        open_source(docs_dir / "blob.toy")


def test_a_broken_plugin_is_left_out_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    dist = tmp_path / "broken_docagent-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-docagent\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[docagent.formats]\nnothing = no_such_module:FORMAT\nnot_a_format = json:dumps\n",
                                           encoding="utf-8")
    before = list(formats.FORMATS)
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level("WARNING"):
        assert formats.load_plugins() == []
    assert before == formats.FORMATS  # nothing added
    assert "format plugin nothing = no_such_module:FORMAT left out: it cannot be loaded" in caplog.text
    assert "format plugin not_a_format = json:dumps left out: it names a function" in caplog.text
