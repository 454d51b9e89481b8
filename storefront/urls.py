"""The search page for people (/): server-rendered templates over the same engine and serializers as the API."""

from django.urls import path

from . import views

app_name = "storefront"
urlpatterns = [
    path("", views.search_page, name="search"),
]
