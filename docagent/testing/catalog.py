"""What every :class:`~docagent.index.catalog.Catalog` and its lexical index must do; subclass
:class:`CatalogContract` (and :class:`LexicalContract`) and give it a ``catalog`` fixture returning an empty catalog."""

from __future__ import annotations

import threading
import time

import pytest

from docagent.index.catalog import Catalog, DocumentRecord, JobRecord, PageFields
from docagent.index.vectors import SearchScope
from docagent.types import DocumentCard, Page, Table, TableCell, Word

__all__ = ["CatalogContract", "LexicalContract", "write_document"]


def write_document(catalog: Catalog, name: str, texts: list[str], *, doc_id: str | None = None, ready: bool = True,
                   organisations: tuple[str, ...] = (), abbreviations: dict[str, str] | None = None) -> DocumentRecord:
    """Write a document of pages with these texts (one passage a page) as an indexing run does; ``ready=False``
    leaves it begun, not made visible (a run killed mid-commit)."""
    doc_id = doc_id or f"{abs(hash((name, tuple(texts)))):016x}"[:16]
    rec = DocumentRecord(doc_id, name, "0" * 64, f"/src/{name}", f"{doc_id}.pdf", "pdf", 0, 0, "indexing", time.time())
    pages = [Page(doc=name, number=i, width=612, height=792, text=text,
                  words=[Word(w, (10.0 * j, 10.0, 10.0 * j + 8, 18.0)) for j, w in enumerate(text.split())])
             for i, text in enumerate(texts, 1)]
    table = Table(doc=name, page=1, index=0, box=(0, 0, 100, 100), rows=1, cols=1, header_rows=0,
                  cells=[TableCell(0, 0, "Revenue", (0, 0, 50, 10))])
    catalog.begin_document(rec)
    if ready:
        card = DocumentCard(title=name, organisations=organisations)
        catalog.commit_document(rec, pages, [[(0, len(t))] for t in texts], [f"{name} context" for _ in texts],
                                [[] for _ in texts], fields=[PageFields(1, f"{name} title", "Revenue")], tables=[table],
                                card=card, card_words=("\n".join([name, *organisations]), "annual report 2023"),
                                abbreviations=abbreviations or {}, ocr_pages=0, pending=False)
    return rec


