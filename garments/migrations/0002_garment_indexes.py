"""Vector (HNSW), full-text (GIN) and listing indexes, built CONCURRENTLY so writes go on meanwhile."""

import django.contrib.postgres.indexes
import pgvector.django
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("garments", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="garment",
            index=pgvector.django.HnswIndex(
                ef_construction=64,
                fields=["image_embedding_vec"],
                m=16,
                name="garment_image_vec_hnsw",
                opclasses=["vector_cosine_ops"],
            ),
        ),
        AddIndexConcurrently(
            model_name="garment",
            index=pgvector.django.HnswIndex(
                ef_construction=64,
                fields=["text_embedding_vec"],
                m=16,
                name="garment_text_vec_hnsw",
                opclasses=["vector_cosine_ops"],
            ),
        ),
        AddIndexConcurrently(
            model_name="garment",
            index=pgvector.django.HnswIndex(
                ef_construction=64,
                fields=["openai_text_embedding_vec"],
                m=16,
                name="garment_openai_vec_hnsw",
                opclasses=["vector_cosine_ops"],
            ),
        ),
        AddIndexConcurrently(
            model_name="garment",
            index=django.contrib.postgres.indexes.GinIndex(fields=["search_vector"], name="garment_search_vector_gin"),
        ),
        AddIndexConcurrently(
            model_name="garment",
            index=models.Index(fields=["status", "price"], name="garment_status_price"),
        ),
    ]
