from django.apps import AppConfig


class EmbeddingsConfig(AppConfig):
    name = "embeddings"

    def ready(self) -> None:
        from garments.signals import garments_changed

        from . import registry  # noqa: F401  (connects its setting_changed receiver)
        from .tasks import on_garments_changed

        garments_changed.connect(on_garments_changed, dispatch_uid="embeddings.on_garments_changed")
