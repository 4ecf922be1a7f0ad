"""Fuzz the two parsers that take untrusted input for a bounded time: document ingest (PDFs and page
images, mutated from real seeds) and the chart evaluator (expressions). Not in CI; run by hand.

    python benchmarks/fuzz.py                    # 60 s per target
    python benchmarks/fuzz.py --seconds 600 --seed 7

Property-based with Hypothesis (its shrinking makes a found crash small). A crash is any exception
other than docagent's own clear errors (DocumentLoadError, CalculationError), or a case slower than
--slow seconds. Each crash is saved under benchmarks/results/fuzz-crashes/ to be turned into a
regression test. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, write_results  # noqa: E402

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

    def record(self, data: bytes, suffix: str, error: BaseException | None, seconds: float, slow: float) -> None:
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
        (CRASHES / f"{name}.txt").write_text(kind + "\n\n" + ("".join(traceback.format_exception(error)) if error else ""))


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


class Hang(Exception):  # noqa: N818 - reads as what happened
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


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore")  # Pillow warns about every odd TIFF tag the mutations make
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="time per target (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow", type=float, default=10.0, help="a case slower than this many seconds counts as a crash")
    args = parser.parse_args()
    results = []
    for fuzz in (fuzz_ingest, fuzz_calculator):
        t0 = time.perf_counter()
        target = fuzz(args.seconds, args.seed, args.slow)
        results.append({"target": target.name, "seconds": round(time.perf_counter() - t0, 1), "cases": target.cases,
                        "crashes": target.crashes, "slowest_ms": round(target.slowest * 1000, 1),
                        "kinds": sorted(target.kinds)})
    print(f"\n{'target':<12} {'seconds':>8} {'cases':>8} {'crashes':>8} {'slowest ms':>11}")
    for r in results:
        print(f"{r['target']:<12} {r['seconds']:>8} {r['cases']:>8} {r['crashes']:>8} {r['slowest_ms']:>11}")
        for kind in r["kinds"]:
            print(f"    {kind}")
    write_results("fuzz", {"seed": args.seed, "seconds_per_target": args.seconds, "slow_s": args.slow, "results": results})


if __name__ == "__main__":
    main()
