from django.apps import AppConfig


class GarmentsConfig(AppConfig):
    name = "garments"
    verbose_name = "Garment catalogue"
