"""One store on servers, under load and under kills, all on loopback: PostgreSQL (catalog), a Chroma server (vectors),
SeaweedFS (S3 blobs), a Ray head with 2 CPUs (2 extracting workers), 2 API replicas (`docagent serve`).

    python benchmarks/cluster.py [--seconds 120] [--clients 8] [--kills 5]

1. Load: ``--clients`` threads send a mix for ``--seconds`` to the two replicas in turn (search, document list, page
   image, tables, upload-and-remove of a file of their own), while two ingest runs (``docagent index --ray``) keep adding
   and replacing documents of their own folders. Counted: responses by status (a 5xx is a failure), and results naming
   a document removed before the request was sent (a failure). Afterwards the store must be consistent:
   ``PageStore.audit()`` (catalog = vectors = lexical index = blobs) finds nothing.
2. Kills, ``--kills`` times each, at seeded random moments: a Ray worker mid-document (the run must still index every
   file), an API replica (restarted; its clients see refused connections, never a 5xx from the other), the ingest driver
   (the next run must leave every file indexed). After each: the audit again.

Ray runs with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 so that every part of it stays on loopback. Prints a table, writes
benchmarks/results/cluster-<time>.json. Needs PostgreSQL (Debian's package) and the cluster extra; no data.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from common import ROOT, write_results

sys.path.insert(0, str(ROOT))

from tests import factories
from tests.processes import free_port
from tests.servers import chroma, postgres, ray_head, seaweed, stop

WORDS = ["heron", "ferry", "quarry", "turbine", "glacier", "lantern", "orchard", "harbour", "saffron", "meadow"]


def _pdf(path: Path, n: int, version: int) -> None:
    word = WORDS[n % len(WORDS)]
    factories.text_pdf(path, [f"Report {path.stem} version {version}: the {word} count was {n * 7 + version}.",
                              f"Second page of {path.stem}, about the {word}."])


def _serve(env: dict[str, str], port: int, store: Path) -> subprocess.Popen[bytes]:
    store.mkdir(parents=True, exist_ok=True)
    log = (store / "serve.log").open("a")  # kept for the errors summed up at the end
    proc = subprocess.Popen([sys.executable, "-m", "docagent", "serve", "--port", str(port)],
                            env={**env, "DOCAGENT_STORE": str(store)}, stdout=log, stderr=log)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit("an API replica did not come up")


def _index(env: dict[str, str], folder: Path, store: Path, ray: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "docagent", "index", str(folder), "--ray", ray, "-q", "--json"],
                            env={**env, "DOCAGENT_STORE": str(store)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _audit(env: dict[str, str], store: Path) -> list[str]:
    from docagent.config import Settings
    from docagent.index.store import PageStore

    os.environ.update(env)
    with PageStore(Settings(store=store)) as st:
        return st.audit()


def _ray_worker() -> int | None:
    found = subprocess.run(["pgrep", "-f", "ray::_ExtractingActor.extract"], capture_output=True, text=True,
                           check=False).stdout.split()
    return int(found[0]) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args()
    import httpx

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="docagent-cluster-"))
    result: dict = {"seconds": args.seconds, "clients": args.clients, "kills": args.kills}
    with ExitStack() as stack:
        pg = stack.enter_context(postgres())
        (work / "weed").mkdir()
        s3 = stack.enter_context(seaweed(work / "weed"))
        chroma_url = stack.enter_context(chroma(work / "chroma"))
        head = stack.enter_context(ray_head(cpus=2))
        env = {**os.environ, **head.env, "DOCAGENT_CATALOG_URL": pg.create_database("cluster"), "DOCAGENT_CHROMA_URL": chroma_url,
               "DOCAGENT_BLOB_URL": "s3://cluster/docs", "DOCAGENT_S3_ENDPOINT_URL": s3.endpoint_url,
               "DOCAGENT_S3_ACCESS_KEY_ID": s3.access_key_id, "DOCAGENT_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
               "DOCAGENT_OCR": "off", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        folders = [work / "ingest-a", work / "ingest-b"]
        for f in folders:
            f.mkdir()
        for i in range(12):
            _pdf(folders[i % 2] / f"{folders[i % 2].name}-{i}.pdf", i, 0)
        first = _index(env, work / "ingest-a", work / "driver", head.address)
        assert first.wait(600) == 0, first.stderr.read() if first.stderr else ""
        ports = [free_port(), free_port()]
        replicas = [_serve(env, port, work / f"replica{i}") for i, port in enumerate(ports)]

        # -- 1. load ----------------------------------------------------------------------------------
        statuses: Counter[str] = Counter()
        stale: list[str] = []
        removed: dict[str, float] = {}
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def client(c: int) -> None:
            local = random.Random(args.seed + c)
            n = 0
            with httpx.Client(timeout=120) as http:
                while time.monotonic() < stop_at:
                    base = f"http://127.0.0.1:{ports[n % 2]}"
                    n += 1
                    op = local.choice(["search", "search", "search", "list", "image", "tables", "upload"])
                    sent = time.time()
                    try:
                        if op == "search":
                            r = http.get(base + "/search", params={"q": f"{local.choice(WORDS)} count", "k": 5})
                            if r.status_code == 200:
                                with lock:
                                    gone = {d for d, t in removed.items() if t < sent}
                                stale.extend(h["doc"] for h in r.json()["results"] if h["doc"] in gone)
                        elif op == "list":
                            r = http.get(base + "/documents")
                        elif op in ("image", "tables"):
                            docs = http.get(base + "/documents").json()["documents"]
                            if not docs:
                                continue
                            name = local.choice(docs)["doc"]
                            r = http.get(base + (f"/documents/{name}/pages/1.png" if op == "image" else f"/documents/{name}/tables"))
                            if r.status_code == 404:  # replaced or removed meanwhile: said so, fine
                                statuses["404 (gone meanwhile)"] += 1
                                continue
                        else:
                            name = f"client{c}-{n}.pdf"
                            path = work / "uploads" / name
                            path.parent.mkdir(exist_ok=True)
                            _pdf(path, n, c)
                            r = http.post(base + "/documents", params={"wait": "true"},
                                          files=[("files", (name, path.read_bytes(), "application/pdf"))])
                            if r.status_code == 200:
                                d = http.delete(f"http://127.0.0.1:{ports[n % 2]}/documents/{name}")
                                statuses[f"DELETE {d.status_code}"] += 1
                                if d.status_code == 200:
                                    with lock:
                                        removed[name] = time.time()
                        statuses[f"{op} {r.status_code}"] += 1
                    except httpx.TransportError as e:
                        statuses[f"{op} {type(e).__name__}"] += 1

        def ingest(folder: Path, k: int) -> None:
            version = 1
            while time.monotonic() < stop_at:
                for i, pdf in enumerate(sorted(folder.glob("*.pdf"))):
                    if (i + version) % 2 == 0:
                        _pdf(pdf, i, version)  # replaced next run
                _pdf(folder / f"{folder.name}-new{version}.pdf", version, k)
                run = _index(env, folder, work / f"driver{k}", head.address)
                run.communicate(timeout=900)
                statuses[f"ingest exit {run.returncode}"] += 1
                version += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        threads += [threading.Thread(target=ingest, args=(f, k)) for k, f in enumerate(folders)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result["load"] = {"statuses": dict(statuses), "wall_s": time.monotonic() - t0,
                          "5xx": sum(v for k, v in statuses.items() if k.split()[-1].startswith("5")),
                          "results naming a removed document": len(stale), "audit": _audit(env, work / "auditor")}
        print(f"load: {dict(sorted(statuses.items()))}", flush=True)
        print(f"  5xx: {result['load']['5xx']}; results naming a removed document: {len(stale)}; "
              f"audit: {result['load']['audit'] or 'consistent'}", flush=True)

        # -- 2. kills --------------------------------------------------------------------------------
        kills: dict[str, list[dict]] = {"ray worker": [], "api replica": [], "ingest driver": []}
        for k in range(args.kills):
            for f in folders:
                for i, pdf in enumerate(sorted(f.glob("*.pdf"))):
                    _pdf(pdf, i, 100 + k)
            run = _index(env, folders[0], work / "killer", head.address)
            deadline, pid = time.monotonic() + 120, None
            while pid is None and time.monotonic() < deadline and run.poll() is None:
                pid = _ray_worker()
                time.sleep(0.05)
            if pid:
                time.sleep(rng.uniform(0, 0.5))
                os.kill(pid, signal.SIGKILL)
            out, _ = run.communicate(timeout=900)
            kills["ray worker"].append({"killed": bool(pid), "exit": run.returncode, "report": out.strip()[-300:]})

            victim = rng.randrange(2)
            load_errors: Counter[str] = Counter()
            with httpx.Client(timeout=60) as http:
                time_of_kill = time.monotonic() + rng.uniform(0.5, 2)
                while time.monotonic() < time_of_kill + 3:
                    if replicas[victim].poll() is None and time.monotonic() >= time_of_kill:
                        replicas[victim].kill()
                    for port in ports:
                        try:
                            load_errors[str(http.get(f"http://127.0.0.1:{port}/search", params={"q": "heron"}).status_code)] += 1
                        except httpx.TransportError as e:
                            load_errors[type(e).__name__] += 1
            if replicas[victim].poll() is None:  # the searches took the whole window: kill it now
                replicas[victim].kill()
            replicas[victim].wait()
            replicas[victim] = _serve(env, ports[victim], work / f"replica{victim}")
            kills["api replica"].append({"replica": victim, "responses": dict(load_errors)})

            run = _index(env, folders[1], work / "killer", head.address)
            time.sleep(rng.uniform(2, 10))
            run.kill()
            run.communicate()
            again = _index(env, folders[1], work / "killer", head.address)
            out, _ = again.communicate(timeout=900)
            kills["ingest driver"].append({"rerun_exit": again.returncode, "report": out.strip()[-300:],
                                           "audit": _audit(env, work / "auditor")})
            print(f"kills round {k + 1}: worker {kills['ray worker'][-1]['exit']}, replica {dict(load_errors)}, "
                  f"driver rerun {again.returncode}, audit {kills['ingest driver'][-1]['audit'] or 'consistent'}", flush=True)
        result["kills"] = kills
        for proc in replicas:
            stop(proc)
    print(f"\n{'check':<46} {'result':>10}")
    rows = [("5xx during load", result["load"]["5xx"]),
            ("results naming a removed document", result["load"]["results naming a removed document"]),
            ("store consistent after load", not result["load"]["audit"]),
            ("Ray worker killed: runs that still succeeded", sum(x["exit"] == 0 for x in kills["ray worker"])),
            ("replica killed: 5xx from the other", sum(v for x in kills["api replica"] for c, v in x["responses"].items()
                                                        if c.startswith("5"))),
            ("driver killed: reruns that succeeded", sum(x["rerun_exit"] == 0 for x in kills["ingest driver"])),
            ("store consistent after every kill", all(not x["audit"] for x in kills["ingest driver"]))]
    for label, value in rows:
        print(f"{label:<46} {value!s:>10}")
    result["table"] = dict(rows)
    errors = [line.strip() for log in work.glob("replica*/serve.log") for line in log.read_text().splitlines()
              if line.strip().endswith(("Error", "Exception")) or "Error: " in line]
    result["server_errors"] = errors
    for line in sorted(set(errors))[:10]:
        print("server error:", line)
    print("results:", write_results("cluster", result))


if __name__ == "__main__":
    main()
