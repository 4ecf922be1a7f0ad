"""Idefics2 models built from a config with random weights, fully offline.

Idefics2 in three sizes: ``tiny`` (about 100k parameters, for tests: it loads and generates in well under a second on
a CPU) and ``8b`` (the architecture of HuggingFaceM4/idefics2-8b: same compute as the real checkpoint,
for benchmarks on a GPU), plus ``small`` for CPU benchmarks; and a tiny Idefics3 (the architecture of
Idefics3-8B and SmolVLM). All come with a byte-level BPE tokenizer trained on the spot that carries
Idefics2's special tokens at fixed ids and its chat template, and an Idefics2 processor. Saved with
``save_pretrained``, a folder loads back through :class:`~docagent.models.ChatIdefics2` exactly as a
downloaded checkpoint does. The text such a model writes is noise; its plumbing is real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

__all__ = ["IDEFICS2_CHAT_TEMPLATE", "build_idefics2", "build_idefics3", "save_idefics2", "save_idefics3"]

# The genuine chat template of HuggingFaceM4/idefics2-8b's processor.
IDEFICS2_CHAT_TEMPLATE = (
    "{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# Ids 0..5 are fixed; <unk> doubles as the pad token, as in the real (Mistral) tokenizer.
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<fake_token_around_image>", "<image>", "<end_of_utterance>"]

_WORDS = ["the", "a", "an", "of", "to", "in", "is", "are", "was", "page", "document", "table", "figure", "chart", "invoice", "total", "amount", "date", "name", "user", "assistant", "what", "which", "where", "when", "who", "how", "describe", "summarize", "compare", "image", "images", "text", "field", "answer", "question", "yes", "no", "number", "red", "blue", "green", "left", "right", "top", "bottom", "first", "second", "third", "pdf", "form", "hello", "world", "report", "revenue", "year", "quarter", "2024", "2025", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ".", ",", "?", "!", ":", ";", "-", "(", ")", "{", "}", "[", "]", '"', "true", "false", "null", "tool_calls", "arguments", "content"]


def _tokenizer(vocab_size: int, specials: list[str] = SPECIAL_TOKENS):
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    corpus = [" ".join(_WORDS[(i * k) % len(_WORDS)] for k in range(1, 12)) for i in range(400)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable: no <unk> at run time
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",
        padding_side="left",
        model_max_length=32768,
        extra_special_tokens=specials[3:],
    )
    fast.chat_template = IDEFICS2_CHAT_TEMPLATE
    return fast


def _configs(size: str, vocab: int) -> dict[str, Any]:
    if size == "tiny":
        return {
            "text": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 4096, "sliding_window": None},
            "vision": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": 64, "patch_size": 8},
            "perceiver": {"hidden_size": 32, "resampler_n_latents": 4, "resampler_depth": 1, "resampler_n_heads": 2,
                          "resampler_head_dim": 8, "num_key_value_heads": 1},
            "image": {"size": {"shortest_edge": 32, "longest_edge": 64}},
            "vocab": vocab,
        }
    if size == "small":  # a few million parameters: CPU benchmarks
        return {
            "text": {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4, "num_attention_heads": 8,
                     "num_key_value_heads": 2, "head_dim": 32, "max_position_embeddings": 8192, "sliding_window": None},
            "vision": {"hidden_size": 192, "intermediate_size": 512, "num_hidden_layers": 4, "num_attention_heads": 4,
                       "image_size": 224, "patch_size": 14},
            "perceiver": {"hidden_size": 256, "resampler_n_latents": 64, "resampler_depth": 1, "resampler_n_heads": 4,
                          "resampler_head_dim": 32, "num_key_value_heads": 2},
            "image": {"size": {"shortest_edge": 112, "longest_edge": 224}},
            "vocab": vocab,
        }
    if size == "8b":  # HuggingFaceM4/idefics2-8b's config.json
        return {
            "text": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
                     "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 32768,
                     "sliding_window": 4096, "rope_theta": 10000.0},
            "vision": {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
                       "image_size": 980, "patch_size": 14},
            "perceiver": {"hidden_size": 4096, "resampler_n_latents": 64, "resampler_depth": 3, "resampler_n_heads": 16,
                          "resampler_head_dim": 96, "num_key_value_heads": 4},
            "image": {"size": {"shortest_edge": 378, "longest_edge": 980}},
            "vocab": 32003,
        }
    msg = f"unknown size {size!r}: use 'tiny', 'small' or '8b'"
    raise ValueError(msg)


def build_idefics2(size: Literal["tiny", "small", "8b"] = "tiny", *, dtype: Any = None, device: Any = None, seed: int = 0):
    """Return ``(model, processor)``: a randomly initialised Idefics2 of the given size and its processor."""
    import torch
    from transformers import (
        Idefics2Config,
        Idefics2ForConditionalGeneration,
        Idefics2Processor,
    )

    try:
        from transformers import (
            Idefics2ImageProcessorPil as ImageProcessor,  # transformers 5 without torchvision
        )
    except ImportError:  # transformers 4.x
        from transformers import Idefics2ImageProcessor as ImageProcessor

    tokenizer = _tokenizer(512)
    cfg = _configs(size, len(tokenizer))
    vocab = max(cfg["vocab"], len(tokenizer))
    image_seq_len = cfg["perceiver"]["resampler_n_latents"]
    processor = Idefics2Processor(
        image_processor=ImageProcessor(do_image_splitting=False, do_pad=True, **cfg["image"]),
        tokenizer=tokenizer,
        image_seq_len=image_seq_len,
        chat_template=IDEFICS2_CHAT_TEMPLATE,
    )
    config = Idefics2Config(
        text_config={"model_type": "mistral", "vocab_size": vocab, "rms_norm_eps": 1e-5,
                     "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id, **cfg["text"]},
        vision_config=cfg["vision"],
        perceiver_config={"rms_norm_eps": 1e-5, **cfg["perceiver"]},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    with torch.device(device or "cpu"):
        model = Idefics2ForConditionalGeneration(config)
    if dtype is not None:
        model = model.to(dtype)
    model.eval()
    gc = model.generation_config
    eou = tokenizer.convert_tokens_to_ids("<end_of_utterance>")
    gc.eos_token_id = [tokenizer.eos_token_id, eou]
    gc.pad_token_id = tokenizer.pad_token_id
    gc.bos_token_id = tokenizer.bos_token_id
    return model, processor


def build_idefics3(*, seed: int = 0):
    """Return ``(model, processor)``: a tiny randomly initialised Idefics3 (Llama text model, pixel shuffle)."""
    import torch
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3Processor,
    )

    try:
        from transformers import Idefics3ImageProcessorPil as ImageProcessor
    except ImportError:  # transformers 4.x
        from transformers import Idefics3ImageProcessor as ImageProcessor

    tokenizer = _tokenizer(512, [*SPECIAL_TOKENS, "<global-img>"])
    processor = Idefics3Processor(
        image_processor=ImageProcessor(do_image_splitting=True, size={"longest_edge": 64},
                                       max_image_size={"longest_edge": 32}, do_pad=True),
        tokenizer=tokenizer,
        image_seq_len=4,  # (32 / 8)^2 patches / scale_factor^2
        chat_template=IDEFICS2_CHAT_TEMPLATE,
    )
    config = Idefics3Config(
        text_config={"model_type": "llama", "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
                     "max_position_embeddings": 4096, "pad_token_id": tokenizer.pad_token_id,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": 32, "patch_size": 8},
        scale_factor=2,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return Idefics3ForConditionalGeneration(config).eval(), processor


def _save(model: Any, processor: Any, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def save_idefics2(out_dir: str | Path, size: Literal["tiny", "small", "8b"] = "tiny", **kwargs: Any) -> Path:
    """Build a random Idefics2 and save model and processor to ``out_dir``, as a downloaded checkpoint is laid out."""
    return _save(*build_idefics2(size, **kwargs), out_dir)


def save_idefics3(out_dir: str | Path, **kwargs: Any) -> Path:
    """Build a tiny random Idefics3 and save it to ``out_dir``."""
    return _save(*build_idefics3(**kwargs), out_dir)
