"""The app in a real browser: `docagent app` on a loopback port, Debian's Chromium driven by Playwright.

Upload generated PDFs into a new store, wait for indexing, ask a question, see the citation thumbnails,
extract a form's fields. Screenshots go to tests/screenshots/ (or $DOCAGENT_SCREENSHOTS). The model server
set cannot be reached, so the answer is retrieval-only and says why beside it; the evidence is still shown.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import factories
from tests.processes import wait_until_up
from tests.test_agents import INVOICE
from tests.test_http_api import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium; "
                                                         ".ci/run installs it where the machine allows)")]
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")
SHOTS = Path(os.environ.get("DOCAGENT_SCREENSHOTS", Path(__file__).parent / "screenshots"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@contextlib.contextmanager
def app_server(store: Path, model: Path, *flags: str, password: str | None = None):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCAGENT_APP_")}
    env.update(DOCAGENT_VLM_MODEL=str(model), **({"DOCAGENT_APP_PASSWORD": password} if password else {}))
    log = store.parent / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "docagent", "app", "--store", str(store), "--port", str(port),
                                 *flags], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, f"{url}/_stcore/health", lambda r: r.text == "ok", "docagent app", log.read_text)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def loaded(page: object) -> None:
    """Every image on the page has arrived (screenshots show what a person would see)."""
    page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)",
                           timeout=60_000)


def fillable_form(path: Path) -> Path:
    """A fillable PDF whose widgets have generated names, as tax forms do, and printed labels beside them."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((50, 80), "Request for Taxpayer Identification Number", fontsize=14)
    page.insert_text((50, 120), "Name of entity or individual", fontsize=9)
    page.insert_text((50, 150), "Business name", fontsize=9)
    for name, rect, value in [(WIDGET, pymupdf.Rect(200, 108, 500, 124), "Ada Lovelace"),
                              ("topmostSubform[0].Page1[0].f1_02[0]", pymupdf.Rect(200, 138, 500, 154), "")]:
        w = pymupdf.Widget()
        w.field_name, w.field_type, w.rect, w.field_value = name, pymupdf.PDF_WIDGET_TYPE_TEXT, rect, value
        page.add_widget(w)
    doc.save(path)
    doc.close()
    return path


WIDGET = "topmostSubform[0].Page1[0].f1_01[0]"


def add_field(page: object, name: str) -> None:
    """Add a row to the field table and type ``name`` into it, picking no type (the grid is a canvas: the
    new row's name cell is clicked where it is drawn)."""
    editor = page.get_by_test_id("stDataFrame").first
    editor.hover()
    before = editor.bounding_box()["height"]
    page.get_by_role("button", name="Add row").click()
    for _ in range(50):  # until the grid has drawn the new row
        box = editor.bounding_box()
        if box["height"] > before:
            break
        page.wait_for_timeout(100)
    rows = round(box["height"] / 35) - 2  # the header and the "add row" row are 35 px high too
    settled(page)  # the new row reruns the script, which draws the grid again
    cell = page.locator("textarea.gdg-input, input.gdg-input").first
    for attempt in range(4):  # a busy machine may draw the grid again between the click and the key
        box = editor.bounding_box()
        page.mouse.click(box["x"] + 100, box["y"] + 35 * rows + 17)
        page.keyboard.press("Enter")  # open the cell's editor
        try:
            cell.wait_for(timeout=10_000)
            break
        except sync_api.TimeoutError:
            if attempt == 3:
                raise
            settled(page)
    cell.fill(name)
    page.keyboard.press("Enter")
    settled(page)


def settled(page: object) -> None:
    """The script has finished the rerun that the last action started."""
    page.wait_for_timeout(500)
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(timeout=60_000)


