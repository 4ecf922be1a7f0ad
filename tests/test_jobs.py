"""Indexing as jobs (docagent.index.jobs): files handed in are indexed in the background, their progress in the store's
catalog; a job whose runner died is taken over by another runner of the same store and completed."""

from __future__ import annotations

import time
from pathlib import Path

from docagent.config import Settings
from docagent.index.catalog import JobRecord
from docagent.index.jobs import IndexJobs
from docagent.index.store import PageStore
from tests import factories


def test_a_job_is_run_in_the_background_and_its_progress_and_report_are_in_the_catalog(
        store: PageStore, docs_dir: Path) -> None:
    a = factories.text_pdf(docs_dir / "ferry.pdf", ["The last ferry leaves at 22:40."])
    b = factories.text_pdf(docs_dir / "menu.pdf", ["Soup of the day: lentil."])
    jobs = IndexJobs(store, poll=0.2).start()
    try:
        job_id = jobs.submit([a, b], rejected=[{"file": "x.exe", "error": "not a document", "status": 415}])
        a.unlink()
        b.unlink()  # the job holds its own copy of the bytes (in the store's blob store)
        done = jobs.wait(job_id, timeout=120)
    finally:
        jobs.close()
    assert done.state == "done" and done.data["done"] == done.data["total"] == 2
    assert done.data["indexed"]["documents"] == 2 and [r["file"] for r in done.data["rejected"]] == ["x.exe"]
    assert [d.name for d in store.documents()] == ["ferry.pdf", "menu.pdf"]
    assert [j.id for j in jobs.recent()] == [job_id]
    assert not list(store.blobs.list_keys("uploads/"))  # the staged copies are gone once the job is done


def test_a_job_whose_runner_died_is_taken_over_by_another_and_completed(settings: Settings, embedder,
                                                                       docs_dir: Path) -> None:
    pdf = factories.text_pdf(docs_dir / "vault.pdf", ["The vault code is 4471."])
    with PageStore(settings, embedder=embedder) as first:
        job_id = IndexJobs(first).submit([pdf])
        # the first runner claimed it and was killed before finishing: running, and silent since
        claimed = first.catalog.claim_job(job_id, stale_before=time.time() - 60)
        assert claimed is not None and claimed.state == "running"
        assert first.catalog.claim_job(job_id, stale_before=time.time() - 60) is None  # one claim wins
        record = first.catalog.job(job_id)
        assert record is not None
        first.catalog.put_job(JobRecord(job_id, "running", record.created, time.time() - 120, record.data))
    pdf.unlink()
    with PageStore(settings, embedder=embedder) as second:
        jobs = IndexJobs(second, silence=60, poll=0.2)
        stale = jobs.get(job_id)
        assert stale is not None and jobs.stalled(stale)
        jobs.start()
        try:
            done = jobs.wait(job_id, timeout=120)
        finally:
            jobs.close()
        assert done.state == "done" and done.data["indexed"]["documents"] == 1
        assert "4471" in second.page("vault.pdf", 1).text


def test_a_job_that_cannot_run_fails_saying_why_and_leaves_nothing_staged(store: PageStore, docs_dir: Path) -> None:
    a = factories.text_pdf(docs_dir / "a.pdf", ["Alpha."])
    b = factories.text_pdf(docs_dir / "b.pdf", ["Beta."])
    jobs = IndexJobs(store)
    job_id = jobs.submit([a, b])
    store.blobs.delete(f"uploads/{job_id}/b.pdf")  # a staged copy lost (a bucket emptied by hand)
    failed = jobs.run(job_id)
    assert failed is not None and failed.state == "failed" and failed.data["error"]
    assert not list(store.blobs.list_keys("uploads/"))  # failed is final: its staged files are removed
    assert jobs.run(job_id) is None  # and nobody runs it again


def test_any_failure_ends_the_job_failed_and_a_long_queue_is_not_called_stalled(
        store: PageStore, docs_dir: Path, monkeypatch) -> None:
    from docagent.index import jobs as jobs_module  # (``docagent.index`` the attribute is the function)

    a = factories.text_pdf(docs_dir / "a.pdf", ["Alpha."])
    jobs = IndexJobs(store, silence=60)
    job_id = jobs.submit([a])
    queued = jobs.get(job_id)
    assert queued is not None
    old = JobRecord(job_id, "queued", queued.created - 3600, queued.updated - 3600, queued.data)
    store.catalog.put_job(old)
    assert not jobs.stalled(old)  # waiting an hour behind other work is waiting, not a dead runner

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database disk image is malformed")

    monkeypatch.setattr(jobs_module, "index_paths", broken)
    failed = jobs.wait(job_id, timeout=60)  # no runner started: run here
    assert failed.state == "failed" and "malformed" in failed.data["error"]
    assert not list(store.blobs.list_keys("uploads/"))
