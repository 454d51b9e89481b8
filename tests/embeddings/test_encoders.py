"""The three encoders through their real loading code: shapes, norms, fidelity, limits, failures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from embeddings.encoders.base import DimensionMismatchError, EncoderError, TransientEncoderError
from embeddings.encoders.clip import ClipEncoder
from embeddings.encoders.local_text import LocalTextEncoder, native_bf16
from embeddings.encoders.openai import (
    BACKOFF_CAP_SECONDS,
    MAX_ATTEMPTS,
    MAX_INPUTS_PER_REQUEST,
    OpenAIEncoder,
    request_batches,
)
from embeddings.images import open_for_model
from embeddings.metrics import embedding_generation_failures_total
from embeddings.random_clip import build_random_clip
from embeddings.registry import get_encoder
from tests.embeddings.fake_openai import FakeOpenAI, fake_vector

SAMPLE_IMAGES = sorted((Path(__file__).resolve().parents[2] / "data/sample/images").glob("*.jpg"))[:6]
TEXTS = [
    "Turtle Check Men Navy Blue Shirt",
    "red",
    "Vintage wool overcoat with horn buttons and a torn lining, size M, " * 4,
    "blue denim jacket under $100",
    "",
    "Jupe plissée en laine rouge",
]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def local(request: pytest.FixtureRequest) -> LocalTextEncoder:
    if request.param == "bf16" and not native_bf16():
        pytest.skip("this CPU has no native bfloat16; the encoder uses fp32 here")
    return LocalTextEncoder(precision=request.param)


# --- local text model -------------------------------------------------------------------------


def test_local_model_loads_from_the_package_offline(local):
    assert (local.id, local.dimensions) == ("local:all-MiniLM-L6-v2", 384)
    assert local.compact is not None


def test_compact_forward_matches_the_transformers_forward(local):
    # given the same texts through the plain transformers model and mean pooling
    encoded = local.tokenizer(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        states = local.model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    reference = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    # when
    ours = local.embed_texts(TEXTS)
    # then
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert cosine(ours, reference).min() > (0.9999 if local.precision == "fp32" else 0.999)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_local_vectors_carry_meaning(local):
    red_dress, crimson_gown, boots = local.embed_texts(["red dress", "crimson evening gown", "leather hiking boots"])
    assert red_dress @ crimson_gown > red_dress @ boots + 0.1


def test_order_and_batching_do_not_change_vectors(local):
    many = [f"{text} {i}" for i in range(70) for text in TEXTS[:2]]
    together = local.embed_texts(many)
    alone = np.stack([local.embed_texts([text])[0] for text in many[:5]])
    assert cosine(together[:5], alone).min() > 0.9999
    assert local.embed_texts([]).shape == (0, 384)


# --- CLIP ---------------------------------------------------------------------------------------


def test_clip_embeds_images_and_text_into_one_unit_space(tiny_clip_path):
    encoder = ClipEncoder(tiny_clip_path)
    images = [Image.open(path).convert("RGB") for path in SAMPLE_IMAGES]
    image_vectors, text_vectors = encoder.embed_images(images), encoder.embed_texts(["red dress", "denim"])
    assert image_vectors.shape == (6, 512) and text_vectors.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(image_vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(text_vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.id.startswith("clip:tiny-clip:")


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_clip_pipeline_matches_the_plain_transformers_path(tiny_clip_path, precision):
    from transformers import CLIPImageProcessor, CLIPModel

    # given the naive path: the transformers processor and model in fp32, one image at a time
    model = CLIPModel.from_pretrained(str(tiny_clip_path)).eval()
    processor = CLIPImageProcessor.from_pretrained(str(tiny_clip_path))
    with torch.inference_mode():
        naive = np.concatenate([
            model.get_image_features(**processor(images=Image.open(path), return_tensors="pt")).pooler_output.numpy()
            for path in SAMPLE_IMAGES
        ])  # fmt: skip
    # when
    ours = ClipEncoder(tiny_clip_path, precision=precision).embed_images(
        [Image.open(path).convert("RGB") for path in SAMPLE_IMAGES]
    )
    # then
    assert cosine(ours, naive).min() > (0.9999 if precision == "fp32" else 0.99)


def test_a_model_of_the_wrong_dimensions_is_refused_naming_both(tmp_path):
    path = build_random_clip(tmp_path / "clip-64", tiny=True, projection_dim=64, image_size=32)
    with pytest.raises(DimensionMismatchError, match=r"64-dimensional vectors, but the column holds 512"):
        ClipEncoder(path)


def test_clip_path_that_is_not_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(EncoderError, match="not a transformers model folder"):
        ClipEncoder(tmp_path)


def test_without_clip_path_image_vectors_are_skipped_with_one_warning(settings, caplog):
    settings.CLIP_MODEL_PATH = ""
    assert get_encoder("image") is None
    assert get_encoder("image") is None
    warnings = [r for r in caplog.records if "CLIP_MODEL_PATH is not set" in r.getMessage()]
    assert len(warnings) == 1


# --- image loading ----------------------------------------------------------------------------


def _jpeg(image: Image.Image, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, **kwargs)
    return buffer.getvalue()


def test_exif_orientation_is_applied():
    # a 40x20 image stored with EXIF orientation 6 (rotate 90 degrees clockwise to view)
    exif = Image.Exif()
    exif[0x0112] = 6
    content = _jpeg(Image.new("RGB", (40, 20), (200, 10, 10)), exif=exif)
    assert open_for_model(content, 16).size == (20, 40)


def test_draft_mode_decodes_a_large_jpeg_small_and_keeps_the_vector(tiny_clip_path):
    encoder = ClipEncoder(tiny_clip_path, precision="fp32")
    photo = Image.open(SAMPLE_IMAGES[0]).convert("RGB").resize((1600, 1600), Image.Resampling.BICUBIC)
    content = _jpeg(photo)
    drafted = open_for_model(content, encoder.input_size)
    assert drafted.size[0] < 1600  # decoded at a reduced DCT scale
    full = Image.open(io.BytesIO(content)).convert("RGB")
    vectors = encoder.embed_images([drafted, full])
    assert cosine(vectors[0], vectors[1]) > 0.99


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not an image at all", "unreadable image"),
        (_jpeg(Image.new("RGB", (64, 64)))[:120], "unreadable image"),
        (b"\xff" * (21 * 1024 * 1024), "exceeds the"),
    ],
)
def test_bad_images_are_refused_clearly(content, message):
    with pytest.raises(EncoderError, match=message):
        open_for_model(content, 224)


def test_a_decompression_bomb_is_refused_before_decoding():
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, format="PNG")
    with pytest.raises(EncoderError, match="pixel limit"):
        open_for_model(buffer.getvalue(), 224)


# --- OpenAI -------------------------------------------------------------------------------------


def _openai(server: FakeOpenAI, sleeps: list[float]) -> OpenAIEncoder:
    return OpenAIEncoder(api_key="sk-test", base_url=server.base_url, backoff_base=0.01, sleep=sleeps.append)


def test_openai_embeds_in_order_and_normalises():
    with FakeOpenAI() as server:
        server.script.shuffle = True  # the API may answer out of order; `index` says which is which
        vectors = _openai(server, []).embed_texts(["red dress", "denim jacket", "boots"])
        assert vectors.shape == (3, 1536)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert cosine(vectors[1], np.asarray(fake_vector("denim jacket"))) > 0.9999
        request = server.script.requests[0]
        assert request["path"] == "/v1/embeddings" and request["auth"] == "Bearer sk-test"
        assert request["body"]["model"] == "text-embedding-3-small"


def test_openai_429_is_retried_honouring_retry_after_then_succeeds():
    with FakeOpenAI() as server:
        server.script.failures = [(429, {"Retry-After": "2"}, 0.0), (503, {}, 0.0)]
        sleeps: list[float] = []
        vectors = _openai(server, sleeps).embed_texts(["red dress"])
        assert vectors.shape == (1, 1536)
        assert len(server.script.requests) == 3
        assert sleeps[0] >= 2.0  # Retry-After honoured
        assert sleeps[1] <= 0.02  # then exponential backoff with jitter from 0.01 s


def test_openai_retry_after_is_honoured_only_up_to_the_cap():
    with FakeOpenAI() as server:
        server.script.failures = [(429, {"Retry-After": "3600"}, 0.0)]  # an hour: one would stall a worker
        sleeps: list[float] = []
        _openai(server, sleeps).embed_texts(["red dress"])
        assert sleeps == [BACKOFF_CAP_SECONDS]


def test_openai_spent_attempts_are_counted_as_provider_failures():
    failures = embedding_generation_failures_total.labels(space="openai_text", reason="provider_unavailable")
    before = failures._value.get()
    with FakeOpenAI() as server:
        server.script.always_status = 429
        with pytest.raises(TransientEncoderError):
            _openai(server, []).embed_texts(["red dress", "boots"])
    assert failures._value.get() - before == 2  # one per input that got no vector


def test_openai_permanent_500_becomes_transient_after_the_attempts():
    with FakeOpenAI() as server:
        server.script.always_status = 500
        sleeps: list[float] = []
        with pytest.raises(TransientEncoderError, match=f"failed {MAX_ATTEMPTS} times"):
            _openai(server, sleeps).embed_texts(["red dress"])
        assert len(server.script.requests) == MAX_ATTEMPTS
        assert len(sleeps) == MAX_ATTEMPTS - 1


def test_openai_timeout_is_transient(monkeypatch):
    monkeypatch.setattr("embeddings.encoders.openai.REQUEST_TIMEOUT_SECONDS", 0.2)
    with FakeOpenAI() as server:
        server.script.failures = [(200, {}, 1.0)] * MAX_ATTEMPTS
        with pytest.raises(TransientEncoderError):
            _openai(server, []).embed_texts(["red dress"])
        assert len(server.script.requests) == MAX_ATTEMPTS


def test_openai_bad_request_is_permanent_and_not_retried():
    with FakeOpenAI() as server:
        server.script.always_status = 400
        with pytest.raises(EncoderError, match="refused the request \\(400\\)"):
            _openai(server, []).embed_texts(["x"])
        assert len(server.script.requests) == 1


def test_openai_requests_stay_within_the_api_limits():
    batches = request_batches(["word"] * 600 + ["x" * 50_000] * 30)
    assert all(len(batch) <= MAX_INPUTS_PER_REQUEST for batch in batches)
    assert sum(len(batch) for batch in batches) == 630
    assert all(sum(min(len(t), 24_000) for t in (["word"] * 600 + ["x" * 50_000] * 30)[b[0] : b[-1] + 1]) <= 600_000
               for b in batches)  # fmt: skip
