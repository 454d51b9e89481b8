"""manage.py demo_users: the demo's staff login (admin/admin) and an API client token; only on the embedded
database or with DEBUG on, never in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

DEMO_ADMIN = ("admin", "admin")
DEMO_CLIENT = "demo-client"


class Command(BaseCommand):
    help = "Create the demo superuser (admin/admin) and a demo API client with a token; idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        embedded = settings.DATABASES["default"]["ENGINE"] == "prethrift.embedded_pg"
        if not (settings.DEBUG or embedded):
            raise CommandError(
                "demo_users creates well-known passwords (admin/admin): it runs only on the embedded database "
                "or with DJANGO_DEBUG on, never against a real database with debugging off."
            )
        user_model = get_user_model()
        username, password = DEMO_ADMIN
        admin, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created:
            admin.set_password(password)
            admin.save()
        client, _ = user_model.objects.get_or_create(username=DEMO_CLIENT)
        token, _ = Token.objects.get_or_create(user=client)
        self.stdout.write(f"Staff login: {username} / {password}" + (" (created)" if created else ""))
        self.stdout.write(f"API token for {DEMO_CLIENT}: {token.key}")
        self.stdout.write(
            f'Try a search: curl -H "Authorization: Token {token.key}" '
            '"http://127.0.0.1:8000/api/v1/search/?q=blue+shirt+under+%2450&limit=3&explain=true"'
        )
        self.stdout.write("API docs: http://127.0.0.1:8000/api/docs/")
