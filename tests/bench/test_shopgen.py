"""The synthetic shop generator: deterministic, the product imports its CSV, queries are paraphrases."""

from __future__ import annotations

from eval.bench.shopgen import INTENTS, generate_queries, generate_shop, shop_csv_bytes
from knowledge_base.parsing import parse_kb_file


def test_same_seed_same_shop_and_queries():
    a, b = generate_shop("s", 120, seed=7), generate_shop("s", 120, seed=7)
    assert a.entries == b.entries
    assert generate_queries(a, 50, seed=7) == generate_queries(b, 50, seed=7)
    assert shop_csv_bytes(a) == shop_csv_bytes(b)


def test_other_seed_or_shop_gives_other_products():
    assert generate_shop("s", 40, seed=1).entries != generate_shop("s", 40, seed=2).entries
    assert generate_shop("a", 40).products != generate_shop("b", 40).products


def test_shape_of_a_shop():
    shop = generate_shop("s", 50, phrasings=4)
    assert len(shop.entries) == 50 and shop.phrasings == 200
    assert len({e.id for e in shop.entries}) == 50
    assert len({e.question for e in shop.entries}) == 50
    assert {e.category for e in shop.entries} == {c for c, *_ in INTENTS.values()}


def test_queries_paraphrase_and_never_repeat_a_stored_phrasing():
    shop = generate_shop("s", 200)
    stored = {t for e in shop.entries for t in (e.question, *e.similar)}
    ids = {e.id for e in shop.entries}
    queries = generate_queries(shop, 300)
    assert len(queries) == 300
    assert not {q.message for q in queries} & stored
    assert {q.entry_id for q in queries} <= ids


def test_the_product_imports_the_csv():
    shop = generate_shop("s", 30, phrasings=3)
    parsed = parse_kb_file("shop.csv", shop_csv_bytes(shop))
    assert not parsed.errors
    assert [e.id for e in parsed.entries] == [e.id for e in shop.entries]
    assert list(parsed.entries[0].phrasings) == [shop.entries[0].question, *shop.entries[0].similar]
