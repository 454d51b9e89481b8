"""The garment write API under attack and under load: permissions, races, versions, hostile bodies."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any, cast
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models.signals import pre_save
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from garments.models import Garment
from garments.services import GarmentConflictError, garment_create
from tests.factories import GarmentFactory, UserFactory, jpeg_bytes

LIST = "/api/v1/garments/"


def new_garment(**kwargs: Any) -> Garment:
    return cast(Garment, GarmentFactory(**kwargs))


def client_for(user: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return api


def user_with(*codenames: str, staff: bool = True) -> Any:
    user: Any = UserFactory(is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="garments", codename__in=codenames))
    return user


def detail(garment: Garment) -> str:
    return f"{LIST}{garment.pk}/"


def assert_error_shape(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:2000]
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert "details" in error
    return error


def snapshot(garment: Garment) -> dict[str, Any]:
    return dict(
        Garment.objects.filter(pk=garment.pk).values(
            "sku", "title", "description", "price", "currency", "status", "category", "brand", "updated_at"
        )[0]
    )


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at once by a barrier; each result, or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # the test asserts on it
            results[index] = exc
        finally:
            connection.close()  # each thread has its own connection; leave none open

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# --- authorisation: the API asks what the admin asks -------------------------------------------


def _write(api: APIClient, verb: str, garment: Garment) -> Any:
    if verb == "POST":
        return api.post(LIST, {"sku": "perm-new", "title": "Tweed blazer"}, format="json")
    if verb == "PATCH":
        return api.patch(detail(garment), {"title": "Retitled"}, format="json")
    if verb == "PUT":
        return api.put(detail(garment), {"title": "Retitled"}, format="json")
    return api.delete(detail(garment))


PERMISSION_OF = {"POST": "add_garment", "PATCH": "change_garment", "PUT": "change_garment", "DELETE": "delete_garment"}
SUCCESS_OF = {"POST": 201, "PATCH": 200, "PUT": 200, "DELETE": 204}


@pytest.mark.django_db
@pytest.mark.parametrize("verb", ["POST", "PATCH", "PUT", "DELETE"])
def test_writes_need_the_model_permission_not_just_staff(verb):
    garment = new_garment()
    before = snapshot(garment)
    refused = {
        "staff without permissions": user_with(),
        "staff who may only view": user_with("view_garment"),
        "staff with every other permission": user_with(*(set(PERMISSION_OF.values()) - {PERMISSION_OF[verb]})),
        "a reader with the permission but no staff status": user_with(PERMISSION_OF[verb], staff=False),
    }
    for who, user in refused.items():
        response = _write(client_for(user), verb, garment)
        assert response.status_code == 403, who
        assert_error_shape(response, 403)
    assert snapshot(garment) == before
    assert not Garment.objects.filter(sku="perm-new").exists()
    # the exact permission is enough
    allowed = _write(client_for(user_with(PERMISSION_OF[verb])), verb, garment)
    assert allowed.status_code == SUCCESS_OF[verb], allowed.content[:500]


@pytest.mark.django_db
def test_any_authenticated_user_reads():
    garment = new_garment()
    reader = client_for(UserFactory())
    assert reader.get(LIST).status_code == 200
    assert reader.get(detail(garment)).status_code == 200
    assert APIClient().get(detail(garment)).status_code == 401


@pytest.mark.django_db
def test_staff_without_permissions_are_refused_by_the_admin_too(client):
    garment = new_garment()
    client.force_login(user_with())
    admin = "/admin/garments/garment/"
    for url in (admin, f"{admin}add/", f"{admin}{garment.pk}/change/", f"{admin}{garment.pk}/delete/"):
        assert client.get(url).status_code == 403, url


# --- delete goes through the service: row in a transaction, photo after commit ------------------


@pytest.mark.django_db
def test_delete_removes_the_row_and_after_commit_the_photo_no_other_garment_uses(django_capture_on_commit_callbacks):
    api = client_for(user_with("delete_garment"))
    alone = new_garment(image_content=jpeg_bytes((10, 200, 10)))
    shared_a = new_garment(image_content=jpeg_bytes((10, 10, 200)))
    shared_b = new_garment(image_content=jpeg_bytes((10, 10, 200)))
    assert shared_a.image.name == shared_b.image.name
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert api.delete(detail(alone)).status_code == 204
        assert default_storage.exists(str(alone.image.name))  # nothing is deleted before the commit
    assert len(callbacks) == 1
    assert not Garment.objects.filter(pk=alone.pk).exists()
    assert not default_storage.exists(str(alone.image.name))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(detail(shared_a)).status_code == 204
    assert default_storage.exists(str(shared_b.image.name))  # still shown by the other garment
    assert_error_shape(api.delete(detail(alone)), 404)


# --- a duplicate sku is a 409, also when another request inserts it after our check --------------


@pytest.mark.django_db(transaction=True)
def test_a_sku_committed_between_the_check_and_the_insert_is_a_409():
    # given a second writer, on its own connection, that commits the same sku after our check
    # passed and just before our INSERT (pre_save is the last moment before it)
    def other_writer_commits_first(sender: Any, instance: Garment, **kwargs: Any) -> None:
        pre_save.disconnect(other_writer_commits_first, sender=Garment)
        run_together(lambda: garment_create(sku=instance.sku, title="The other writer's coat"))

    pre_save.connect(other_writer_commits_first, sender=Garment)
    try:
        # when
        response = client_for(user_with("add_garment")).post(LIST, {"sku": "race-1", "title": "Coat"}, format="json")
    finally:
        pre_save.disconnect(other_writer_commits_first, sender=Garment)
    # then: a 409 in the stable shape, and the other writer's garment stands
    error = assert_error_shape(response, 409)
    assert error["code"] == "conflict" and error["details"] == {"sku": "taken"}
    assert list(Garment.objects.filter(sku="race-1").values_list("title", flat=True)) == ["The other writer's coat"]


@pytest.mark.django_db
def test_the_service_answers_a_conflict_for_a_taken_sku():
    garment_create(sku="taken", title="Coat")
    with pytest.raises(GarmentConflictError) as error:
        garment_create(sku=" taken ", title="Another coat")
    assert error.value.status_code == 409


@pytest.mark.django_db(transaction=True)
def test_two_requests_creating_one_sku_at_once_give_one_201_and_one_409():
    user = user_with("add_garment")
    for trial in range(8):
        sku = f"same-{trial}"
        posts = [partial(client_for(user).post, LIST, {"sku": sku, "title": f"Coat {n}"}, format="json") for n in "ab"]
        responses = run_together(*posts)
        assert not any(isinstance(r, Exception) for r in responses), responses
        assert sorted(r.status_code for r in responses) == [201, 409], trial
        assert_error_shape(next(r for r in responses if r.status_code == 409), 409)
        assert Garment.objects.filter(sku=sku).count() == 1


# --- lost updates: concurrent PATCHes of different fields both land ------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_patches_of_different_fields_at_once_both_land():
    user = user_with("change_garment")
    title_client, price_client = client_for(user), client_for(user)
    for trial in range(20):
        garment = new_garment(title="Old title", price="1.00")
        url = detail(garment)
        title, price = f"New title {trial}", f"{trial + 10}.00"
        responses = run_together(
            partial(title_client.patch, url, {"title": title}, format="json"),
            partial(price_client.patch, url, {"price": price}, format="json"),
        )
        assert [getattr(r, "status_code", r) for r in responses] == [200, 200]
        garment.refresh_from_db()
        assert (garment.title, garment.price) == (title, Decimal(price)), f"trial {trial} lost a change"


# --- optimistic concurrency: ETag and If-Match ------------------------------------------------------


@pytest.mark.django_db
def test_get_returns_an_etag_and_a_stale_if_match_is_a_412():
    garment = new_garment()
    api = client_for(user_with("change_garment", "delete_garment"))
    etag = api.get(detail(garment))["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    # a write with the current version lands, and answers the new version
    first = api.patch(detail(garment), {"title": "First edit"}, format="json", HTTP_IF_MATCH=etag)
    assert first.status_code == 200
    assert first["ETag"] != etag and first["ETag"] == api.get(detail(garment))["ETag"]
    before = snapshot(garment)
    # a write with the version read before that edit is refused, and changes nothing
    for verb, call in (
        ("PATCH", lambda: api.patch(detail(garment), {"price": "1"}, format="json", HTTP_IF_MATCH=etag)),
        ("PUT", lambda: api.put(detail(garment), {"price": "1"}, format="json", HTTP_IF_MATCH=etag)),
        ("DELETE", lambda: api.delete(detail(garment), HTTP_IF_MATCH=etag)),
        ("malformed", lambda: api.patch(detail(garment), {"price": "1"}, format="json", HTTP_IF_MATCH="nonsense")),
    ):
        error = assert_error_shape(call(), 412)
        assert error["code"] == "precondition_failed", verb
    assert snapshot(garment) == before
    # "*" and a weak form of the current tag are accepted
    current = first["ETag"]
    assert api.patch(detail(garment), {"price": "2"}, format="json", HTTP_IF_MATCH="*").status_code == 200
    current = api.get(detail(garment))["ETag"]
    assert api.delete(detail(garment), HTTP_IF_MATCH=f"W/{current}").status_code == 204


# --- the vocabulary: closed attributes take vocabulary values, brand and size any value -------------


@pytest.mark.django_db
def test_attribute_values_are_checked_against_the_vocabulary():
    garment = new_garment()
    api = client_for(user_with("change_garment"))
    before = snapshot(garment)
    bad = api.patch(detail(garment), {"attributes": {"category": "Spaceship!!"}}, format="json")
    error = assert_error_shape(bad, 400)
    assert error["code"] == "invalid_garment" and "category" in error["details"]
    long_brand = api.patch(detail(garment), {"attributes": {"brand": "b" * 65}}, format="json")
    assert "brand" in json.dumps(assert_error_shape(long_brand, 400)["details"])
    assert snapshot(garment) == before
    # synonyms map to the canonical value; brand and size take values outside the vocabulary
    good = api.patch(
        detail(garment),
        {
            "attributes": {
                "primary_color": "Navy Blue",
                "category": "Coats and Jackets",
                "brand": "LEVIS",
                "size": "W32",
                "condition": "nwt",
            }
        },
        format="json",
    )
    assert good.status_code == 200, good.json()
    garment.refresh_from_db()
    assert (garment.primary_color, garment.category, garment.brand, garment.size, garment.condition) == (
        "navy", "outerwear", "levi's", "w32", "new_with_tags"
    )  # fmt: skip
    api.patch(detail(garment), {"attributes": {"brand": "Harris  Tweed"}}, format="json")
    garment.refresh_from_db()
    assert garment.brand == "harris tweed"


# --- prices ------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw_price",
    ['"1e999999"', "1e999999", '"NaN"', "NaN", '"Infinity"', "Infinity", "-Infinity", '"-1"', "-1",
     "1000000000000", '"1000000000000"', '"1e-999999"', '"12.345"', '"ten"', "true", "[]", "{}"],
)  # fmt: skip
def test_absurd_prices_are_a_400(raw_price):
    garment = new_garment()
    api = client_for(user_with("add_garment", "change_garment"))
    before = snapshot(garment)
    response = api.patch(detail(garment), f'{{"price": {raw_price}}}', content_type="application/json")
    assert response.status_code == 400, (raw_price, response.content[:500])
    assert_error_shape(response, 400)
    assert snapshot(garment) == before
    body = f'{{"sku": "p-1", "title": "Coat", "price": {raw_price}}}'
    created = api.post(LIST, body, content_type="application/json")
    assert_error_shape(created, 400)
    assert not Garment.objects.filter(sku="p-1").exists()


# --- forged cursors and page sizes on the list -----------------------------------------------------


def _cursor(query: str | bytes | dict[str, str]) -> str:
    if isinstance(query, dict):
        query = urlencode(query)
    raw = query.encode() if isinstance(query, str) else query
    return base64.b64encode(raw).decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    [
        "!!!not-base64!!!",
        "AAAA",  # base64 of three NUL bytes
        _cursor("o=-5"),
        _cursor("o=" + "9" * 5000),
        _cursor("p=yesterday"),
        _cursor({"p": "2026-13-45 99:00:00+00:00"}),
        _cursor({"p": "2026-01-01 00:00:00"}),  # no time zone
        _cursor({"p": "2026-01-01 00:00:00+00:00", "x": "1"}),  # a key DRF never writes
        _cursor("p=2026-01-01%2000%3A00%3A00%2B00%3A00&p=2027-01-01%2000%3A00%3A00%2B00%3A00"),
        _cursor({"r": "7"}),
        _cursor("p=2026-01-01%00"),
        _cursor(b"p=\x00\x00"),
        _cursor("r=maybe"),
        "é",
    ],
)
def test_a_forged_cursor_is_a_404_in_the_stable_shape(cursor):
    new_garment()
    response = client_for(UserFactory()).get(LIST, {"cursor": cursor})
    assert assert_error_shape(response, 404)["code"] == "not_found"


@pytest.mark.django_db
def test_a_genuine_cursor_and_an_old_position_still_work():
    for _ in range(3):
        new_garment()
    api = client_for(UserFactory())
    first = api.get(LIST, {"page_size": 2}).json()
    second = api.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 1
    back = api.get(second["previous"]).json()
    assert [g["id"] for g in back["results"]] == [g["id"] for g in first["results"]]
    old = api.get(LIST, {"cursor": _cursor({"p": "0001-01-01 00:00:00+14:00"})})
    assert old.status_code == 200 and old.json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(("page_size", "expected"), [("1000000000", 3), ("-1", 3), ("0", 3), ("x", 3), ("1", 1)])
def test_page_size_is_bounded(page_size, expected):
    for _ in range(3):
        new_garment()
    response = client_for(UserFactory()).get(LIST, {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected


# --- unknown and read-only fields are named, never ignored --------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "read_only"), [("titel", False), ("colour", False), ("id", True),
                                                   ("created_at", True), ("image_url", True)])  # fmt: skip
def test_unknown_and_read_only_fields_are_a_400_naming_them(field, read_only):
    garment = new_garment()
    api = client_for(user_with("add_garment", "change_garment"))
    before = snapshot(garment)
    for response in (
        api.patch(detail(garment), {field: "x", "title": "Changed"}, format="json"),
        api.post(LIST, {"sku": "u-1", "title": "Coat", field: "x"}, format="json"),
    ):
        error = assert_error_shape(response, 400)
        messages = " ".join(error["details"][field])
        assert "Accepted fields: attributes, currency, description, price, sku, status, title." in messages
        assert ("read-only" in messages) is read_only
    assert snapshot(garment) == before
    assert not Garment.objects.filter(sku="u-1").exists()


# --- hostile bodies: each a 4xx in the stable shape, the row unchanged ---------------------------------

HOSTILE_PATCHES: list[tuple[str, Any]] = [
    ("title as an object", {"title": {"$ne": ""}}),
    ("title as a list", {"title": ["a", "b"]}),
    ("title as a boolean", {"title": True}),
    ("title empty", {"title": "   "}),
    ("title over-long", {"title": "x" * 301}),
    ("title with NUL", {"title": "Coat\x00"}),
    ("title with a control character", {"title": "Coat\x1b[31m"}),
    ("title with a line break", {"title": "Coat\nDROP"}),
    ("description with NUL", {"description": "Warm\x00coat"}),
    ("description with a bell", {"description": "Warm\x07coat"}),
    ("description of a megabyte", {"description": "x" * 1_000_000}),
    ("attributes as a list", {"attributes": ["category", "tops"]}),
    ("attributes as a string", {"attributes": "category=tops"}),
    ("attribute value as an object", {"attributes": {"category": {"a": 1}}}),
    ("unknown attribute", {"attributes": {"smell": "fresh"}}),
    ("attribute with NUL", {"attributes": {"brand": "acne\x00"}}),
    ("attribute with a control character", {"attributes": {"size": "m\x01"}}),
    ("over-long open attribute", {"attributes": {"size": "s" * 65}}),
    ("over-long closed attribute", {"attributes": {"category": "t" * 1000}}),
    ("SQL in a closed attribute", {"attributes": {"category": "tops' OR '1'='1"}}),
    ("LIKE metacharacters in a closed attribute", {"attributes": {"primary_color": "%_%"}}),
    ("status unknown", {"status": "stolen"}),
    ("status with SQL", {"status": "sold'; DROP TABLE garments_garment; --"}),
    ("currency not ISO", {"currency": "€€€"}),
    ("currency as a number", {"currency": 123}),
    ("price as an object", {"price": {"amount": 3}}),
    ("sku changed on update", {"sku": "another-sku"}),
    ("a list body", ["title", "Coat"]),
    ("a string body", "title=Coat"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "body"), HOSTILE_PATCHES, ids=[case for case, _ in HOSTILE_PATCHES])
def test_hostile_patches_are_a_4xx_and_change_nothing(case, body):
    garment = new_garment(attributes={"category": "outerwear", "brand": "zara"})
    api = client_for(user_with("change_garment"))
    before = snapshot(garment)
    response = api.patch(detail(garment), json.dumps(body), content_type="application/json")
    assert 400 <= response.status_code < 500, (case, response.status_code)
    assert_error_shape(response, response.status_code)
    assert snapshot(garment) == before, case


@pytest.mark.django_db
def test_sql_and_like_metacharacters_in_words_are_stored_as_written():
    api = client_for(user_with("add_garment"))
    title = "50% off_ 'quoted' \"double\" \\ ; DROP TABLE garments_garment; --"
    # a brand the vocabulary does not know is stored as written (O'Neill is a vocabulary brand since v2, and a
    # stated vocabulary brand is stored as its canonical value)
    response = api.post(LIST, {"sku": "meta-%_'", "title": title, "attributes": {"brand": "d'arcy %_"}}, format="json")
    assert response.status_code == 201, response.json()
    garment = Garment.objects.get(sku="meta-%_'")
    assert garment.title == title
    assert garment.brand == "d'arcy %_"
    assert Garment.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("price", ["1e999999", "NaN", "Infinity", "-1", "1000000000000", "1,5", "0x10"])
def test_absurd_prices_in_a_form_body_are_a_400(price):
    api = client_for(user_with("add_garment"))
    response = api.post(LIST, {"sku": "f-1", "title": "Coat", "price": price}, format="multipart")
    assert_error_shape(response, 400)
    assert not Garment.objects.filter(sku="f-1").exists()