def new_store_page(browser: object, url: str) -> object:
    """A page of the app on a new, empty store, once it says so."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_text("This store is new: nothing is indexed at").wait_for(timeout=60_000)
    return page


def upload_and_index(page: object, files: list[Path], indexed: str) -> None:
    """Upload files in the Library, index them, wait for ``indexed`` ("Indexed 2 documents, 3 pages.")."""
    page.locator("input[type=file]").set_input_files([str(f) for f in files])
    page.get_by_role("button", name="Index").click()
    page.get_by_text(indexed).wait_for(timeout=180_000)


def ask_in_chat(page: object, question: str) -> None:
    """Open Chat and send a question."""
    page.get_by_test_id("stRadioGroup").get_by_text("Chat", exact=True).click()
    box = page.get_by_placeholder("Ask a question about your documents")
    box.wait_for(timeout=120_000)
    box.fill(question)
    box.press("Enter")


def test_upload_index_ask_and_see_the_citation_thumbnails(tmp_path: Path) -> None:
    pdf = factories.text_pdf(tmp_path / "invoice.pdf", INVOICE)
    form = fillable_form(tmp_path / "w9.pdf")
    server = f"http://127.0.0.1:{free_port()}/v1"  # a model server that cannot be reached
    SHOTS.mkdir(parents=True, exist_ok=True)
    with app_server(tmp_path / "store", server) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = new_store_page(browser, url)
            page.get_by_test_id("stMainMenu").wait_for()  # the toolbar is drawn: an app, no "Deploy" button
            assert page.get_by_test_id("stAppDeployButton").count() == 0
            upload_and_index(page, [pdf, form], "Indexed 2 documents, 3 pages.")
            page.get_by_text("invoice.pdf 2 pages").wait_for()  # the document list, with its thumbnail
            page.get_by_text("w9.pdf 1 page", exact=True).wait_for()
            page.locator("[data-testid='stImage'] img").first.wait_for()
            loaded(page)
            page.screenshot(path=SHOTS / "1-library.png", full_page=True)

            ask_in_chat(page, "What is the total due on the invoice?")
            page.get_by_text("Best-matching passages").wait_for(timeout=120_000)
            answer = page.get_by_test_id("stChatMessage").last  # the reason is beside the answer itself
            answer.get_by_text(f"Retrieval-only: no model read these pages. Why: the model failed: cannot reach the "
                               f"model server at {server}").wait_for(timeout=60_000)
            caption = page.get_by_text("invoice.pdf · page 1", exact=True).first
            caption.wait_for(timeout=60_000)
            thumbnails = page.locator("[data-testid='stImage'] img")
            thumbnails.first.wait_for()
            widths = thumbnails.evaluate_all("images => images.map(i => i.complete ? i.naturalWidth : 0)")
            assert 0 < widths[0] <= 480  # the first citation's thumbnail, loaded (the full page waits in an expander)
            loaded(page)
            page.screenshot(path=SHOTS / "2-chat.png", full_page=True)

            page.get_by_role("button", name="Open the page").first.click()
            full = page.get_by_text("invoice.pdf · page 1 · ").first
            full.wait_for(timeout=60_000)
            loaded(page)
            page.set_viewport_size({"width": 1400, "height": 2800})  # tall enough for the whole conversation
            page.wait_for_timeout(500)
            loaded(page)
            page.screenshot(path=SHOTS / "3-full-page.png")
            page.set_viewport_size({"width": 1400, "height": 1000})
            viewer = page.get_by_role("dialog")  # the page viewer: previous / next through the document, zoom, close
            viewer.get_by_text("invoice.pdf · page 1 of 2").wait_for(timeout=60_000)
            viewer.get_by_role("button", name="Next ▶").click()
            viewer.get_by_text("invoice.pdf · page 2 of 2").wait_for(timeout=60_000)
            assert viewer.get_by_role("button", name="Next ▶").is_disabled()
            viewer.get_by_role("button", name="◀ Previous").click()
            viewer.get_by_text("invoice.pdf · page 1 · ").first.wait_for(timeout=60_000)  # its boxes again
            viewer.get_by_test_id("stSelectbox").click()
            page.get_by_role("option", name="2x").click()
            viewer.get_by_text("invoice.pdf · page 1 of 2").wait_for(timeout=60_000)
            viewer.get_by_role("button", name="Close", exact=True).last.click()  # ours (the ✕ is "Close" too)
            viewer.wait_for(state="detached", timeout=60_000)

            page.get_by_test_id("stRadioGroup").get_by_text("Extract", exact=True).click()  # no model: the form's values
            page.get_by_test_id("stMultiSelect").click()  # two documents: none is chosen for you
            page.get_by_role("option", name="w9.pdf").click()
            page.keyboard.press("Escape")
            page.get_by_role("button", name="Extract").click()  # an empty table: every form field
            page.get_by_text(f"w9.pdf · page 1 · {WIDGET} (Name of entity or individual)").wait_for(timeout=120_000)
            # the other field's label, in the table: rendered after the first, so waited for, not counted at once
            page.get_by_text("Business name", exact=True).first.wait_for(state="attached", timeout=60_000)
            add_field(page, "f1_01")  # a field added without picking a type
            page.get_by_role("button", name="Extract").click()
            page.get_by_text("w9.pdf · page 1 · f1_01 (Name of entity or individual)").wait_for(timeout=120_000)
            loaded(page)
            page.screenshot(path=SHOTS / "4-extract.png", full_page=True)
            assert page.get_by_text("--schema").count() == page.get_by_text("--fields").count() == 0

            page.get_by_test_id("stRadioGroup").get_by_text("Settings", exact=True).click()
            page.get_by_text("This machine").wait_for(timeout=60_000)
            page.get_by_role("button", name="Extract").wait_for(state="detached", timeout=60_000)
            page.get_by_text("Store:", exact=True).first.wait_for()
            page.screenshot(path=SHOTS / "5-settings.png", full_page=True)
        except Exception:
            page.screenshot(path=SHOTS / "failed.png", full_page=True)  # what the page showed when it failed
            raise
        finally:
            browser.close()
    assert all((SHOTS / name).stat().st_size > 10_000 for name in ("1-library.png", "2-chat.png", "3-full-page.png"))
    import numpy as np
    from PIL import Image

    with Image.open(SHOTS / "3-full-page.png") as shot:  # the opened page, the located answer boxed in green
        main = np.asarray(shot.convert("RGB"))[:, 320:]  # right of the sidebar
        assert ((main[..., 0] < 60) & (main[..., 1] > 120) & (main[..., 2] < 100)).sum() > 200


HOSTILE = "[click](http:evil.example)![x](http:evil.example)"  # markdown for a link and a remote image
PASSWORD = "correct horse battery staple"


def evil_elements(page: object) -> list[str]:
    """Links and images on the page that point at evil.example (what markdown in a name would become)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('a, img'))
        .map(e => e.outerHTML).filter(html => html.includes('evil'))""")


def test_beyond_loopback_the_password_comes_first_and_names_are_text(tmp_path: Path) -> None:
    from docagent.config import Settings
    from docagent.index import index_paths

    name = f"{HOSTILE}.pdf"
    (tmp_path / "docs").mkdir()
    factories.text_pdf(tmp_path / "docs" / name, INVOICE)
    assert index_paths([tmp_path / "docs"], Settings(store=tmp_path / "store"), progress=False).documents == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (app_server(tmp_path / "store", tmp_path / "no-model-here", "--host", "0.0.0.0", password=PASSWORD) as url,
          sync_api.sync_playwright() as p):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            password = page.get_by_label("Password", exact=True)
            password.wait_for(timeout=60_000)
            page.screenshot(path=SHOTS / "6-sign-in.png", full_page=True)
            assert page.get_by_text("invoice", exact=False).count() == 0  # nothing before the password
            assert page.get_by_test_id("stRadioGroup").count() == 0
            password.fill("not the password")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("Wrong password.").wait_for(timeout=60_000)
            password.fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text(f"{name} 2 pages").wait_for(timeout=60_000)  # the Library: the name as text
            assert evil_elements(page) == []

            ask_in_chat(page, "What is the total due on the invoice?")
            page.get_by_text(f"{name} · page 1", exact=True).first.wait_for(timeout=120_000)  # a citation's caption
            loaded(page)
            page.screenshot(path=SHOTS / "7-hostile-names.png", full_page=True)
            assert evil_elements(page) == []

            page.get_by_test_id("stRadioGroup").get_by_text("Settings", exact=True).click()
            page.get_by_text("Store: store", exact=True).first.wait_for(timeout=60_000)  # its name, not its path
            assert page.get_by_label("Vision-language model").count() == 0  # the model is the operator's
            assert page.get_by_text(str(tmp_path), exact=False).count() == 0
        finally:
            browser.close()


def test_a_word_file_uploaded_in_the_library_is_listed_and_cited_in_chat(tmp_path: Path) -> None:
    from tests.factories import word_file

    report = word_file(tmp_path / "report.docx", ["Revenue rose by 12 percent in the third quarter.",
                                                  "The zanzibarium contract was signed on 3 October."])
    server = f"http://127.0.0.1:{free_port()}/v1"  # a model server that cannot be reached: retrieval-only
    SHOTS.mkdir(parents=True, exist_ok=True)
    with app_server(tmp_path / "store", server) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = new_store_page(browser, url)
            upload_and_index(page, [report], "Indexed 1 document, 2 pages.")
            page.get_by_text("report.docx 2 pages").wait_for()  # the document list, with its thumbnail
            page.locator("[data-testid='stImage'] img").first.wait_for()
            loaded(page)
            page.screenshot(path=SHOTS / "8-library-word.png", full_page=True)

            ask_in_chat(page, "When was the zanzibarium contract signed?")
            page.get_by_text("Best-matching passages").wait_for(timeout=120_000)
            page.get_by_text("report.docx · page 2", exact=True).first.wait_for(timeout=60_000)  # the cited page
            loaded(page)
            page.screenshot(path=SHOTS / "9-chat-word.png", full_page=True)
        except Exception:
            page.screenshot(path=SHOTS / "failed.png", full_page=True)
            raise
        finally:
            browser.close()


def test_the_tables_view_shows_a_found_table_beside_its_page_with_the_box(tmp_path: Path) -> None:
    from docagent.config import Settings
    from docagent.index import index_paths
    from tests.test_tables_export import REGION_ROWS, report_pdf

    (tmp_path / "docs").mkdir()
    report_pdf(tmp_path / "docs" / "report.pdf")
    assert not index_paths([tmp_path / "docs"], Settings(store=tmp_path / "store"), progress=False).failed
    SHOTS.mkdir(parents=True, exist_ok=True)
    with app_server(tmp_path / "store", tmp_path / "no-model-here") as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(url)
            page.get_by_test_id("stRadioGroup").get_by_text("Tables", exact=True).click(timeout=60_000)
            page.get_by_text("report.pdf · page 2 · table 1", exact=True).wait_for(timeout=120_000)  # the page's caption
            grid = page.get_by_test_id("stDataFrame").first
            grid.wait_for(timeout=60_000)
            for cell in REGION_ROWS[0]:  # the first body row, cell by cell, in the grid (drawn after the frame)
                grid.get_by_text(cell, exact=True).first.wait_for(state="attached", timeout=60_000)
            page.get_by_role("button", name="Download CSV").nth(1).wait_for(timeout=60_000)  # both tables render
            assert page.get_by_role("button", name="Download CSV").count() == 2
            loaded(page)
            page.screenshot(path=SHOTS / "10-tables.png", full_page=True)
        except Exception:
            page.screenshot(path=SHOTS / "failed.png", full_page=True)
            raise
        finally:
            browser.close()
    import numpy as np
    from PIL import Image

    with Image.open(SHOTS / "10-tables.png") as shot:  # the table's box, drawn in red on the page beside the grid
        main = np.asarray(shot.convert("RGB"))[:, 320:]
        assert ((main[..., 0] > 180) & (main[..., 1] < 80) & (main[..., 2] < 80)).sum() > 200


def test_reloading_while_a_batch_is_indexed_loses_no_file(tmp_path: Path) -> None:
    """The batch is a job of the app's server, not of the page: reloading the page right after pressing Index (while
    the first file is still being read) leaves every file indexed, and the reloaded page follows the job to its end."""
    long = factories.text_pdf(tmp_path / "long.pdf", [f"Chapter {i}: the quarterly review of site {i}." for i in range(60)])
    short = factories.text_pdf(tmp_path / "short.pdf", ["The zanzibarium contract was signed on 3 October."])
    server = f"http://127.0.0.1:{free_port()}/v1"
    with app_server(tmp_path / "store", server) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = new_store_page(browser, url)
            page.locator("input[type=file]").set_input_files([str(long), str(short)])
            page.get_by_role("button", name="Index").click()
            # handed over (the uploader is empty again), however fast this machine indexes: then reload
            page.get_by_role("button", name="Index").wait_for(state="detached", timeout=60_000)
            page.reload()
            page.get_by_text("Indexed 2 documents, 61 pages.").wait_for(timeout=180_000)
            page.get_by_text("long.pdf 60 pages").wait_for()
            page.get_by_text("short.pdf 1 page").wait_for()
        except Exception:
            page.screenshot(path=SHOTS / "failed.png", full_page=True)
            raise
        finally:
            browser.close()


def _installations_pdf(path: Path) -> Path:
    """A page with the walk's table: installations per region, two years, figures right-aligned under their year."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((50, 70), "Heat pump installations by region", fontsize=12)
    for n, (label, *figures) in enumerate([("Region", "2024", "2025"), ("North", "120", "150"), ("South", "80", "95"),
                                           ("West", "64", "71")]):
        page.insert_text((50, 100 + 18 * n), label, fontsize=10)
        for right, figure in zip((300, 390), figures, strict=True):
            page.insert_text((right - pymupdf.get_text_length(figure, "helv", 10), 100 + 18 * n), figure, fontsize=10)
    doc.save(path)
    doc.close()
    return path


