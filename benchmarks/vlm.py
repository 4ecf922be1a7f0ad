"""Vision-language model speed: ChatIdefics2 against the plain transformers usage, side by side.

On a CUDA GPU (``--size 8b``, the default there) the model is Idefics2-8b's architecture built from its
config with random weights: the same compute as the real checkpoint, no download. Without a GPU the
script runs a small config on the CPU (``--size small``) and says so: the figures then show the
plumbing (batching, bandwidth use), not GPU speed.

Measured, on rendered PDF pages (examples/*.pdf at 150 dpi):
  * prefill ms per page image, with and without image splitting (64 vs 320 visual tokens at 8b);
  * decode tokens/s at batch 1 and its fraction of the memory-bandwidth roofline (weights + KV cache
    read once per token; bandwidth from the GPU's datasheet, and measured by a copy for the CPU);
  * answers/s on a batch of 16 page questions: ChatIdefics2.batch (bf16 on a GPU, sdpa, one generate)
    against the plain usage (default dtype ``from_pretrained(...).to(device)``, one generate per
    question), every answer forced to the same length.

    python benchmarks/vlm.py                 # 8b on a GPU, small on a CPU
    python benchmarks/vlm.py --size small --questions 8 --answer-tokens 16
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, write_results

# Datasheet HBM bandwidth, GB/s.
_GPU_BANDWIDTH = {"H200": 4800.0, "H100 PCIe": 2000.0, "H100 NVL": 3900.0, "H100": 3350.0, "A100": 2039.0, "L40S": 864.0}


def _pages(n: int) -> list[Any]:
    import pymupdf
    from PIL import Image

    images = []
    for pdf in sorted((ROOT / "examples").rglob("*.pdf")):
        with pymupdf.open(pdf) as doc:
            for page in doc:
                pix = page.get_pixmap(dpi=150)
                images.append(Image.frombytes("RGB", (pix.width, pix.height), pix.samples))
    return [images[i % len(images)] for i in range(n)]


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _bandwidth_gbs(device: str) -> tuple[float, str]:
    import torch

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        for key, value in _GPU_BANDWIDTH.items():
            if key in name:
                return value, f"datasheet ({name})"
    x = torch.empty(256 * 2**20 // 4, dtype=torch.float32, device=device)
    y = torch.empty_like(x)
    best = float("inf")
    for _ in range(5):
        _sync(device)
        t = time.perf_counter()
        y.copy_(x)
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * x.numel() * 4 / best / 1e9, "measured copy"


def _decode_bytes(model: Any, context: int) -> float:
    """Bytes read per decoded token: every text-model weight but the input embedding, plus the KV cache."""
    text = model.model.text_model
    weights = sum(p.numel() * p.element_size() for n, p in text.named_parameters() if "embed_tokens" not in n)
    lm_head = model.lm_head.weight
    weights += lm_head.numel() * lm_head.element_size()
    cfg = model.config.text_config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    kv = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * head_dim * lm_head.element_size() * context
    return float(weights + kv)


def _question(image: Any, i: int) -> list[Any]:
    from langchain_core.messages import HumanMessage

    text = ["What is the total amount due?", "Which year had the highest revenue?", "Who signed the form?"][i % 3]
    return [HumanMessage(content=[{"type": "image", "image": image}, {"type": "text", "text": text}])]


def plain_usage(size: str, device: str, pages: list[Any], answer_tokens: int, splitting: bool) -> dict[str, float]:
    """What the seed did: default dtype, ``.to(device)``, one ``generate`` per question."""
    import torch

    from docagent.models.messages import to_turns
    from docagent.models.scratch import build_idefics2

    model, processor = build_idefics2(size)  # float32, as from_pretrained gives for the fp32 checkpoint
    model = model.to(device)
    processor.image_processor.do_image_splitting = splitting
    prompts = [processor.apply_chat_template(to_turns(_question(p, i))[0], add_generation_prompt=True)
               for i, p in enumerate(pages)]

    def answer(i: int) -> int:
        inputs = processor(text=prompts[i], images=[pages[i]], return_tensors="pt").to(device)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=answer_tokens, min_new_tokens=answer_tokens, do_sample=False)
        return out.shape[1] - inputs["input_ids"].shape[1]

    answer(0)  # warm-up
    _sync(device)
    t = time.perf_counter()
    tokens = sum(answer(i) for i in range(len(pages)))
    _sync(device)
    elapsed = time.perf_counter() - t
    # decode speed at batch 1 for reference
    inputs = processor(text=prompts[0], images=[pages[0]], return_tensors="pt").to(device)
    with torch.no_grad():
        _sync(device)
        t0 = time.perf_counter()
        model.generate(**inputs, max_new_tokens=1, do_sample=False)
        _sync(device)
        t1 = time.perf_counter()
        model.generate(**inputs, max_new_tokens=answer_tokens + 1, min_new_tokens=answer_tokens + 1, do_sample=False)
        _sync(device)
        t2 = time.perf_counter()
    decode_s = (t2 - t1) - (t1 - t0)
    result = {"answers_per_s": len(pages) / elapsed, "seconds": elapsed, "tokens": tokens,
              "decode_tokens_per_s_b1": answer_tokens / decode_s if decode_s > 0 else 0.0,
              "dtype": str(model.dtype).removeprefix("torch.")}
    return result


def docagent_usage(size: str, device: str, pages: list[Any], answer_tokens: int, splitting: bool,
                   decode_tokens: int) -> dict[str, Any]:
    import torch

    from docagent.models import ChatIdefics2
    from docagent.models.scratch import build_idefics2

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model, processor = build_idefics2(size, dtype=dtype, device=device)
    processor.tokenizer.padding_side = "left"
    chat = ChatIdefics2.from_loaded(model, processor, model_name=f"random-idefics2-{size}", max_tokens=answer_tokens,
                                    do_image_splitting=splitting, max_batch_size=len(pages))
    one = _question(pages[0], 0)
    chat.invoke(one, max_tokens=2)  # warm-up

    def prefill(split: bool) -> tuple[float, int]:
        runs = [chat.invoke(one, max_tokens=1, do_image_splitting=split) for _ in range(3)]
        return statistics.median(r.response_metadata["prefill_ms"] for r in runs), runs[0].usage_metadata["input_tokens"]

    prefill_off, tokens_off = prefill(False)
    prefill_on, tokens_on = prefill(True)
    decoded = chat.invoke(one, max_tokens=decode_tokens, min_tokens=decode_tokens, do_image_splitting=False)
    questions = [_question(p, i) for i, p in enumerate(pages)]
    chat.batch(questions[:2], min_tokens=2, max_tokens=2)  # warm-up at batch > 1
    _sync(device)
    t = time.perf_counter()
    answers = chat.batch(questions, min_tokens=answer_tokens)
    _sync(device)
    elapsed = time.perf_counter() - t
    context = decoded.usage_metadata["input_tokens"] + decode_tokens // 2
    result = {
        "prefill_ms_no_split": prefill_off, "input_tokens_no_split": tokens_off,
        "prefill_ms_split": prefill_on, "input_tokens_split": tokens_on,
        "decode_tokens_per_s_b1": decoded.response_metadata["tokens_per_s"],
        "bytes_per_token": _decode_bytes(model, context),
        "answers_per_s": len(pages) / elapsed, "seconds": elapsed,
        "tokens": sum(a.usage_metadata["output_tokens"] for a in answers),
        "dtype": str(model.dtype).removeprefix("torch."),
        "attn_implementation": model.config._attn_implementation,
    }
    return result


def _free(device: str) -> None:
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["auto", "8b", "small"], default="auto")
    parser.add_argument("--questions", type=int, default=16, help="page questions in the batch (default 16)")
    parser.add_argument("--answer-tokens", type=int, default=32, help="tokens per answer, forced (default 32)")
    parser.add_argument("--decode-tokens", type=int, default=128, help="tokens for the batch-1 decode measure")
    parser.add_argument("--split", action="store_true", help="split images in the answers/s run (both sides)")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    size = args.size if args.size != "auto" else ("8b" if cuda else "small")
    if not cuda:
        print("No CUDA GPU here: running the small config on the CPU. These figures show the plumbing, not GPU speed.")
    pages = _pages(args.questions)
    bandwidth, source = _bandwidth_gbs(device)

    ours = docagent_usage(size, device, pages, args.answer_tokens, args.split, args.decode_tokens)
    _free(device)  # one model on the GPU at a time
    base = plain_usage(size, device, pages, args.answer_tokens, args.split)
    roofline = bandwidth * 1e9 / ours["bytes_per_token"]
    fraction = ours["decode_tokens_per_s_b1"] / roofline
    speedup = ours["answers_per_s"] / base["answers_per_s"]

    device_name = torch.cuda.get_device_name() if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\nIdefics2 {size} (random weights) on {device_name}; bandwidth {bandwidth:,.0f} GB/s ({source})\n")
    rows = [
        ("prefill ms / page, no splitting", f"{ours['prefill_ms_no_split']:.1f}", f"{ours['input_tokens_no_split']} input tokens"),
        ("prefill ms / page, splitting", f"{ours['prefill_ms_split']:.1f}", f"{ours['input_tokens_split']} input tokens"),
        ("decode tokens/s, batch 1", f"{ours['decode_tokens_per_s_b1']:.1f}",
         f"plain usage {base['decode_tokens_per_s_b1']:.1f}"),
        ("decode roofline tokens/s", f"{roofline:.1f}", f"{ours['bytes_per_token'] / 1e9:.2f} GB read per token"),
        ("achieved fraction of roofline", f"{fraction:.0%}", "target >= 75% on a GPU"),
        (f"answers/s, {args.questions} questions", f"{ours['answers_per_s']:.2f}",
         f"plain usage {base['answers_per_s']:.2f} -> {speedup:.2f}x (target >= 5x)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'docagent':>10}  notes")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    write_results("vlm", {
        "size": size, "device": device_name, "bandwidth_gbs": bandwidth, "bandwidth_source": source,
        "questions": args.questions, "answer_tokens": args.answer_tokens, "split": args.split,
        "docagent": ours, "plain": base, "roofline_tokens_per_s": roofline, "roofline_fraction": fraction,
        "answers_speedup": speedup, "torch": torch.__version__,
    })


if __name__ == "__main__":
    main()
