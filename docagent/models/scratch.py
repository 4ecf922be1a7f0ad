"""Idefics2 models built from a config with random weights, fully offline.

Idefics2 in three sizes: ``tiny`` (about 2M parameters, nearly all of them the 32,003-row embedding and
output layer, for tests: it loads and generates in well under a second on a CPU) and ``8b`` (the
architecture of HuggingFaceM4/idefics2-8b: same compute as the real checkpoint, for benchmarks on a GPU),
plus ``small`` for CPU benchmarks. They carry Idefics2-8b's genuine tokenizer (:func:`idefics2_tokenizer`:
Mistral-7B's sentencepiece model from the ``mistral-common`` wheel plus Idefics2's three added tokens), its
chat template and an Idefics2 processor, so tokenisation, detokenisation, special tokens and constrained
decoding meet the vocabulary the real model has.

The tiny Idefics3 (the architecture of Idefics3-8B and SmolVLM) keeps a small byte-level BPE tokenizer
trained on the spot (:func:`_trained_tokenizer`): Idefics3's own is Llama 3's, which no installed package
ships, and ``tests/test_chat_idefics2.py::test_the_same_class_serves_idefics3`` only needs the family's
plumbing (``<global-img>``, pixel shuffle, the ``System:`` turn) from it.

Saved with ``save_pretrained``, a folder loads back through :class:`~docagent.models.ChatIdefics2` exactly
as a downloaded checkpoint does. The text such a model writes is noise; its plumbing is real.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch
    from transformers import (
        Idefics2ForConditionalGeneration,
        Idefics2Processor,
        Idefics3ForConditionalGeneration,
        Idefics3Processor,
        PreTrainedModel,
        ProcessorMixin,
        TokenizersBackend,
    )

__all__ = ["IDEFICS2_CHAT_TEMPLATE", "build_idefics2", "build_idefics3", "idefics2_tokenizer", "save_idefics2",
           "save_idefics3"]

# The genuine chat template of HuggingFaceM4/idefics2-8b's processor.
IDEFICS2_CHAT_TEMPLATE = (
    "{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# Idefics2's added tokens, at 32000-32002 after Mistral's 32,000 pieces.
IDEFICS2_ADDED_TOKENS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>"]

# The trained tokenizer's ids 0..5; <unk> doubles as the pad token, as in the real (Mistral) tokenizer.
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", *IDEFICS2_ADDED_TOKENS]


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _protobuf_fields(data: bytes) -> list[tuple[int, bytes | int]]:
    """The top-level ``(field number, value)`` pairs of a protobuf message (wire types 0, 1, 2, 5)."""
    fields: list[tuple[int, bytes | int]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        wire = key & 7
        value: bytes | int
        if wire == 0:
            value, i = _varint(data, i)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = data[i : i + size], i + size
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i : i + size], i + size
        else:
            msg = f"not a sentencepiece model (protobuf wire type {wire})"
            raise ValueError(msg)
        fields.append((key >> 3, value))
    return fields


def _sentencepiece_pieces(model: bytes) -> list[str]:
    """The pieces of a sentencepiece ``ModelProto`` in id order: field 1 repeats ``SentencePiece``, whose
    field 1 is the piece (the sentencepiece library itself is not needed for this)."""
    pieces = []
    for number, piece in _protobuf_fields(model):
        if number == 1 and isinstance(piece, bytes):
            pieces.append(next(v for n, v in _protobuf_fields(piece) if n == 1 and isinstance(v, bytes)).decode())
    return pieces


def _mistral_tokenizer_model() -> Path:
    """``tokenizer.model.v1`` inside the installed ``mistral-common`` wheel, found without importing it."""
    spec = importlib.util.find_spec("mistral_common")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "data" / "tokenizer.model.v1"
        if path.is_file():
            return path
    msg = ("the test Idefics2 uses Idefics2's genuine tokenizer (Mistral-7B v0.1's sentencepiece model), read "
           "from the mistral-common wheel, which is not installed: pip install mistral-common "
           "(or pip install -e '.[dev]')")
    raise ModuleNotFoundError(msg, name="mistral_common")


@functools.cache
def _mistral_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    from transformers.tokenization_utils_base import generate_merges

    vocab = {piece: i for i, piece in enumerate(_sentencepiece_pieces(_mistral_tokenizer_model().read_bytes()))}
    return vocab, generate_merges(vocab)  # as transformers converts a sentencepiece BPE model: merges by piece id


def idefics2_tokenizer() -> TokenizersBackend:
    """HuggingFaceM4/idefics2-8b's tokenizer, offline: Mistral-7B v0.1's 32,000 sentencepiece pieces
    (byte fallback, ``▁`` word marker, ``<unk>``/``<s>``/``</s>`` at 0/1/2) plus ``<fake_token_around_image>``,
    ``<image>`` and ``<end_of_utterance>`` at 32000-32002; ``<unk>`` pads, on the left."""
    from transformers import LlamaTokenizer

    vocab, merges = _mistral_vocab()
    tokenizer = LlamaTokenizer(vocab=dict(vocab), merges=list(merges), add_bos_token=True, add_eos_token=False,
                               legacy=False, pad_token="<unk>", padding_side="left", model_max_length=32768)
    tokenizer.add_tokens(IDEFICS2_ADDED_TOKENS, special_tokens=True)
    tokenizer.chat_template = IDEFICS2_CHAT_TEMPLATE
    if tokenizer.convert_tokens_to_ids(IDEFICS2_ADDED_TOKENS) != [32000, 32001, 32002]:
        msg = f"{_mistral_tokenizer_model()} is not Mistral-7B v0.1's tokenizer (32,000 pieces)"
        raise ValueError(msg)
    return tokenizer

_WORDS = ["the", "a", "an", "of", "to", "in", "is", "are", "was", "page", "document", "table", "figure", "chart", "invoice", "total", "amount", "date", "name", "user", "assistant", "what", "which", "where", "when", "who", "how", "describe", "summarize", "compare", "image", "images", "text", "field", "answer", "question", "yes", "no", "number", "red", "blue", "green", "left", "right", "top", "bottom", "first", "second", "third", "pdf", "form", "hello", "world", "report", "revenue", "year", "quarter", "2024", "2025", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ".", ",", "?", "!", ":", ";", "-", "(", ")", "{", "}", "[", "]", '"', "true", "false", "null", "tool_calls", "arguments", "content"]


def _trained_tokenizer(vocab_size: int, specials: list[str]) -> TokenizersBackend:
    """A small byte-level BPE trained on a few words, with ``specials`` at ids 0.. (the tiny Idefics3's)."""
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


def _configs(size: str) -> dict[str, Any]:
    if size == "tiny":
        return {
            "text": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 4096, "sliding_window": None},
            "vision": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": 64, "patch_size": 8},
            "perceiver": {"hidden_size": 32, "resampler_n_latents": 4, "resampler_depth": 1, "resampler_n_heads": 2,
                          "resampler_head_dim": 8, "num_key_value_heads": 1},
            "image": {"size": {"shortest_edge": 32, "longest_edge": 64}},
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
        }
    msg = f"unknown size {size!r}: use 'tiny', 'small' or '8b'"
    raise ValueError(msg)


