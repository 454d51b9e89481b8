"""factory_boy factories for the catalogue; garments go through the services, as in production."""

from __future__ import annotations

import io
from typing import Any

import factory
from django.contrib.auth import get_user_model
from PIL import Image

from garments.models import Garment
from garments.services import garment_create


def jpeg_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("secret-password")


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class GarmentFactory(factory.Factory):
    """Builds garments through garment_create, so hashes and provenance are as production writes them."""

    class Meta:
        model = Garment

    sku = factory.Sequence(lambda n: f"sku-{n:05d}")
    title = factory.Sequence(lambda n: f"Blue denim jacket {n}")
    description = "A worn-in denim jacket."
    price = "40.00"
    currency = "USD"
    status = "available"
    attributes = factory.LazyFunction(lambda: {"category": "outerwear", "primary_color": "blue"})
    attribute_source = "extracted"
    image_content = None

    @classmethod
    def _create(cls, model_class: type[Garment], *args: Any, **kwargs: Any) -> Garment:
        return garment_create(**kwargs)

    @classmethod
    def _build(cls, model_class: type[Garment], *args: Any, **kwargs: Any) -> Garment:
        raise NotImplementedError("garments are built through services; use GarmentFactory() or .create()")
