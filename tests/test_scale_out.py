"""One store across machines: the catalog on PostgreSQL, vectors on a Chroma server, file copies and page images in S3
(SeaweedFS), all real servers on loopback; each "machine" is a PageStore with a local folder of its own."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docagent.config import Settings
from docagent.errors import StoreError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from tests import factories
from tests.servers import Postgres, SeaweedS3, chroma, postgres, seaweed

pytestmark = pytest.mark.slow  # starts real servers (see CONTRIBUTING.md: slow tests)


@dataclass(frozen=True)
class Servers:
    pg: Postgres
    s3: SeaweedS3
    chroma_url: str


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with postgres() as pg, seaweed(tmp_path_factory.mktemp("seaweed")) as s3, chroma(tmp_path_factory.mktemp("chroma")) as url:
        yield Servers(pg, s3, url)


_stores = itertools.count()


@pytest.fixture
def shared(servers: Servers) -> str:
    """A new store on the servers: its database and bucket name."""
    name = f"store{next(_stores)}"
    servers.pg.create_database(name)
    return name


def machine(servers: Servers, store: str, folder: Path, **more: object) -> Settings:
    """The settings a machine uses to open the shared store ``store``; ``folder`` is its own local disk."""
    return Settings(store=folder, catalog_url=servers.pg.url(store), chroma_url=servers.chroma_url,
                    blob_url=f"s3://{store}/docs", s3_endpoint_url=servers.s3.endpoint_url,
                    s3_access_key_id=servers.s3.access_key_id, s3_secret_access_key=servers.s3.secret_access_key, **more)


def test_a_reader_on_another_machine_sees_documents_pages_and_a_replacement(servers: Servers, shared: str, tmp_path: Path,
                                                                           embedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    factories.text_pdf(docs / "ferry.pdf", ["Timetable.", "The last ferry to the island leaves at 22:40 on Saturdays."])
    factories.text_pdf(docs / "menu.pdf", ["Soup of the day: lentil."])
    writer = machine(servers, shared, tmp_path / "writer")
    report = index_paths([docs], writer, progress=False)
    assert report.documents == 2 and not report.failed
    assert not (tmp_path / "writer" / "catalog.sqlite").exists() and not (tmp_path / "writer" / "chroma").exists()
    with PageStore(machine(servers, shared, tmp_path / "reader"), embedder=embedder) as reader:
        assert [d.name for d in reader.documents()] == ["ferry.pdf", "menu.pdf"]
        hit = PageRetriever(store=reader, k=1).search("when does the last boat leave")[0]
        assert (hit.doc, hit.page) == ("ferry.pdf", 2)
        image = reader.page_image("ferry.pdf", 2)  # drawn from the file copy in S3, kept in the reader's cache
        assert image.read_bytes().startswith(b"\x89PNG") and str(tmp_path / "reader") in str(image.path())
        # a hit names its image by reference: a third machine, its cache empty, reads the same bytes from S3
        with PageStore(machine(servers, shared, tmp_path / "viewer"), embedder=embedder) as viewer:
            assert viewer.image_bytes(hit.image.uri) == hit.image.read_bytes()
            assert str(tmp_path / "viewer") in str(viewer.image_file(hit.image.uri))
        first = reader.document("ferry.pdf")
        assert first is not None
        factories.text_pdf(docs / "ferry.pdf", ["Timetable.", "From May the last ferry leaves at 23:10."])
        assert index_paths([docs / "ferry.pdf"], writer, progress=False).replaced == ["ferry.pdf"]
        now = reader.document("ferry.pdf")
        assert now is not None and now.doc_id != first.doc_id
        with pytest.raises(StoreError, match="replaced or removed"):
            reader.image_bytes(image.uri)  # the old version's image is never served as the new one's
        hit = PageRetriever(store=reader, k=1).search("when does the last boat leave")[0]
        assert (hit.doc, hit.page) == ("ferry.pdf", 2) and "23:10" in reader.page("ferry.pdf", 2).text
        assert not list(reader.blobs.list_keys(f"pages/{first.doc_id}/"))  # the old version's bytes are gone
        assert reader.audit() == []
        with PageStore(writer, embedder=embedder) as store:
            assert store.remove(["menu.pdf"]) == (["menu.pdf"], [])
        assert [d.name for d in reader.documents()] == ["ferry.pdf"]
        assert all(h.doc != "menu.pdf" for h in PageRetriever(store=reader, k=5).search("soup lentil"))
        assert reader.audit() == []


def test_a_blob_written_whose_commit_was_lost_is_never_served_and_is_cleaned(servers: Servers, shared: str,
                                                                            tmp_path: Path, embedder,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = factories.text_pdf(tmp_path / "lost.pdf", ["The vault code is 4471."])
    settings = machine(servers, shared, tmp_path / "a", render="eager")
    with PageStore(settings, embedder=embedder) as store:
        def dies(*args: object, **kwargs: object) -> list[str]:
            raise KeyboardInterrupt  # the process dies between the bytes and the rows

        monkeypatch.setattr(store.catalog, "commit_document", dies)
        with pytest.raises(KeyboardInterrupt):
            index_paths([pdf], store=store, progress=False)
        written = sorted(store.blobs.list_keys())
        assert any(k.startswith("files/") for k in written) and any(k.startswith("pages/") for k in written)
    with PageStore(machine(servers, shared, tmp_path / "b"), embedder=embedder) as other:
        assert other.documents() == [] and PageRetriever(store=other, k=3).search("vault code") == []
        with pytest.raises(StoreError, match="not in the store"):
            other.page_image("lost.pdf", 1)
        assert other.audit() != []  # the interrupted version is reported
        report = index_paths([pdf], store=other, progress=False)  # the next run cleans up and completes
        assert report.documents == 1
        ready = other.document("lost.pdf")
        assert ready is not None
        assert {k.split("/")[1].split(".")[0] for k in other.blobs.list_keys()} == {ready.doc_id}
        assert other.audit() == []


def test_an_unreachable_catalog_is_a_store_error_that_says_what_to_check(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"PostgreSQL catalog at postgresql://u:\*\*\*@127\.0\.0\.1:9/x.*DOCAGENT_CATALOG_URL"):
        PageStore(Settings(store=tmp_path, catalog_url="postgresql://u:secret@127.0.0.1:9/x"))


def test_doctor_names_each_backend_and_whether_it_is_reachable(servers: Servers, shared: str, tmp_path: Path) -> None:
    from docagent.doctor import run_checks

    up = {c.name: c for c in run_checks(machine(servers, shared, tmp_path / "m"))}
    assert all(up[n].ok for n in ("catalog", "lexical", "vectors", "blobs", "cluster")), up
    assert up["catalog"].detail.startswith("PostgreSQL at postgresql://") and "BM25 in SQL" in up["lexical"].detail
    assert up["vectors"].detail.startswith(f"Chroma server {servers.chroma_url}")
    assert up["blobs"].detail.startswith(f"S3 object storage s3://{shared}/docs")
    down = {c.name: c for c in run_checks(Settings(store=tmp_path / "d", catalog_url="postgresql://u:pw@127.0.0.1:9/x",
                                                   blob_url="s3://b/p", s3_endpoint_url="http://127.0.0.1:9",
                                                   ray_address="127.0.0.1:9"))}
    assert not down["catalog"].ok and "DOCAGENT_CATALOG_URL" in down["catalog"].fix and "pw" not in down["catalog"].detail
    assert not down["blobs"].ok and "DOCAGENT_S3_ENDPOINT_URL" in down["blobs"].fix
    assert not down["cluster"].ok and "ray start --head" in down["cluster"].fix


def test_store_copy_moves_an_embedded_store_onto_the_servers_and_back(servers: Servers, shared: str, tmp_path: Path,
                                                                      embedder, capfd: pytest.CaptureFixture[str]) -> None:
    from docagent.cli import main

    docs = tmp_path / "docs"
    docs.mkdir()
    factories.text_pdf(docs / "ferry.pdf", ["Timetable.", "The last ferry to the island leaves at 22:40 on Saturdays."])
    factories.text_image(["Scanned receipt 4471", "Total 12.50"], size=(500, 200)).save(docs / "receipt.png")
    embedded = tmp_path / "embedded"
    assert index_paths([docs], Settings(store=embedded), progress=False).documents == 2
    cluster = tmp_path / "cluster.env"
    env = machine(servers, shared, tmp_path / "copier")
    cluster.write_text("\n".join([f"DOCAGENT_STORE={env.store}", f"DOCAGENT_CATALOG_URL={env.catalog_url}",
                                  f"DOCAGENT_CHROMA_URL={env.chroma_url}", f"DOCAGENT_BLOB_URL={env.blob_url}",
                                  f"DOCAGENT_S3_ENDPOINT_URL={env.s3_endpoint_url}",
                                  f"DOCAGENT_S3_ACCESS_KEY_ID={env.s3_access_key_id}",
                                  f"DOCAGENT_S3_SECRET_ACCESS_KEY={servers.s3.secret_access_key}"]))
    capfd.readouterr()
    code = main(["store", "copy", str(embedded), str(cluster), "--json"])
    import json

    out = json.loads(capfd.readouterr().out)
    assert code == 0 and out["ok"], out
    assert sorted(out["copied"]) == ["ferry.pdf", "receipt.png"]
    assert out["counts"]["vectors"]["src"] == out["counts"]["vectors"]["dst"] > 0 and all(s["same"] for s in out["searches"])
    with PageStore(machine(servers, shared, tmp_path / "reader"), embedder=embedder) as reader:
        hit = PageRetriever(store=reader, k=1).search("when does the last boat leave")[0]
        assert (hit.doc, hit.page) == ("ferry.pdf", 2)
        assert reader.page("receipt.png", 1).ocr and "4471" in reader.page("receipt.png", 1).text
        assert reader.page_image("receipt.png", 1).read_bytes().startswith(b"\x89PNG")  # the OCR'd image came along
    assert main(["store", "copy", str(embedded), str(cluster), "--json"]) == 0  # again: nothing to do
    assert json.loads(capfd.readouterr().out)["skipped"] == ["ferry.pdf", "receipt.png"]
    back = tmp_path / "back"
    assert main(["store", "copy", str(cluster), str(back), "--json"]) == 0
    assert json.loads(capfd.readouterr().out)["ok"]
    with PageStore(Settings(store=back), embedder=embedder) as store:
        assert [d.name for d in store.documents()] == ["ferry.pdf", "receipt.png"] and store.audit() == []
