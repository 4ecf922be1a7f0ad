"""The docagent command: JSON shapes, exit status, stdout holding nothing but the JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from docagent.cli import main
from tests import factories


def run(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    code = main(list(argv))
    out, err = capfd.readouterr()
    return code, json.loads(out), err  # json.loads fails if stdout holds anything else


@pytest.fixture
def corpus(docs_dir: Path) -> Path:
    factories.text_pdf(docs_dir / "pumps.pdf", ["Introduction to pumps.", "The impeller spins at 2,900 rpm in the centrifugal pump."])
    factories.text_pdf(docs_dir / "menu.pdf", ["Lunch menu: tomato soup, lentil curry, apple pie."])
    return docs_dir


def test_index_search_docs_rm_as_json(capfd: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, out, err = run(capfd, "index", str(corpus), "--store", store, "--json")
    assert code == 0
    assert out == {"documents": 2, "pages": 3, "ocr_pages": 0, "skipped": 0, "failed": [], "refused": []}
    assert "indexed pumps.pdf: 2 pages" in err

    code, out, _ = run(capfd, "search", "how fast does the impeller turn", "--store", store, "--json", "-k", "2")
    assert code == 0
    assert [(r["doc"], r["page"]) for r in out["results"]][0] == ("pumps.pdf", 2)
    first = out["results"][0]
    assert set(first) == {"doc", "page", "page_label", "score", "title", "text", "image"}
    assert first["image"].startswith("docagent://pages/") and first["image"].endswith("/0002.png")  # a reference, no path
    assert "2,900 rpm" in first["text"]
    assert main(["search", "how fast does the impeller turn", "--store", store, "-k", "1"]) == 0
    text = capfd.readouterr().out
    assert Path(text.split("image: ")[1].split()[0]).is_file()  # people are shown a file they can open

    code, out, _ = run(capfd, "search", "impeller", "--store", store, "--json", "--doc", "menu.pdf")
    assert code == 0 and {r["doc"] for r in out["results"]} == {"menu.pdf"}

    code, out, _ = run(capfd, "docs", "--store", store, "--json")
    assert [(d["doc"], d["pages"]) for d in out["documents"]] == [("menu.pdf", 1), ("pumps.pdf", 2)]

    code, out, _ = run(capfd, "rm", "menu.pdf", "ghost.pdf", "--store", store, "--json")
    assert code == 1 and out == {"removed": ["menu.pdf"], "not_found": ["ghost.pdf"]}
    code, out, _ = run(capfd, "docs", "--store", store, "--json")
    assert [d["doc"] for d in out["documents"]] == ["pumps.pdf"]


def test_index_exit_status_and_failures(capfd: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    (corpus / "broken.pdf").write_bytes(b"")
    code, out, _err = run(capfd, "index", str(corpus), "--store", store, "--json")
    assert code == 1
    assert out["documents"] == 2 and out["failed"] == [{"path": str(corpus / "broken.pdf"), "error": "the file is empty (0 bytes); re-export or re-download it"}]
    (corpus / "broken.pdf").unlink()
    code, out, _ = run(capfd, "index", str(corpus), "--store", store, "--json")
    assert code == 0 and out["skipped"] == 2 and out["documents"] == 0


def test_human_output(capfd: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    assert main(["index", str(corpus), "--store", store]) == 0
    out, _ = capfd.readouterr()
    assert "indexed 2 documents, 3 pages; 0 unchanged; 0 failed" in out
    assert main(["search", "lentil curry", "--store", store, "-k", "1"]) == 0
    out, _ = capfd.readouterr()
    assert out.startswith("1. menu.pdf  page 1  score ")


def test_search_errors_are_clear(capfd: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    main(["index", str(corpus), "--store", store, "-q"])
    capfd.readouterr()
    code, out, err = run(capfd, "search", "pumps", "--store", store, "--json", "--doc", "nothere.pdf")
    assert code == 1 and "'nothere.pdf' is not in the store" in out["error"] and "docagent docs" in err


def test_usage_errors_exit_2(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["index", "--store", str(tmp_path)])
    assert exc.value.code == 2
    assert main(["search", "x", "-k", "0", "--store", str(tmp_path)]) == 2


def test_doctor_reports_each_part(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capfd, "doctor", "--store", str(tmp_path / "store"), "--json")
    checks = {c["name"]: c for c in out["checks"]}
    assert code == 0
    assert set(checks) == {"python", "torch", "gpu", "embedding model", "ocr", "office files", "store", "catalog", "lexical",
                           "vectors", "blobs", "cluster", "vlm weights"}
    assert all(checks[name]["ok"] for name in ("catalog", "lexical", "vectors", "blobs", "cluster"))
    assert checks["catalog"]["detail"].startswith("SQLite at ") and "FTS5" in checks["lexical"]["detail"]
    assert checks["vectors"]["detail"].startswith("embedded Chroma") and checks["blobs"]["detail"].startswith("local folder")
    assert checks["office files"]["ok"] and checks["office files"]["detail"].startswith("LibreOffice ")
    assert checks["embedding model"]["ok"] and "all-MiniLM-L6-v2" in checks["embedding model"]["detail"]
    assert checks["ocr"]["ok"] and "rapidocr" in checks["ocr"]["detail"]
    assert checks["store"]["ok"] and "0 documents" in checks["store"]["detail"]
    if not checks["vlm weights"]["ok"]:
        assert "DOCAGENT_VLM_MODEL" in checks["vlm weights"]["fix"]


@pytest.mark.slow
def test_stdout_is_pure_json_in_a_real_process(corpus: Path, tmp_path: Path) -> None:
    """All the heavy libraries loaded in a fresh interpreter, and still nothing but JSON on stdout."""
    cmd = [sys.executable, "-m", "docagent", "index", str(corpus), "--store", str(tmp_path / "s"), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["pages"] == 3
    cmd = [sys.executable, "-m", "docagent", "search", "centrifugal pump", "--store", str(tmp_path / "s"), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["doc"] == "pumps.pdf"


def test_search_modes_and_page_range(capfd: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    main(["index", str(corpus), "--store", store, "-q"])
    capfd.readouterr()
    for mode in ("hybrid", "dense", "lexical"):
        code, out, _ = run(capfd, "search", "impeller rpm", "--store", store, "--json", "--mode", mode, "-k", "1")
        assert code == 0 and (out["results"][0]["doc"], out["results"][0]["page"]) == ("pumps.pdf", 2)
    code, out, _ = run(capfd, "search", "pumps", "--store", store, "--json", "--pages", "1-1", "--doc", "pumps.pdf")
    assert [r["page"] for r in out["results"]] == [1]
    with pytest.raises(SystemExit) as exc:
        main(["search", "x", "--pages", "3-1", "--store", store])
    assert exc.value.code == 2