def build_idefics2(size: Literal["tiny", "small", "8b"] = "tiny", *, dtype: torch.dtype | None = None,
                   device: torch.device | str | None = None,
                   seed: int = 0) -> tuple[Idefics2ForConditionalGeneration, Idefics2Processor]:
    """Return ``(model, processor)``: a randomly initialised Idefics2 of the given size and its processor,
    with Idefics2's genuine tokenizer (32,003 tokens, :func:`idefics2_tokenizer`)."""
    import torch
    import transformers
    from transformers import (
        Idefics2Config,
        Idefics2ForConditionalGeneration,
        Idefics2Processor,
    )

    # transformers 5 without torchvision has the PIL image processor; 4.x only the other
    ImageProcessor = getattr(transformers, "Idefics2ImageProcessorPil", None) or transformers.Idefics2ImageProcessor

    tokenizer = idefics2_tokenizer()
    cfg = _configs(size)
    vocab = len(tokenizer)
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
        image_token_id=tokenizer.get_vocab()["<image>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    with torch.device(device or "cpu"):
        model = Idefics2ForConditionalGeneration(config)
    if dtype is not None:
        # transformers decorates .to with functools.wraps, which mypy reads as an unbound function
        model = model.to(dtype)  # type: ignore[arg-type]
    model.eval()
    gc = model.generation_config
    eou = tokenizer.get_vocab()["<end_of_utterance>"]
    gc.eos_token_id = [tokenizer.eos_token_id, eou]
    gc.pad_token_id = tokenizer.pad_token_id
    gc.bos_token_id = tokenizer.bos_token_id
    return model, processor


def build_idefics3(*, seed: int = 0) -> tuple[Idefics3ForConditionalGeneration, Idefics3Processor]:
    """Return ``(model, processor)``: a tiny randomly initialised Idefics3 (Llama text model, pixel shuffle),
    with a small trained tokenizer (the module docstring says why)."""
    import torch
    import transformers
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3Processor,
    )

    ImageProcessor = getattr(transformers, "Idefics3ImageProcessorPil", None) or transformers.Idefics3ImageProcessor

    tokenizer = _trained_tokenizer(512, [*SPECIAL_TOKENS, "<global-img>"])
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
        image_token_id=tokenizer.get_vocab()["<image>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return Idefics3ForConditionalGeneration(config).eval(), processor


def _save(model: PreTrainedModel, processor: ProcessorMixin, out_dir: str | Path) -> Path:
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
