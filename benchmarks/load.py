"""The HTTP server under mixed load beside a second writer process, as a busy team would use it. Run by hand.

    python benchmarks/load.py                        # 8 workers x 60 s, this checkout
    python benchmarks/load.py --against 4b71f0f      # the same load on an older revision, side by side

A real `docagent serve` process over a store of generated PDFs; 8 client threads send a mix of searches,
page images (cold and warm), questions (plain and streamed; no model on this machine, so retrieval-only),
extractions, uploads and removals; meanwhile a second process indexes and removes documents of its own on
the same store (the replace-a-changed-file case included). Counted: responses by status (5xx must be 0),
truncated bodies (a PNG without its end, a stream without its answer, a short read), the server's RSS over
time (after warm-up it must stay within 10%), and afterwards whether the store is consistent: the
catalog's documents, the vectors, the lexical index and the stored files name the same documents.
Prints a table and writes benchmarks/results/load-<time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]

WORDS = ["zebra", "river", "delta", "invoice", "quarterly", "revenue", "lattice", "coherence", "harbour", "freight", "tariff", "census", "orchard", "glacier", "ledger", "audit", "pension", "turbine", "reactor", "vaccine"]


def make_pdf(path: Path, seed: int, pages: int = 3) -> Path:
    import pymupdf

    rng = random.Random(seed)
    doc = pymupdf.open()
    for p in range(pages):
        page = doc.new_page()
        text = " ".join(rng.choice(WORDS) for _ in range(120))
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), f"Document {seed} page {p + 1}. {text}", fontsize=10)
    doc.save(path)
    doc.close()
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------- the second writer


def writer(store: Path, folder: Path, seconds: float) -> None:
    """Index and remove documents of its own, in a loop, through the library (a second process)."""
    from docagent.config import Settings
    from docagent.index.indexer import index_paths
    from docagent.index.store import PageStore

    deadline = time.monotonic() + seconds
    rounds = 0
    with PageStore(Settings(store=store)) as st:
        while time.monotonic() < deadline:
            name = f"writer-{rounds % 3}.pdf"
            make_pdf(folder / name, 1000 + rounds)  # changed content under the same name: a replacement
            index_paths([folder / name], store=st, progress=False)
            if rounds % 4 == 3:
                st.remove([f"writer-{(rounds - 1) % 3}.pdf"])
            rounds += 1
    print(json.dumps({"writer_rounds": rounds}))


# ------------------------------------------------------------------------------------ the clients


class Load:
    def __init__(self, url: str, folder: Path, seed: int) -> None:
        self.url, self.folder = url, folder
        self.rng = random.Random(seed)
        self.statuses: Counter[str] = Counter()
        self.truncated = 0
        self.errors: list[str] = []
        self.uploaded: list[str] = []
        self.lock = threading.Lock()
        self.counter = 0
        self.seconds: dict[str, list[float]] = {}

    def record(self, op: str, status: int | str, problem: str | None = None) -> None:
        with self.lock:
            self.statuses[f"{op} {status}"] += 1
            if problem and len(self.errors) < 40:
                self.errors.append(f"{op}: {problem}")

    def docs(self, client: httpx.Client) -> list[dict[str, Any]]:
        r = client.get("/documents")
        return r.json()["documents"] if r.status_code == 200 else []

    def one(self, client: httpx.Client, rng: random.Random) -> None:
        op = rng.choices(["search", "page", "ask", "stream", "extract", "upload", "delete"],
                         weights=[35, 20, 12, 6, 7, 12, 8])[0]
        t0 = time.perf_counter()
        try:
            if op == "search":
                r = client.get("/search", params={"q": " ".join(rng.sample(WORDS, 3)), "k": 5})
            elif op == "page":
                docs = self.docs(client)
                if not docs:
                    return
                d = rng.choice(docs)
                r = client.get(f"/documents/{d['doc']}/pages/{rng.randint(1, d['pages'])}.png")
                if r.status_code == 200 and not r.content.endswith(b"IEND\xaeB`\x82"):
                    with self.lock:
                        self.truncated += 1
            elif op == "ask":
                r = client.post("/ask", json={"question": f"What about the {rng.choice(WORDS)}?", "k": 3})
            elif op == "stream":
                with client.stream("POST", "/ask", json={"question": f"Which {rng.choice(WORDS)}?", "stream": True}) as r:
                    body = r.read().decode()
                if r.status_code == 200 and "event: answer" not in body:
                    with self.lock:
                        self.truncated += 1
            elif op == "extract":
                docs = self.docs(client)
                if not docs:
                    return
                r = client.post("/extract", json={"docs": [rng.choice(docs)["doc"]], "use_model": False,
                                                  "fields": [{"name": "total", "type": "decimal"}]})
            elif op == "upload":
                with self.lock:
                    self.counter += 1
                    n = self.counter
                path = make_pdf(self.folder / f"up-{n}.pdf", n, pages=rng.randint(1, 4))
                with path.open("rb") as f:
                    r = client.post("/documents", files=[("files", (path.name, f, "application/pdf"))])
                path.unlink()
                if r.status_code == 200:
                    with self.lock:
                        self.uploaded.append(path.name)
            else:
                with self.lock:
                    name = self.uploaded.pop(rng.randrange(len(self.uploaded))) if self.uploaded else None
                if name is None:
                    return
                r = client.delete(f"/documents/{name}")
        except (httpx.TransportError, httpx.DecodingError) as e:
            with self.lock:
                self.truncated += 1
            self.record(op, "dropped", f"{type(e).__name__}: {e}")
            return
        self.record(op, r.status_code, r.text[:300] if r.status_code >= 500 else None)
        with self.lock:
            self.seconds.setdefault(op, []).append(time.perf_counter() - t0)

    def run(self, workers: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds

        def work(i: int) -> None:
            rng = random.Random(self.rng.random() + i)
            with httpx.Client(base_url=self.url, timeout=120) as client:
                while time.monotonic() < deadline:
                    self.one(client, rng)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def consistency(store: Path) -> dict[str, Any]:
    """Whether catalog, vectors, lexical index and files agree, read by a fresh process's view."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    db = sqlite3.connect(store / "catalog.sqlite")
    ready = {r[0] for r in db.execute("SELECT doc_id FROM documents WHERE status = 'ready'")}
    other = db.execute("SELECT count(*) FROM documents WHERE status != 'ready'").fetchone()[0]
    lexical = {r[0] for r in db.execute("SELECT DISTINCT doc_id FROM passages")}
    fts = db.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
    passages = db.execute("SELECT count(*) FROM passages").fetchone()[0]
    store_id = db.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0]
    client = chromadb.PersistentClient(path=str(store / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    got = client.get_collection(f"docagent_{store_id}").get(include=["metadatas"])
    vectors = {m["doc_id"] for m in got["metadatas"]}
    files = {p.name.split(".", 1)[0] for p in (store / "files").iterdir()}
    ok = ready == lexical == vectors == files and other == 0 and fts == passages == len(got["ids"])
    return {"consistent": ok, "documents": len(ready), "not_ready_rows": other, "passages": passages,
            "fts_rows": fts, "vectors": len(got["ids"]), "docs_only_in_vectors": len(vectors - ready),
            "docs_only_in_catalog": len(ready - vectors), "files_mismatch": len(files ^ ready)}


def run(code: Path, workers: int, seconds: float, seed: int, label: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        tmp_path = Path(tmp)
        store, docs, mine = tmp_path / "store", tmp_path / "docs", tmp_path / "writer"
        docs.mkdir()
        mine.mkdir()
        for i in range(20):
            make_pdf(docs / f"doc-{i}.pdf", i, pages=4)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCAGENT_")}
        env.update(PYTHONPATH=str(code), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        subprocess.run([sys.executable, "-m", "docagent", "index", str(docs), "--store", str(store), "-q"],
                       cwd=code, env=env, check=True, capture_output=True)
        port = free_port()
        log = (ROOT / "benchmarks" / "results" / f"load-server-{label.replace(' ', '-')}.log").open("w")
        server = subprocess.Popen([sys.executable, "-m", "docagent", "serve", "--port", str(port), "--store", str(store)],
                                  cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start; see {log.name}")
                time.sleep(0.3)
            # warm up outside the clock: the embedding model loads on the first search, the (absent) model is
            # tried on the first question
            httpx.get(url + "/search", params={"q": "warm up"}, timeout=600)
            httpx.post(url + "/ask", json={"question": "warm up"}, timeout=600)
            proc = psutil.Process(server.pid)
            rss: list[tuple[float, float]] = []
            stop = threading.Event()

            def sample() -> None:
                start = time.monotonic()
                while not stop.wait(1.0):
                    with contextlib.suppress(psutil.Error):
                        rss.append((time.monotonic() - start, proc.memory_info().rss / 2**20))

            sampler = threading.Thread(target=sample)
            sampler.start()
            second = subprocess.Popen([sys.executable, __file__, "--writer", str(store), "--folder", str(mine),
                                       "--seconds", str(seconds)], cwd=code, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            load = Load(url, docs, seed)
            t0 = time.monotonic()
            load.run(workers, seconds)
            elapsed = time.monotonic() - t0
            out, err = second.communicate(timeout=600)
            stop.set()
            sampler.join()
        finally:
            server.terminate()
            server.wait(30)
            log.close()
        total = sum(load.statuses.values())
        errors_5xx = sum(n for k, n in load.statuses.items() if k.split()[-1].startswith("5"))
        warm = [m for t, m in rss if t >= seconds * 0.25]
        return {
            "requests": total, "requests_per_s": round(total / elapsed, 1), "responses_5xx": errors_5xx,
            "dropped": sum(n for k, n in load.statuses.items() if k.endswith("dropped")),
            "truncated": load.truncated, "statuses": dict(sorted(load.statuses.items())),
            "rss_mb_start": round(rss[0][1]) if rss else None,
            "rss_mb_after_warmup": round(warm[0]) if warm else None,
            "rss_mb_end": round(rss[-1][1]) if rss else None,
            "rss_growth_after_warmup": round(warm[-1] / warm[0] - 1, 3) if warm else None,
            "rss_mb_every_10s": [round(m) for t, m in rss[::10]],
            "writer": (json.loads(out.strip().splitlines()[-1]) if second.returncode == 0 and out.strip()
                       else {"failed": err[-1500:]}),
            "store": consistency(store), "first_errors": load.errors[:15],
            "latency_ms": {op: {"n": len(v), "p50": round(sorted(v)[len(v) // 2] * 1000),
                                "p95": round(sorted(v)[int(len(v) * 0.95)] * 1000)} for op, v in sorted(load.seconds.items())},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--against", metavar="REV", help="also load docagent as of this git revision, side by side")
    parser.add_argument("--writer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:  # runs the docagent on PYTHONPATH: the revision under test
        writer(args.writer, args.folder, args.seconds)
        return
    sys.path.append(str(ROOT))
    from benchmarks.common import checkout, write_results
    runs = {"this checkout": ROOT}
    if args.against:
        runs[args.against] = checkout(args.against)
    results: dict[str, Any] = {"workers": args.workers, "seconds": args.seconds, "seed": args.seed, "runs": {}}
    for name, code in runs.items():
        print(f"loading {name} ...", flush=True)
        results["runs"][name] = run(code, args.workers, args.seconds, args.seed, name)
    print(f"\n{'revision':<16} {'requests':>8} {'req/s':>6} {'5xx':>5} {'dropped':>7} {'truncated':>9} "
          f"{'RSS start/warm/end MB':>22} {'growth':>7} {'store':>12}")
    for name, r in results["runs"].items():
        rss = f"{r['rss_mb_start']}/{r['rss_mb_after_warmup']}/{r['rss_mb_end']}"
        store = "consistent" if r["store"]["consistent"] else "INCONSISTENT"
        print(f"{name:<16} {r['requests']:>8} {r['requests_per_s']:>6} {r['responses_5xx']:>5} {r['dropped']:>7} "
              f"{r['truncated']:>9} {rss:>22} {r['rss_growth_after_warmup']:>7} {store:>12}")
        print("    latency p50/p95 ms: " + ", ".join(f"{op} {v['p50']}/{v['p95']}" for op, v in r["latency_ms"].items()))
        for line in r["first_errors"][:5]:
            print(f"    {line}")
    write_results("load", results)


if __name__ == "__main__":
    main()
