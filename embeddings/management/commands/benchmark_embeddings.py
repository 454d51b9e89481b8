"""manage.py benchmark_embeddings [--json]: our inference pipeline against the naive one, in one run.

Image: naive is one photo at a time through transformers' CLIPImageProcessor and CLIPModel in
fp32; the pipeline is ours (draft-mode decode, numpy preprocessing, batches, inference_mode, the
configured precision). Both run on the same photos, after a warm-up, with the same threads.
Without CLIP_MODEL_PATH the model is a CLIP with the ViT-B/32 shape and random weights: the same
compute as the real one, and said so under "weights". Text: single-query latency and batch
throughput of the local model.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

SAMPLE_IMAGES = Path(settings.BASE_DIR) / "data" / "sample" / "images"
QUERY_WORDS = [
    "blue",
    "denim",
    "jacket",
    "red",
    "wool",
    "midi",
    "skirt",
    "black",
    "leather",
    "boots",
    "floral",
    "summer",
    "dress",
    "white",
    "linen",
    "shirt",
    "vintage",
    "cotton",
    "tee",
    "striped",
    "knit",
    "jumper",
]


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


class Command(BaseCommand):
    help = "Measure image and text embedding speed against the naive transformers path."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--images", type=int, default=64, help="photos to embed (from data/sample/images)")
        parser.add_argument("--queries", type=int, default=200, help="distinct text queries to time")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["images"] < 4 or options["queries"] < 10:
            raise CommandError("use at least 4 images and 10 queries")
        paths = sorted(SAMPLE_IMAGES.glob("*.jpg"))[: options["images"]]
        if len(paths) < options["images"]:
            raise CommandError(f"only {len(paths)} photos in {SAMPLE_IMAGES}")
        with tempfile.TemporaryDirectory(prefix="benchmark-clip-") as scratch:
            if settings.CLIP_MODEL_PATH:
                model_path, weights = Path(settings.CLIP_MODEL_PATH), "real"
            else:
                from embeddings.random_clip import build_random_clip

                model_path, weights = build_random_clip(Path(scratch) / "clip-vit-b-32-random"), "random"
            image = self._images(model_path, paths)
        text = self._text(options["queries"])
        result = {"image": image, **text, "model": f"{model_path.name} (CLIP {image.pop('shape')})", "weights": weights}
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        for key, value in result.items():
            self.stdout.write(f"{key}: {value}")

    def _images(self, model_path: Path, paths: list[Path]) -> dict[str, Any]:
        import torch
        from transformers import CLIPImageProcessor, CLIPModel

        from embeddings.encoders.clip import IMAGE_BATCH_SIZE, ClipEncoder
        from embeddings.images import open_for_model
        from embeddings.runtime import configure_torch

        configure_torch()
        contents = [path.read_bytes() for path in paths]
        model = CLIPModel.from_pretrained(str(model_path), local_files_only=True).eval()
        processor = CLIPImageProcessor.from_pretrained(str(model_path), local_files_only=True)

        def naive(content: bytes) -> np.ndarray:
            import io

            from PIL import Image

            inputs = processor(images=Image.open(io.BytesIO(content)), return_tensors="pt")
            with torch.no_grad():
                features = model.get_image_features(**inputs).pooler_output
            return torch.nn.functional.normalize(features, dim=-1).numpy()[0]

        for content in contents[:2]:
            naive(content)
        started = time.perf_counter()
        reference = np.stack([naive(content) for content in contents])
        naive_rate = len(contents) / (time.perf_counter() - started)

        encoder = ClipEncoder(model_path, precision=settings.EMBEDDINGS_CLIP_PRECISION)

        def pipeline(batch: list[bytes]) -> np.ndarray:
            return encoder.embed_images([open_for_model(content, encoder.input_size) for content in batch])

        pipeline(contents[:IMAGE_BATCH_SIZE])
        started = time.perf_counter()
        ours = np.concatenate(
            [pipeline(contents[i : i + IMAGE_BATCH_SIZE]) for i in range(0, len(contents), IMAGE_BATCH_SIZE)]
        )
        pipeline_rate = len(contents) / (time.perf_counter() - started)
        config = model.config.vision_config
        return {
            "naive_per_second": round(naive_rate, 2),
            "pipeline_per_second": round(pipeline_rate, 2),
            "ratio": round(pipeline_rate / naive_rate, 2),
            "min_cosine_vs_fp32": round(float((ours * reference).sum(axis=1).min()), 5),
            "batch_size": IMAGE_BATCH_SIZE,
            "images": len(contents),
            "precision": encoder.precision,
            "torch_threads": torch.get_num_threads(),
            "shape": f"{config.num_hidden_layers} layers, {config.hidden_size} wide, patch {config.patch_size}",
        }

    def _text(self, count: int) -> dict[str, Any]:
        from embeddings.registry import get_encoder

        encoder = get_encoder("text")
        assert encoder is not None
        rng = np.random.default_rng(0)
        queries = [" ".join(rng.choice(QUERY_WORDS, size=int(rng.integers(2, 6)))) + f" {i}" for i in range(count)]
        for query in queries[:10]:
            encoder.embed_texts([query])
        timings = []
        for query in queries:
            started = time.perf_counter()
            encoder.embed_texts([query])
            timings.append((time.perf_counter() - started) * 1000)

        titles = [
            line.rsplit(",", 1)[-1] for line in (SAMPLE_IMAGES.parent / "styles.csv").read_text().splitlines()[1:]
        ]
        documents = [f"{title}\nBrand: {title.split()[0]}" for title in titles] * 2
        started = time.perf_counter()
        encoder.embed_texts(documents)
        batch_rate = len(documents) / (time.perf_counter() - started)
        return {
            "text_query_ms": {
                "p50": round(statistics.median(timings), 3),
                "p95": round(_percentile(timings, 95), 3),
                "queries": count,
            },
            "text_batch_per_second": round(batch_rate, 1),
            "text_model": encoder.describe(),
        }