class CatalogContract:
    """Documents, pages, versions, generation and writer exclusion."""

    @pytest.fixture
    def catalog(self) -> Catalog:
        raise NotImplementedError("give the contract a `catalog` fixture returning an empty Catalog")

    def test_a_committed_document_reads_back_whole(self, catalog: Catalog) -> None:
        rec = write_document(catalog, "a.pdf", ["Net revenue grew", "Cash flow fell"], abbreviations={"PP&E": "property, plant and equipment"})
        found = catalog.document("a.pdf")
        assert found is not None and found.doc_id == rec.doc_id and found.status == "ready" and found.pages == 2
        page = catalog.page(rec.doc_id, 2)
        assert page is not None and page.text == "Cash flow fell" and page.words[1].text == "flow" and page.doc == "a.pdf"
        assert catalog.page(rec.doc_id, 1).title == "a.pdf title"  # type: ignore[union-attr]
        assert catalog.page_numbers(rec.doc_id) == [1, 2] and catalog.spans(rec.doc_id) == {1: [(0, 16)], 2: [(0, 14)]}
        assert [t.cells[0].text for t in catalog.tables(rec.doc_id)] == ["Revenue"]
        assert catalog.table_pages([rec.doc_id]) == {(rec.doc_id, 1)}
        assert catalog.card(rec.doc_id) is not None and catalog.card_version(rec.doc_id) is not None
        assert catalog.abbreviations(["pp&e"]) == {"pp&e": "property, plant and equipment"}
        assert catalog.page_fields([(rec.doc_id, 1)])[(rec.doc_id, 1)].labels == "Revenue"
        assert catalog.ready_ids([rec.doc_id, "nope"]) == {rec.doc_id: "a.pdf"}

    def test_a_begun_document_is_invisible_until_committed(self, catalog: Catalog) -> None:
        rec = write_document(catalog, "half.pdf", ["Begun only"], ready=False)
        assert catalog.document("half.pdf") is None and catalog.documents() == []
        assert [r.doc_id for r in catalog.unfinished()] == [rec.doc_id]
        catalog.delete_document(rec.doc_id)
        assert catalog.unfinished() == [] and catalog.all_doc_ids() == set()

    def test_a_new_version_replaces_the_old_and_the_generation_moves(self, catalog: Catalog) -> None:
        before = catalog.generation()
        old = write_document(catalog, "r.pdf", ["First version"], doc_id="0000000000000001")
        assert catalog.generation() > before
        new = write_document(catalog, "r.pdf", ["Second version"], doc_id="0000000000000002")
        assert [d.doc_id for d in catalog.documents()] == [new.doc_id]
        assert [r.doc_id for r in catalog.unfinished()] == [old.doc_id]  # marked deleting, purged by the store
        at = catalog.generation()
        catalog.delete_document(old.doc_id)
        assert catalog.generation() > at and catalog.all_doc_ids() == {new.doc_id}

    def test_abbreviations_differing_in_case_are_one(self, catalog: Catalog) -> None:
        write_document(catalog, "a.pdf", ["x"], abbreviations={"EBITDA": "earnings before interest", "ebitda": "earnings before interest"})
        assert catalog.abbreviations(["EBITDA"]) == {"ebitda": "earnings before interest"}

    def test_meta_is_set_once_by_add_and_replaced_by_set(self, catalog: Catalog) -> None:
        catalog.add_meta({"store_id": "first"})
        catalog.add_meta({"store_id": "second"})
        assert catalog.get_meta("store_id") == "first"
        catalog.set_meta("store_id", "third")
        assert catalog.get_meta("store_id") == "third" and catalog.get_meta("absent") is None

    def test_a_transaction_that_fails_leaves_nothing(self, catalog: Catalog) -> None:
        with pytest.raises(RuntimeError), catalog.transaction() as db:
            db.execute("INSERT INTO meta(key, value) VALUES (?, ?)", ("half", "written"))
            raise RuntimeError
        assert catalog.get_meta("half") is None

    def test_writers_exclude_each_other_and_the_waiting_one_is_told(self, catalog: Catalog, other_catalog: Catalog) -> None:
        """``other_catalog``: the same catalog opened again (another process, another machine)."""
        waits: list[str] = []
        order: list[str] = []
        with catalog.exclusive(5, lambda: waits.append("first")):
            order.append("first in")

            def second() -> None:
                with other_catalog.exclusive(30, lambda: waits.append("second")):
                    order.append("second in")

            thread = threading.Thread(target=second)
            thread.start()
            deadline = time.monotonic() + 30
            while not waits and time.monotonic() < deadline:  # until the second writer has found the lock taken
                time.sleep(0.01)
            assert order == ["first in"] and waits == ["second"]
            order.append("first out")
        thread.join(30)
        assert order == ["first in", "first out", "second in"]
        with catalog.exclusive(5, lambda: None), pytest.raises(TimeoutError):
            with other_catalog.exclusive(0.3, lambda: None):
                pass

    def test_threads_of_one_process_exclude_each_other(self, catalog: Catalog) -> None:
        """Two request threads of one server writing at once (a lock held per connection would let both in, and one's
        recovery would purge the other's document half-way through its commit)."""
        inside: list[int] = []
        overlaps: list[int] = []

        def writer() -> None:
            for _ in range(5):
                with catalog.exclusive(30, lambda: None):
                    inside.append(1)
                    overlaps.append(len(inside))
                    time.sleep(0.02)
                    inside.pop()

        threads = [threading.Thread(target=writer) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(overlaps) == 15 and max(overlaps) == 1

    def test_another_opening_sees_a_replacement(self, catalog: Catalog, other_catalog: Catalog) -> None:
        write_document(catalog, "r.pdf", ["First version"], doc_id="0000000000000001")
        assert other_catalog.document("r.pdf").doc_id == "0000000000000001"  # type: ignore[union-attr]
        write_document(catalog, "r.pdf", ["Second version"], doc_id="0000000000000002")
        assert other_catalog.document("r.pdf").doc_id == "0000000000000002"  # type: ignore[union-attr]
        assert other_catalog.generation() == catalog.generation()

    def test_a_job_is_claimed_once_and_taken_over_when_its_runner_is_silent(self, catalog: Catalog,
                                                                           other_catalog: Catalog) -> None:
        now = time.time()
        catalog.put_job(JobRecord("job1", "queued", now, now, {"files": ["a.pdf"]}))
        catalog.put_job(JobRecord("job0", "done", now - 5, now - 5, {}))
        claimed = other_catalog.claim_job("job1", stale_before=now - 60)
        assert claimed is not None and claimed.state == "running" and claimed.data == {"files": ["a.pdf"]}
        assert catalog.claim_job("job1", stale_before=now - 60) is None  # another opening: already taken
        assert catalog.claim_job("job0", stale_before=now + 60) is None  # finished jobs are never taken
        assert [j.id for j in catalog.jobs(states=("queued", "running"))] == ["job1"]
        assert [j.id for j in catalog.jobs()] == ["job1", "job0"]  # newest first
        catalog.put_job(JobRecord("job1", "running", now, now - 120, claimed.data))  # its runner went silent
        catalog.touch_job("job0")  # a finished job is not brought back to life by a beat
        assert catalog.job("job0").state == "done"  # type: ignore[union-attr]
        assert other_catalog.claim_job("job1", stale_before=now - 60) is not None  # taken over


class LexicalContract:
    """BM25 over ready documents' passages, term statistics and cards."""

    @pytest.fixture
    def catalog(self) -> Catalog:
        raise NotImplementedError("give the contract a `catalog` fixture returning an empty Catalog")

    def _shelf(self, catalog: Catalog) -> dict[str, str]:
        filler = ["The board met in the spring to discuss the budget and staffing plans for the year ahead."] * 6
        a = write_document(catalog, "a.pdf", ["Quokka sightings rose sharply on the island this quarter.", *filler],
                           organisations=("Acme Holdings, Inc.",))
        b = write_document(catalog, "b.pdf", ["Revenue from quokka tours was modest; wombat tours led.", "Wombat burrows"],
                           organisations=("Globex Corporation",))
        write_document(catalog, "c.pdf", ["Quokka quokka quokka"], ready=False)  # never made visible
        return {"a": a.doc_id, "b": b.doc_id}

    def test_bm25_ranks_ready_passages_and_skips_the_rest(self, catalog: Catalog) -> None:
        ids = self._shelf(catalog)
        hits = catalog.lexical(["quokka", "sightings"], 5)
        assert [(h.doc_id, h.page) for h in hits][:2] == [(ids["a"], 1), (ids["b"], 1)]
        assert hits[0].bm25 < hits[1].bm25 < 0  # FTS5's convention: negative, lower is better
        assert {h.doc_id for h in catalog.lexical(["quokka"], 10)} == {ids["a"], ids["b"]}  # c.pdf is not ready
        assert sorted(h.page for h in catalog.lexical(["wombat"], 5)) == [1, 2]  # both of b.pdf's pages, in either order
        assert catalog.lexical(["zebra"], 5) == []

    def test_words_are_stemmed_and_folded(self, catalog: Catalog) -> None:
        ids = self._shelf(catalog)
        assert catalog.lexical(["sighting"], 5)[0].doc_id == ids["a"]  # "sightings" stemmed
        assert catalog.lexical(["QUOKKA"], 5)

    def test_a_scope_narrows_by_document_and_page(self, catalog: Catalog) -> None:
        ids = self._shelf(catalog)
        assert {h.doc_id for h in catalog.lexical(["quokka"], 5, SearchScope(doc_ids=(ids["b"],)))} == {ids["b"]}
        assert catalog.lexical(["quokka"], 5, SearchScope(doc_ids=())) == []
        assert [h.page for h in catalog.lexical(["wombat"], 5, SearchScope(pages=(2, 2)))] == [2]
        assert catalog.lexical(["quokka"], 5, SearchScope(kind="image")) == []

    def test_a_removed_document_is_not_found(self, catalog: Catalog) -> None:
        ids = self._shelf(catalog)
        catalog.delete_document(ids["b"])
        assert {h.doc_id for h in catalog.lexical(["quokka", "wombat"], 10)} == {ids["a"]}
        assert catalog.term_stats(["wombat"]).holding["wombat"] == 0

    def test_term_statistics_count_passages_and_find_a_misspelling(self, catalog: Catalog) -> None:
        self._shelf(catalog)
        stats = catalog.term_stats(["quokka", "budget", "wombat", "quokak"])
        assert stats.passages == 9  # ready documents' passages
        assert stats.holding["quokka"] == 2 and stats.holding["budget"] == 6 and stats.holding["wombat"] == 2
        assert stats.near == {"quokak": "quokka"} and stats.idf("quokka") > stats.idf("budget")

    def test_cards_are_found_by_name_and_by_what_they_are_about(self, catalog: Catalog) -> None:
        ids = self._shelf(catalog)
        scores = catalog.card_scores([], {"acme"})
        assert set(scores) == {ids["a"]} and scores[ids["a"]] > 0
        assert set(catalog.card_scores([], {"globex"})) == {ids["b"]}
        assert catalog.card_scores(["2023"], set()) == {}  # every card says it: it tells no document apart

    def test_a_misspelt_name_finds_its_card(self, catalog: Catalog) -> None:
        ids = self._shelf(catalog)
        assert set(catalog.card_scores([], {"globbex"})) == {ids["b"]}  # "Globbex's revenue": Globex Corporation
        assert catalog.card_scores([], {"glacier"}) == {}  # nothing alike enough: no card
        write_document(catalog, "d.pdf", ["Quarterly media plan."], organisations=("Sightinger Media",))
        assert catalog.card_scores([], {"sightinger"})  # the card's own name
        # a word the passages print ("Sightings rose ...") is a word, not a misspelt name
        assert catalog.card_scores([], {"sightings"}) == {}
