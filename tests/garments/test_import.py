"""import_catalog: both formats, idempotency by sku, bad rows, broken and missing photos."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from garments.catalog_import import catalog_import, synthesize_missing
from garments.models import Garment
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.django_db

GENERIC_HEADER = ["sku", "title", "description", "brand", "price", "currency", "status", "image", "primary_color",
                  "size", "seller_note"]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_import(*args: str) -> str:
    out = io.StringIO()
    call_command("import_catalog", *args, stdout=out)
    return out.getvalue()


def test_sample_catalogue_imports_with_photos_and_a_second_run_creates_nothing(sample_dir):
    # when
    first = catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True)
    # then
    assert (first.rows, first.created, first.updated) == (500, 500, 0)
    assert first.failed == []
    assert first.image_warnings == []
    assert Garment.objects.count() == 500
    assert not Garment.objects.filter(image="").exists()
    # and again: nothing new, nothing changed
    second = catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True)
    assert (second.created, second.updated, second.skipped) == (0, 0, 500)
    assert Garment.objects.count() == 500


def test_myntra_labels_go_to_source_attributes_only(sample_dir):
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", limit=20)
    garment = Garment.objects.order_by("sku").first()
    assert garment is not None
    assert garment.sku.startswith("myntra-")
    assert {"gender", "masterCategory", "articleType", "baseColour"} <= set(garment.source_attributes)
    # no label leaks into the ontology columns, and nothing is invented without --synthesize-missing
    assert garment.attributes() == {}
    assert garment.price is None


def test_synthesized_values_are_deterministic_and_marked(sample_dir):
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True, limit=50)
    garment = Garment.objects.order_by("sku").first()
    assert garment is not None
    expected = synthesize_missing(garment.sku, garment.source_attributes["masterCategory"])
    assert garment.price == Decimal(expected["price"])
    assert (garment.size, garment.condition) == (expected["size"], expected["condition"])
    assert garment.source_attributes["synthetic"] == ["price", "size", "condition"]
    assert garment.ontology_source == {"size": "catalog", "condition": "catalog"}
    prices = {price for price in Garment.objects.values_list("price", flat=True) if price is not None}
    assert len(prices) > 40
    assert all(Decimal("5") <= p < Decimal("150") for p in prices)


def test_generic_format_with_bad_rows_reports_lines_and_imports_the_rest(tmp_path):
    # given photos: one good, one truncated, one missing
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "broken.jpg").write_bytes(jpeg_bytes()[:150])
    rows = [
        ["g-1", "Levi's 501 jeans", "Classic fit", "Levi's", "45", "usd", "available", "good.jpg", "Blue", "W32", "ok"],
        ["g-2", "", "", "", "10", "USD", "available", "", "", "", ""],  # no title
        ["g-3", "Wool coat", "", "", "-5", "USD", "available", "", "", "", ""],  # negative price
        ["g-4", "Silk scarf", "", "", "12", "dollars", "available", "", "", "", ""],  # bad currency
        ["g-5", "Linen shirt", "", "", "20", "USD", "lost", "", "", "", ""],  # bad status
        ["g-6", "Cord skirt", "", "", "18", "EUR", "sold", "broken.jpg", "", "", ""],
        ["g-7", "Denim jacket", "", "", "30", "GBP", "reserved", "missing.jpg", "", "", ""],
        ["g-1", "Duplicate", "", "", "1", "USD", "available", "", "", "", ""],  # duplicate sku
        ["g-8", "Null \x00 title", "", "", "5", "USD", "available", "", "", "", ""],  # PostgreSQL refuses NUL
        ["g-9", "Tweed blazer", "", "", "60", "USD", "available", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "catalog.csv", GENERIC_HEADER, rows)
    with path.open("a") as handle:
        handle.write("g-10,Too,many,fields,1,USD,available,,,,,extra,extra\n")
    # when
    report = catalog_import(path=path)
    # then
    assert sorted(Garment.objects.values_list("sku", flat=True)) == ["g-1", "g-6", "g-7", "g-9"]
    failed = {problem.line: problem.message for problem in report.failed}
    assert set(failed) == {3, 4, 5, 6, 9, 10, 12}
    assert "title" in failed[3]
    assert "price" in failed[4]
    assert "currency" in failed[5]
    assert "status" in failed[6]
    assert "duplicate sku (first on line 2)" in failed[9]
    assert "database refused" in failed[10]
    assert "fields where the header has" in failed[12]
    warnings = {problem.sku: problem.message for problem in report.image_warnings}
    assert set(warnings) == {"g-6", "g-7"}
    assert "damaged" in warnings["g-6"]
    assert "no image file" in warnings["g-7"]
    # the good row carries its attributes, its photo and its extra columns
    jeans = Garment.objects.get(sku="g-1")
    assert (jeans.brand, jeans.primary_color, jeans.size, jeans.currency) == ("levi's", "blue", "w32", "USD")
    assert jeans.image
    assert jeans.source_attributes == {"seller_note": "ok"}
    sold = Garment.objects.get(sku="g-6")
    assert sold.status == "sold"
    assert sold.sold_at is not None
    assert not sold.image


def test_reimport_updates_changed_rows_and_keeps_a_photo_whose_file_went_missing(tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes())
    header = ["sku", "title", "price", "image"]
    write_csv(tmp_path / "c.csv", header, [["a", "Coat", "10", "a.jpg"], ["b", "Hat", "5", ""]])
    catalog_import(path=tmp_path / "c.csv")
    photo = Garment.objects.get(sku="a").image.name
    # when the title of b changes and a's photo file disappears
    (tmp_path / "a.jpg").unlink()
    write_csv(tmp_path / "c.csv", header, [["a", "Coat", "10", "a.jpg"], ["b", "Wool hat", "5", ""]])
    report = catalog_import(path=tmp_path / "c.csv")
    # then
    assert (report.created, report.updated, report.skipped) == (0, 1, 1)
    assert Garment.objects.get(sku="b").title == "Wool hat"
    assert Garment.objects.get(sku="a").image.name == photo


def test_a_decompression_bomb_is_refused_and_the_garment_imported_without_it(tmp_path):
    Image.new("1", (8000, 8000)).save(tmp_path / "bomb.png")  # 64 Mpx in a few kilobytes
    write_csv(tmp_path / "c.csv", ["sku", "title", "image"], [["x", "Scarf", "bomb.png"]])
    report = catalog_import(path=tmp_path / "c.csv")
    assert report.created == 1
    assert not Garment.objects.get(sku="x").image
    assert "pixels" in report.image_warnings[0].message


def test_dry_run_counts_and_writes_nothing(sample_dir, settings):
    report = catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", dry_run=True, limit=30)
    assert (report.rows, report.created) == (30, 30)
    assert not Garment.objects.exists()
    assert not any(Path(settings.MEDIA_ROOT).iterdir())


def test_command_prints_a_summary_and_problems_with_line_numbers(tmp_path):
    write_csv(tmp_path / "c.csv", ["sku", "title", "price"], [["a", "Coat", "10"], ["b", "Hat", "cheap"]])
    output = run_import(str(tmp_path / "c.csv"), "--no-progress")
    assert "line 3 (b): The garment is not valid: price 'cheap' is not a number" in output
    assert "2 rows (generic format): created 1, updated 0, skipped 0 unchanged, failed 1" in output
    output = run_import(str(tmp_path / "c.csv"), "--dry-run")
    assert "Dry run (nothing written): would have 2 rows" in output
    assert "skipped 1 unchanged" in output


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "is not a file"),
        ("", [], "no header row"),
        ("name,colour\nCoat,red\n", [], "Unrecognised CSV header"),
        ("sku,title\na,b\n", ["--format", "myntra"], "looks like the generic format"),
        ("sku,title\na,b\n", ["--limit", "0"], "--limit must be at least 1"),
        ("sku,title\na,b\n", ["--images", "{tmp}/no-such-folder"], "is not a folder"),
        (b"sku,title\n\xff\xfe,\xff\n", [], "not a readable UTF-8 CSV"),
    ],
)
def test_command_errors_for_unusable_input(tmp_path, content, args, message):
    path = tmp_path / "c.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]  # a folder that surely does not exist
    with pytest.raises(CommandError, match=message):
        run_import(str(path), *args)
    assert not Garment.objects.exists()


@pytest.mark.skipif(not (Path(__file__).resolve().parents[3] / "shared/data/myntra-fashion-small").is_dir(),
                    reason="../shared/data/myntra-fashion-small is not present")  # fmt: skip
def test_the_shared_catalogue_file_parses_completely_including_repaired_commas():
    path = Path(__file__).resolve().parents[3] / "shared/data/myntra-fashion-small/styles_clean.csv"
    report = catalog_import(path=path, dry_run=True)
    assert report.rows == 31644
    assert not report.failed


# --- photos stay inside the images folder ------------------------------------------------------------


@pytest.fixture
def photo_layout(tmp_path: Path) -> dict[str, Path]:
    """An images folder with a photo inside and a symlink escaping it, and a readable photo outside."""
    images, outside = tmp_path / "images", tmp_path / "outside"
    (images / "sub").mkdir(parents=True)
    outside.mkdir()
    (images / "sub" / "inside.jpg").write_bytes(jpeg_bytes((10, 200, 10)))
    (outside / "secret.jpg").write_bytes(jpeg_bytes((200, 10, 10)))
    (images / "escape.jpg").symlink_to(outside / "secret.jpg")
    (images / "alias.jpg").symlink_to(images / "sub" / "inside.jpg")  # a symlink that stays inside is fine
    return {"images": images, "outside": outside, "secret": outside / "secret.jpg"}


@pytest.mark.parametrize(
    ("reference", "imported"),
    [
        pytest.param("sub/inside.jpg", True, id="inside"),
        pytest.param("alias.jpg", True, id="symlink-inside"),
        pytest.param("{secret}", False, id="absolute-path"),
        pytest.param("../outside/secret.jpg", False, id="dot-dot-escape"),
        pytest.param("sub/../../outside/secret.jpg", False, id="dot-dot-after-a-folder"),
        pytest.param("escape.jpg", False, id="symlink-escape"),
        pytest.param("/etc/passwd", False, id="a-system-file"),
    ],
)
def test_image_paths_are_confined_to_the_images_folder(tmp_path, photo_layout, reference, imported):
    reference = reference.format(secret=photo_layout["secret"])
    path = write_csv(tmp_path / "c.csv", ["sku", "title", "image"], [["a", "Coat", reference]])
    report = catalog_import(path=path, images_dir=photo_layout["images"])
    garment = Garment.objects.get(sku="a")  # the garment is imported either way
    assert bool(garment.image) is imported
    if imported:
        assert report.image_warnings == []
    else:
        assert [w.message for w in report.image_warnings] == [f"no image file {reference} in the images folder"]


def test_an_outside_file_and_a_missing_file_get_the_same_warning(tmp_path, photo_layout):
    """No existence oracle: the warning cannot tell a file outside the folder from no file at all."""
    rows = [["a", "Coat", "../outside/secret.jpg"], ["b", "Hat", "../outside/nothing.jpg"],
            ["c", "Scarf", "nothing.jpg"]]  # fmt: skip
    path = write_csv(tmp_path / "c.csv", ["sku", "title", "image"], rows)
    report = catalog_import(path=path, images_dir=photo_layout["images"])
    warnings = zip(report.image_warnings, rows, strict=True)
    messages = {warning.sku: warning.message.replace(ref, "<ref>") for warning, (_, _, ref) in warnings}
    assert set(messages.values()) == {"no image file <ref> in the images folder"}
    assert not Garment.objects.exclude(image="").exists()


def test_without_images_the_csv_folder_confines_the_paths(tmp_path, photo_layout):
    folder = tmp_path / "catalogue"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(jpeg_bytes())
    rows = [["a", "Coat", "ok.jpg"], ["b", "Hat", str(photo_layout["secret"])], ["c", "Scarf", "../outside/secret.jpg"]]
    report = catalog_import(path=write_csv(folder / "c.csv", ["sku", "title", "image"], rows))
    assert list(Garment.objects.exclude(image="").values_list("sku", flat=True)) == ["a"]
    assert [w.sku for w in report.image_warnings] == ["b", "c"]


# --- hostile files ----------------------------------------------------------------------------------

_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
_GOOD_ROWS = "".join(f"r-{i},Garment {i}\n" for i in range(600))  # more than one import chunk


@pytest.mark.parametrize(
    ("content", "error", "imported", "failed_lines"),
    [
        pytest.param(b'sku,title\na,"Coat\nb,Hat\n', "line 2 is not valid CSV", [], [], id="unclosed-quote"),
        pytest.param(b'sku,title\n"a"x,Coat\n', "line 2 is not valid CSV", [], [], id="text-after-quote"),
        pytest.param(
            ("sku,title\n" + _GOOD_ROWS + 'z,"never closed\n').encode(),
            "line 602 is not valid CSV",
            [],
            [],
            id="broken-quote-after-a-chunk-imports-nothing",
        ),
        pytest.param("sku,title\na,Café\n".encode("latin-1"), "0xe9 on line 2 is not UTF-8", [], [], id="latin-1"),
        pytest.param("sku,title\na,Coat\n".encode("utf-16"), "is UTF-16 text", [], [], id="utf-16-with-bom"),
        pytest.param("sku,title\na,Coat\n".encode("utf-16-le"), "NUL bytes in its header", [], [], id="utf-16-no-bom"),
        pytest.param("\ufeffsku,title\na,Coat\n".encode(), None, ["a"], [], id="utf-8-bom"),
        pytest.param(b"sku,title\na,Co\x00at\nb,Hat\n", None, ["b"], [2], id="nul-in-a-row"),
        pytest.param(
            b"sku,title,description\na,Coat," + b"x" * 200_000 + b"\nb,Hat,\n",
            "over 131072 characters",
            [],
            [],
            id="huge-field",
        ),
        pytest.param(b"sku,description\na,Warm\n", "Unrecognised CSV header", [], [], id="missing-required-column"),
        pytest.param(b"", "no header row", [], [], id="empty-file"),
        pytest.param(b"\n\n", "no header row", [], [], id="blank-lines-only"),
        pytest.param(b"sku,title\n", None, [], [], id="header-only"),
        pytest.param(b"sku,title\na\nb,Hat\n", None, ["b"], [2], id="short-row"),
        pytest.param(_PNG, "is not a readable UTF-8 CSV file", [], [], id="binary-file"),
        pytest.param(b"sku,title\na,Coat\n\xe2\x82", "ends inside a character", [], [], id="truncated-utf-8"),
    ],
)
def test_hostile_csv_files_give_a_clear_error_or_a_per_row_problem(tmp_path, content, error, imported, failed_lines):
    path = tmp_path / "c.csv"
    path.write_bytes(content)
    if error is not None:
        with pytest.raises(CommandError, match=re.escape(error)):
            run_import(str(path), "--no-progress")
        assert not Garment.objects.exists()  # never half a catalogue
        return
    report = catalog_import(path=path)
    assert sorted(Garment.objects.values_list("sku", flat=True)) == imported
    assert [problem.line for problem in report.failed] == failed_lines
    assert report.stopped == ""
