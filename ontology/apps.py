from django.apps import AppConfig


class OntologyConfig(AppConfig):
    name = "ontology"

    def ready(self) -> None:
        from garments.signals import garments_changed

        from .tasks import on_garments_changed

        # Connected before embeddings (INSTALLED_APPS order): extraction runs first, and its own save
        # then enqueues the text vectors, which read the extracted attributes.
        garments_changed.connect(on_garments_changed, dispatch_uid="ontology.on_garments_changed")
