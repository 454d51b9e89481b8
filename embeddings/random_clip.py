"""A CLIP with random weights, saved as a normal transformers folder.

Used where real weights are absent: `benchmark_embeddings` builds one with the ViT-B/32 shape
(the defaults of CLIPConfig: same compute as the real model), and the tests build a tiny one.
Either is then loaded through CLIP_MODEL_PATH by exactly the code that loads real weights.
The tokenizer is a byte-level BPE with no merges: every character is a token. It is enough to
exercise the text tower; it is not OpenAI's vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFAULT_MEAN = [0.48145466, 0.4578275, 0.40821073]
DEFAULT_STD = [0.26862954, 0.26130258, 0.27577711]


def _byte_characters() -> list[str]:
    """GPT-2's reversible byte-to-unicode table, which CLIP's byte-level BPE uses."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    characters, extra = [], 0
    for byte in range(256):
        if byte in printable:
            characters.append(chr(byte))
        else:
            characters.append(chr(256 + extra))
            extra += 1
    return characters


def _byte_vocab() -> dict[str, int]:
    characters = _byte_characters()
    vocab: dict[str, int] = {}
    for token in characters + [f"{c}</w>" for c in characters] + ["<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(token, len(vocab))
    return vocab


def build_random_clip(
    path: Path, *, tiny: bool = False, projection_dim: int = 512, image_size: int = 224, seed: int = 0
) -> Path:
    """Write a random-weight CLIP folder at `path` (created) and return it."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    path.mkdir(parents=True, exist_ok=True)
    vocab = _byte_vocab()
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(str(path))
    special = {
        "vocab_size": len(vocab),
        "bos_token_id": vocab["<|startoftext|>"],
        "eos_token_id": vocab["<|endoftext|>"],
        "pad_token_id": vocab["<|endoftext|>"],
    }
    text_config: dict[str, Any] = dict(special)
    vision_config: dict[str, Any] = {"image_size": image_size}
    if tiny:
        small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
        text_config |= small | {"max_position_embeddings": 32}
        vision_config |= small | {"patch_size": 8}
    torch.manual_seed(seed)
    config = CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=projection_dim)
    CLIPModel(config).eval().save_pretrained(str(path))
    processor = {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": image_size},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": image_size, "width": image_size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": DEFAULT_MEAN,
        "image_std": DEFAULT_STD,
        "do_convert_rgb": True,
    }
    (path / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return path