def test_the_chat_survives_saving_settings_and_charts_compute_a_question_in_words(tmp_path: Path) -> None:
    """The walk: saving Settings erased the conversation; Charts said no model could read charts for a question that a
    found table answers. Here, with no model: the conversation is there after Save and after a reload, and Charts
    computes the question in words from the table's cells."""
    pdf = _installations_pdf(tmp_path / "installations.pdf")
    server = f"http://127.0.0.1:{free_port()}/v1"
    question = "How many more installations were there in the North in 2025 than in 2024?"
    with app_server(tmp_path / "store", server) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = new_store_page(browser, url)
            upload_and_index(page, [pdf], "Indexed 1 document, 1 page.")
            ask_in_chat(page, question)
            page.get_by_text("Computed without a model:").first.wait_for(timeout=120_000)
            settled(page)
            page.get_by_test_id("stRadioGroup").get_by_text("Settings", exact=True).click()
            settled(page)  # the Settings page whole (its machine checks run after the form): a click before is lost
            page.get_by_role("button", name="Save").click()
            page.get_by_text("Saved for this store.").wait_for(timeout=60_000)
            page.get_by_test_id("stRadioGroup").get_by_text("Chat", exact=True).click()
            page.get_by_test_id("stChatMessage").get_by_text(question).wait_for(timeout=60_000)  # still there
            page.reload()
            page.get_by_test_id("stChatMessage").get_by_text(question).wait_for(timeout=60_000)  # and after a reload
            page.get_by_test_id("stChatMessage").get_by_text("Computed without a model:").first.wait_for(timeout=60_000)

            page.get_by_test_id("stRadioGroup").get_by_text("Charts", exact=True).click()
            box = page.get_by_label("Question", exact=True)
            box.wait_for(timeout=60_000)
            box.fill(question)
            box.press("Enter")
            page.locator("button:has-text('Compute'):not([disabled])").click(timeout=60_000)
            page.get_by_text('cell("2025", "North") - cell("2024", "North")').wait_for(timeout=120_000)
            page.get_by_test_id("stMetricValue").get_by_text("30").wait_for(timeout=60_000)
        except Exception:
            page.screenshot(path=SHOTS / "failed.png", full_page=True)
            raise
        finally:
            browser.close()
