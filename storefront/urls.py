"""The search page for people (/): server-rendered templates over the same engine and serializers as the API."""

from django.urls import path, re_path

from . import photos, views

app_name = "storefront"
urlpatterns = [
    path("", views.search_page, name="search"),
    re_path(r"^photos/(?P<sha256>[0-9a-f]{64})/(?P<width>[0-9]{1,4})\.webp$", photos.photo, name="photo"),
]
