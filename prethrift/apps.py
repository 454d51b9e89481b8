from django.apps import AppConfig


class PrethriftConfig(AppConfig):
    name = "prethrift"
    verbose_name = "Prethrift platform"
