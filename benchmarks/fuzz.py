"""Fuzz what takes untrusted input, for a bounded time per target. Not in CI; run by hand.

    ingest      PDFs and page images, mutated from real seeds
    calculator  the chart evaluator on token soups: only CalculationError may come out
    calc-exact  random integer expressions (+ - * / **, unary minus, round) against fractions.Fraction
                evaluating the same tree: a wrong value, a wrong refusal or another exception is a crash
    http        the real HTTP API (uvicorn on a free loopback port, a temporary store with one indexed PDF,
                no model: answers are retrieval-only): random JSON bodies to /ask, /extract and /chart,
                query strings to /search, multipart uploads to /documents. A 5xx answer, an "error" event
                in a 200 stream, a dropped connection or a timeout is a crash

    python benchmarks/fuzz.py                    # 60 s per target
    python benchmarks/fuzz.py --seconds 600 --seed 7 --targets http calc-exact

Property-based with Hypothesis (its shrinking makes a found crash small). A crash is any exception
other than docagent's own clear errors (DocumentLoadError, CalculationError), or a case slower than
--slow seconds. Each crash is saved under benchmarks/results/fuzz-crashes/ (the input, and a .txt with
the error, the response or the server's traceback) to be turned into a regression test. Prints a table
and writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, write_results

CRASHES = ROOT / "benchmarks" / "results" / "fuzz-crashes"


def _seeds() -> dict[str, bytes]:
    """Small real files of every kind ingest reads: a text PDF, a fillable form, a scan-like PDF, PNG, JPEG, TIFF."""
    import tempfile

    from tests import factories

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        out["text.pdf"] = factories.text_pdf(d / "t.pdf", ["Invoice 7: total 7,981.99 EUR", "Page two"]).read_bytes()
        out["form.pdf"] = factories.form_pdf(d / "f.pdf").read_bytes()
        out["scan.pdf"] = factories.scanned_pdf(d / "s.pdf", ["Scanned memo", "Total 12.50"]).read_bytes()
        image = factories.text_image(["Receipt 4471", "Total 12.50"], size=(300, 120))
        for fmt, name in (("PNG", "page.png"), ("JPEG", "page.jpg"), ("TIFF", "page.tif")):
            buffer = io.BytesIO()
            image.save(buffer, fmt)
            out[name] = buffer.getvalue()
    return out


def _ingest(data: bytes, suffix: str, folder: Path) -> None:
    """What `docagent index` does to one file short of embedding: open, read every page, render one."""
    from docagent.errors import DocumentLoadError
    from docagent.ingest import open_source

    path = folder / f"case{suffix}"
    path.write_bytes(data)
    try:
        with open_source(path) as source:
            for i in range(min(source.page_count, 5)):
                source.read_page(i)
            source.render(0, 0.5)
    except DocumentLoadError:
        pass  # a clear, specific error: what bad input must get


class Target:
    def __init__(self, name: str) -> None:
        self.name, self.cases, self.crashes, self.slowest, self.kinds = name, 0, 0, 0.0, set()
        self.statuses: dict[str, int] = {}  # http: how many answers of each status, by endpoint

    def record(self, data: bytes, suffix: str, error: BaseException | None, seconds: float, slow: float,
               detail: str = "") -> None:
        """One case; a crash (``error``, or slower than ``slow``) is saved with ``detail`` beside it."""
        self.cases += 1
        self.slowest = max(self.slowest, seconds)
        if error is None and seconds <= slow:
            return
        self.crashes += 1
        kind = f"{type(error).__name__}: {str(error)[:80]}" if error else f"slow: {seconds:.1f} s"
        self.kinds.add(kind)
        CRASHES.mkdir(parents=True, exist_ok=True)
        name = f"{self.name}-{hashlib.sha256(data).hexdigest()[:12]}{suffix}"
        (CRASHES / name).write_bytes(data)
        trace = "".join(traceback.format_exception(error)) if error else ""
        (CRASHES / f"{name}.txt").write_text(kind + "\n\n" + trace + ("\n" + detail if detail else ""),
                                             errors="backslashreplace")


def fuzz_ingest(seconds: float, seed: int, slow: float) -> Target:
    import tempfile

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = _seeds()
    target = Target("ingest")
    mutation = st.tuples(st.sampled_from(["flip", "cut", "insert", "duplicate", "zero"]), st.integers(0, 1 << 20),
                         st.integers(1, 512), st.binary(min_size=1, max_size=64))

    def mutate(data: bytes, steps: list[tuple[str, int, int, bytes]]) -> bytes:
        buf = bytearray(data)
        for op, at, n, blob in steps:
            at %= max(len(buf), 1)
            if op == "flip":
                for j in range(at, min(at + n, len(buf))):
                    buf[j] ^= blob[j % len(blob)]
            elif op == "cut":
                del buf[at:at + n]
            elif op == "insert":
                buf[at:at] = blob
            elif op == "duplicate":
                buf[at:at] = buf[at:at + n]
            else:
                buf[at:at + n] = bytes(min(n, len(buf) - at))
        return bytes(buf)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        @settings(max_examples=200, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck))
        @given(name=st.sampled_from(sorted(seeds)), steps=st.lists(mutation, min_size=1, max_size=6))
        def case(name: str, steps: list[Any]) -> None:
            data = mutate(seeds[name], steps)
            suffix = Path(name).suffix
            start, error = time.perf_counter(), None
            try:
                with _time_limit(slow):
                    _ingest(data, suffix, folder)
            except Exception as e:  # noqa: BLE001 - this is what the fuzzer looks for (a hang included)
                error = e
            target.record(data, suffix, error, time.perf_counter() - start, slow)

        _run(case, seconds, seed)
    return target


def fuzz_calculator(seconds: float, seed: int, slow: float) -> Target:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from docagent.errors import CalculationError
    from docagent.tasks.calc import FUNCTIONS, evaluate

    target = Target("calculator")
    tokens = st.sampled_from([*"0123456789.+-*/%()[],=<>!~^&|", "**", "//", " ", "e", "1e9", "9" * 40, "_", "x",
                              "cell(", "col(", '"Q1"', '"Revenue"', "lambda", "__import__", "().__class__",
                              "'a'*9**9", *FUNCTIONS, "True", "None", "\u2212", "\u00d7", "\u00f7", "%"])
    cells = {("Revenue", "Q1"): 820.0, ("Revenue", "Q4"): 1290.0}

    @settings(max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(parts=st.lists(tokens, max_size=40))
    def case(parts: list[str]) -> None:
        text = "".join(parts)
        start, error = time.perf_counter(), None
        try:
            evaluate(text, cells)
        except CalculationError:
            pass
        except Exception as e:  # noqa: BLE001 - this is what the fuzzer looks for
            error = e
        target.record(text.encode(), ".txt", error, time.perf_counter() - start, slow)

    _run(case, seconds, seed)
    return target


class Mismatch(Exception):
    pass


def fuzz_calc_exact(seconds: float, seed: int, slow: float) -> Target:
    """The property of tests/test_calc.py (the same generator and reference), for as long as asked."""
    from hypothesis import HealthCheck, given, settings

    from tests.test_calc import agrees_with_reference, integer_expressions

    target = Target("calc-exact")

    @settings(max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(tree=integer_expressions(max_leaves=24))
    def case(tree: Any) -> None:
        import ast

        start = time.perf_counter()
        problem = agrees_with_reference(tree)
        target.record(ast.unparse(tree).encode(), ".txt", Mismatch(problem) if problem else None,
                      time.perf_counter() - start, slow)

    _run(case, seconds, seed)
    return target


# ------------------------------------------------------------------------------------------- http

_ODD_NUMBERS = ["1e400", "-1e400", "1e-400", "-0", "0", "1", "4", "16", "17", "-1", "4.0", "4.5", "1E2", "NaN",
                "Infinity", "-Infinity", "9" * 40, "9" * 4000, "1" + "0" * 5000, "0.1e-99999", "1e99999999"]
_ODD_TEXT = ["", " ", "\x00", "a" * 4001, "\U0001F600" * 2001, "\u202e\u0301" * 300, "\ud800", "\udfff\ud800",
             "../../etc/passwd", "invoice.pdf\x00.txt", "%00", "\r\n\r\n", "<script>alert(1)</script>",
             "$(rm -rf /)", "'; DROP TABLE documents; --", "\ufeff", "\U0010ffff", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ﷺ" * 50]
_SCHEMAS = ['{"properties": {"a": 1}}', '{"properties": {"a": {"type": "bogus"}}}', '{"properties": []}',
            '{"properties": {"": {}}}', '{"properties": {"a": {"type": ["string", "null"]}}}', '{"type": "object"}',
            '{"properties": {"a": {"properties": {"b": {"type": "number"}}}}}', '{"properties": null}', '{}',
            '{"properties": {"a": {"type": "string", "enum": [1e400]}}}', '{"$ref": "#"}', '[]', '"schema"']


def _json_values() -> Any:
    """JSON text (not Python values, so 1e400, NaN, 5,000-digit numbers and lone surrogates get through)."""
    from hypothesis import strategies as st

    strings = st.one_of(st.text(max_size=40), st.sampled_from(_ODD_TEXT))
    leaves = st.one_of(st.sampled_from(_ODD_NUMBERS), st.integers().map(str),
                       st.floats(allow_nan=False, allow_infinity=False).map(repr), st.sampled_from(["true", "false", "null"]),
                       strings.map(json.dumps))
    return st.recursive(leaves, lambda kids: st.one_of(
        st.lists(kids, max_size=5).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.dictionaries(strings, kids, max_size=5).map(lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}"),
    ), max_leaves=20)


def _bodies(doc: str) -> Any:
    """Request bodies for /ask, /extract and /chart: the right keys with wild values, or anything at all."""
    from hypothesis import strategies as st

    anything = _json_values()
    text = st.one_of(st.sampled_from(["total", "What is the total?", "sum of the totals", "due date"]),
                     st.text(max_size=60), st.sampled_from(_ODD_TEXT)).map(json.dumps)
    docs = st.one_of(st.just(f'["{doc}"]'), st.lists(st.one_of(st.just(json.dumps(doc)), text), max_size=3).map(
        lambda xs: "[" + ",".join(xs) + "]"))
    field = st.fixed_dictionaries({}, optional={
        "name": st.one_of(text, anything), "type": st.one_of(st.sampled_from(
            ['"string"', '"number"', '"date"', '"boolean"', '"bogus"', '"integer"', '""']), anything),
        "description": st.one_of(text, anything)})
    fields = st.lists(field.map(_object), max_size=4).map(lambda xs: "[" + ",".join(xs) + "]")

    def body(required: dict[str, Any], optional: dict[str, Any]) -> Any:
        """Mostly well-formed (to reach the handler), each value sometimes anything at all; or any keys."""
        wild = {k: st.one_of(v, v, v, anything) for k, v in (required | optional).items()}
        return st.one_of(
            st.fixed_dictionaries({k: wild[k] for k in required}, optional={k: wild[k] for k in optional}),
            st.fixed_dictionaries({}, optional=wild | {"extra": anything})).map(_object)

    whole = st.sampled_from(["", "[" * 100_000 + "]" * 100_000, '{"question": ' * 5000, "nul\x00l", "\xff\xfe",
                             '{"question": "a", "question": 1}', '{"question": "total"}' + " " * 100_000])
    return st.one_of(
        st.tuples(st.just("/ask"), body({"question": text}, {"k": st.sampled_from(_ODD_NUMBERS), "docs": docs,
                                         "stream": st.sampled_from(["true", "false", "1", '"yes"'])})),
        st.tuples(st.just("/extract"), body({"docs": docs}, {"fields": fields, "json_schema": st.sampled_from(_SCHEMAS),
                                             "use_model": st.sampled_from(["true", "false"])})),
        st.tuples(st.just("/chart"), body({"doc": st.one_of(st.just(json.dumps(doc)), text), "question": text},
                                          {"page": st.sampled_from(_ODD_NUMBERS)})),
        st.tuples(st.sampled_from(["/ask", "/extract", "/chart"]), st.one_of(anything, whole)))


def _object(items: dict[str, str]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in items.items()) + "}"


def _http_cases(doc: str, pdf: bytes) -> Any:
    """One request: (method, path, keyword arguments for httpx, a description to save)."""
    from hypothesis import strategies as st

    content_types = st.sampled_from(["application/json"] * 6 + ["text/plain", "application/x-www-form-urlencoded",
                                                                "application/json; charset=latin-1", ""])
    posts = st.tuples(_bodies(doc), content_types).map(lambda t: (
        "POST", t[0][0], {"content": t[0][1].encode("utf-8", "surrogatepass"), "headers": {"content-type": t[1]}},
        {"body": t[0][1][:20_000], "content-type": t[1]}))
    value = st.one_of(st.text(max_size=40), st.sampled_from(_ODD_TEXT + _ODD_NUMBERS + [doc]))
    params = st.lists(st.tuples(st.sampled_from(["q", "q", "k", "doc", "doc_kind", "year", "org", "x"]), value),
                      max_size=6)
    searches = st.one_of(
        st.tuples(value, params).map(lambda t: [("q", t[0]), *t[1]]).map(
            lambda p: ("GET", "/search", {"params": p}, {"params": p})),
        params.map(lambda p: ("GET", "/search", {"params": p}, {"params": p})),
        st.text(max_size=80).map(lambda raw: ("GET", "/search?" + raw.replace("#", "%23"), {}, {"raw query": raw})))
    names = st.one_of(st.text(max_size=40), st.sampled_from(
        ["\U0001F600" * 70 + ".pdf", "\U0001F600" * 70, "a" * 300 + ".pdf", "../../outside.pdf", "", ".", "..",
         "con.pdf", "x\x00.pdf", "\u202etxt.pdf", "a/b/c.pdf", "C:\\x.pdf", doc, "é" * 130 + ".pdf", " .pdf"]))
    contents = st.one_of(st.just(pdf), st.binary(max_size=2000), st.sampled_from(
        [b"", b"%PDF-1.7\n", pdf[: len(pdf) // 2], b"\x89PNG\r\n\x1a\n" + bytes(64), b"II*\x00" + bytes(64)]))
    files = st.lists(st.tuples(st.sampled_from(["files"] * 8 + ["file", ""]), names, contents,
                               st.sampled_from(["application/pdf", "image/png", "application/octet-stream", ""])),
                     min_size=1, max_size=3) | st.just([])
    uploads = files.map(lambda fs: ("POST", "/documents",
                                    {"files": [(f, (n, c, t)) for f, n, c, t in fs]} if fs else {"data": {"x": "1"}},
                                    {"files": [{"field": f, "name": n, "bytes": len(c), "sha256": hashlib.sha256(c).hexdigest()[:12],
                                                "head": c[:16].hex(), "type": t} for f, n, c, t in fs]}))
    return st.one_of(posts, posts, searches, uploads)


class ServerError(Exception):
    pass


@contextlib.contextmanager
def _server(folder: Path) -> Any:
    """The real app over a fresh store holding one small indexed PDF, served by uvicorn on a free loopback
    port in a thread; yields (base URL, document name, its bytes, the server's logged errors)."""
    import logging
    import socket
    import threading

    import uvicorn

    from docagent.config import Settings
    from docagent.index.indexer import index_paths
    from docagent_connectors.http_api import create_app
    from tests import factories

    settings = Settings(store=folder / "store")
    pdf = factories.text_pdf(folder / "invoice.pdf", ["Invoice 7: total 7,981.99 EUR, due 2024-03-01", "Page two"])
    assert not index_paths([pdf], settings, progress=False).failed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("the HTTP server did not start")
        time.sleep(0.05)
    logged: list[str] = []
    logging.getLogger("docagent").setLevel(logging.ERROR)  # not a line per rejected upload
    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(self.format(record) + ("\n" + "".join(traceback.format_exception(*record.exc_info))
                                                 if record.exc_info else ""))

    handler = Collect(logging.ERROR)
    logging.getLogger("uvicorn.error").addHandler(handler)
    try:
        yield f"http://127.0.0.1:{port}", pdf.name, pdf.read_bytes(), logged
    finally:
        logging.getLogger("uvicorn.error").removeHandler(handler)
        server.should_exit = True
        thread.join(30)


def fuzz_http(seconds: float, seed: int, slow: float) -> Target:
    import tempfile

    import httpx
    from hypothesis import HealthCheck, given, settings

    target = Target("http")
    with tempfile.TemporaryDirectory() as tmp, _server(Path(tmp)) as (url, doc, pdf, logged), \
            httpx.Client(base_url=url, timeout=slow + 30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        # a connection per request: a crash must not show up as a dropped connection on the next one

        @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(request=_http_cases(doc, pdf))
        def case(request: tuple[str, str, dict[str, Any], dict[str, Any]]) -> None:
            method, path, kwargs, described = request
            logged.clear()
            start, error, answer = time.perf_counter(), None, ""
            try:
                try:
                    response = client.request(method, path, **kwargs)
                except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
                    return  # httpx will not send it: not a case
                answer = f"{response.status_code}\n{response.headers}\n{response.text[:4000]}"
                detail = response.text[:200].replace("\n", " ")
                key = f"{method} {path.split('?')[0]} {response.status_code}"
                target.statuses[key] = target.statuses.get(key, 0) + 1
                if response.status_code == 503 and "needs a CUDA GPU" in detail:
                    pass  # no model on this machine: the documented answer for what needs one (/chart, /extract)
                elif response.status_code >= 500:
                    error = ServerError(f"{response.status_code} {method} {path.split('?')[0]}: {detail}")
                elif "event: error" in response.text:
                    error = ServerError(f"200 {method} {path} with an error event: {detail}")
            except httpx.HTTPError as e:  # a dropped connection or a timeout
                error = e
            if error is not None:
                time.sleep(0.2)  # the server logs its traceback after the response has gone
            data = json.dumps({"method": method, "path": path, **described}, ensure_ascii=False, indent=1)
            target.record(data.encode("utf-8", "surrogatepass"), ".json", error, time.perf_counter() - start, slow,
                          detail="response: " + answer + ("\n\nserver log:\n" + "\n".join(logged) if logged else ""))

        _run(case, seconds, seed)
    return target


class Hang(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Any:
    """Interrupt a case that runs past ``seconds`` (SIGALRM): a hang is a crash too."""
    def stop(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run(case: Any, seconds: float, seed: int) -> None:
    """Run a Hypothesis test in rounds with fresh seeds until the time is up."""
    from hypothesis import seed as fixed_seed

    deadline, round_ = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        fixed_seed(seed * 1000 + round_)(case)()
        round_ += 1


TARGETS = {"ingest": fuzz_ingest, "calculator": fuzz_calculator, "calc-exact": fuzz_calc_exact, "http": fuzz_http}


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore")  # Pillow warns about every odd TIFF tag the mutations make
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="time per target (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow", type=float, default=10.0, help="a case slower than this many seconds counts as a crash")
    parser.add_argument("--targets", nargs="+", choices=sorted(TARGETS), default=list(TARGETS),
                        help="which targets (default: all, in the order ingest calculator calc-exact http)")
    args = parser.parse_args()
    results = []
    for fuzz in (TARGETS[name] for name in args.targets):
        t0 = time.perf_counter()
        target = fuzz(args.seconds, args.seed, args.slow)
        results.append({"target": target.name, "seconds": round(time.perf_counter() - t0, 1), "cases": target.cases,
                        "crashes": target.crashes, "slowest_ms": round(target.slowest * 1000, 1),
                        "kinds": sorted(target.kinds), **({"statuses": target.statuses} if target.statuses else {})})
    print(f"\n{'target':<12} {'seconds':>8} {'cases':>8} {'crashes':>8} {'slowest ms':>11}")
    for r in results:
        print(f"{r['target']:<12} {r['seconds']:>8} {r['cases']:>8} {r['crashes']:>8} {r['slowest_ms']:>11}")
        for kind in r["kinds"]:
            print(f"    {kind}")
        if "statuses" in r:
            print("    answers: " + ", ".join(f"{k}: {n}" for k, n in sorted(r["statuses"].items())))
    write_results("fuzz", {"seed": args.seed, "seconds_per_target": args.seconds, "slow_s": args.slow,
                           "targets": args.targets, "results": results})


if __name__ == "__main__":
    main()
