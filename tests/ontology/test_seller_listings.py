"""Seller listings end to end: extraction stores the condition's evidence and reads sizes by the
garment's currency; evaluate_ontology scores the development set per language; query parsing reads
seller words."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from garments.models import Garment
from garments.services import garment_create, garment_update
from ontology.evaluation import evaluate_listings
from ontology.query import parse_query
from ontology.services import extract_garments

LISTINGS = Path(__file__).resolve().parents[2] / "data" / "seller-listings" / "listings.csv"


def _extracted(garment: Garment) -> Garment:
    extract_garments(garment_ids=[garment.pk])
    garment.refresh_from_db()
    return garment


@pytest.mark.django_db
def test_extraction_keeps_the_evidence_of_the_condition_grade():
    garment = _extracted(garment_create(sku="a", title="Levi's 501 W32 L30", currency="USD",
                                        description="Great condition, small stain on cuff. No holes."))  # fmt: skip
    assert (garment.condition, garment.size, garment.brand) == ("fair", "w32 l30", "levi's")
    assert garment.ontology_evidence["condition"] == "fair: 'small stain on cuff'"
    assert garment.ontology_evidence["size"] == "words"
    # a staff value carries no extraction evidence
    garment_update(garment=garment, attributes={"condition": "good"})
    extract_garments(garment_ids=[garment.pk], force=True)
    garment.refresh_from_db()
    assert garment.condition == "good" and "condition" not in garment.ontology_evidence


@pytest.mark.django_db
def test_the_garment_s_currency_reads_a_bare_size():
    pounds = _extracted(garment_create(sku="gbp", title="Zara dress size 10", currency="GBP"))
    dollars = _extracted(garment_create(sku="usd", title="Zara dress size 10", currency="USD"))
    assert (pounds.size, dollars.size) == ("uk 10", "us 10")


def test_evaluate_listings_scores_overall_and_per_language():
    rows, overall, by_language, misses = evaluate_listings(LISTINGS, split="report")
    assert rows >= 120
    assert set(by_language) == {"en", "fr", "es", "de", "it"}
    for attribute, score in overall.items():
        assert score.n > 0, attribute
        assert sum(s.n for s in (scores[attribute] for scores in by_language.values())) == score.n
    assert all(miss.label for miss in misses)
    tune, *_ = evaluate_listings(LISTINGS, split="tune")
    everything, *_ = evaluate_listings(LISTINGS, split="all")
    assert tune + rows == everything >= 300


def test_evaluate_listings_counts_a_miss(tmp_path):
    path = tmp_path / "listings.csv"
    path.write_text(
        "id,language,currency,title,description,split,condition,size,category,subcategory,primary_color,brand,gender\n"
        "1,en,GBP,NWT Zara red dress size 10,,report,new_with_tags,uk 10,dresses,dress,red,zara,women\n"
        "2,en,USD,Plain shirt,,report,good,,tops,shirt,,,\n",
        encoding="utf-8",
    )
    rows, overall, _, misses = evaluate_listings(path)
    assert rows == 2
    assert overall["condition"].as_dict() == {"accuracy": 1.0, "coverage": 0.5, "n": 2}
    assert overall["size"].as_dict() == {"accuracy": 1.0, "coverage": 1.0, "n": 1}
    assert [(m.id, m.attribute, m.extracted) for m in misses] == [("2", "condition", None)]


def test_evaluate_ontology_command_on_the_listings(tmp_path):
    out = io.StringIO()
    call_command("evaluate_ontology", "--listings", str(LISTINGS), "--split", "report", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["split"] == "report" and result["rows"] >= 120
    assert set(result["languages"]) == {"en", "fr", "es", "de", "it"}
    text = io.StringIO()
    call_command("evaluate_ontology", "--listings", str(LISTINGS), "--split", "tune", stdout=text)
    assert "listings (tune)" in text.getvalue() and "[fr]" in text.getvalue()
    (tmp_path / "bad.csv").write_text("id,title\n1,x\n")
    with pytest.raises(CommandError, match="not a seller-listings CSV"):
        call_command("evaluate_ontology", "--listings", str(tmp_path / "bad.csv"))
    with pytest.raises(CommandError, match="is not a file"):
        call_command("evaluate_ontology", "--listings", str(tmp_path / "missing.csv"))


@pytest.mark.parametrize(
    ("query", "soft", "filters", "model"),
    [
        ("euc levis 501 w32", {("condition", "like_new"), ("brand", "levi's")}, {"size": ["w32"]}, "501"),
        ("nwot reformation dress uk 8", {("condition", "like_new"), ("brand", "reformation")}, {"size": ["uk 8"]}, ""),
        ("dr martens 1460 mens uk 9", {("brand", "dr. martens"), ("subcategory", "boots")}, {"size": ["eu 43"]},
         "1460"),
        ("robe rouge taille 38", {("subcategory", "dress"), ("primary_color", "red")}, {"size": ["eu 38"]}, ""),
        ("vestido negro talla m", {("subcategory", "dress"), ("primary_color", "black")}, {"size": ["m"]}, ""),
        ("gonna verde", {("subcategory", "skirt"), ("primary_color", "green")}, {}, ""),
        ("kids raincoat 5-6y", {("gender", "kids")}, {"size": ["age 5-6"]}, ""),
        ("good nick barbour jacket", {("condition", "good"), ("brand", "barbour")}, {}, ""),
    ],
)  # fmt: skip
def test_query_parsing_reads_seller_words(query, soft, filters, model):
    parsed = parse_query(query)
    assert soft <= {(term.attribute, term.value) for term in parsed.soft}
    assert parsed.filters == filters
    assert parsed.model == model


def test_a_model_number_stays_a_keyword():
    parsed = parse_query("euc levis 501 w32")
    assert "501" in parsed.keywords and "w32" not in parsed.keywords


@pytest.mark.django_db
def test_a_new_currency_makes_extraction_pending_and_rereads_the_size():
    # given a dress listed in pounds: its bare "size 10" is a UK size
    dress = _extracted(garment_create(sku="cur-1", title="Zara dress size 10", currency="GBP"))
    before = dress.size
    assert not Garment.objects.filter(pk=dress.pk).needs_extraction().exists()
    # when the seller relists it in dollars
    garment_update(garment=dress, listing={"currency": "USD"})
    # then extraction is pending again, and re-extraction reads the size as a US one
    assert Garment.objects.filter(pk=dress.pk).needs_extraction().exists()
    assert _extracted(Garment.objects.get(pk=dress.pk)).size != before
