"""The index schema: one Tantivy index holds product, tag and element documents (`kind`).

Text is analysed by `catalog_text` (words split at anything not a letter or digit, lower-cased,
accents folded, words over 40 characters dropped); the same analyzer turns a query into terms,
so `customer_amount` finds the element `customer_amount` and `ÉCHO` finds `echo`.
Names are also indexed by `catalog_name_prefix` (every prefix of the lower-cased name up to 20
characters, one term each): a typeahead prefix is then one term lookup, however short.

Fields by purpose:
- scored text: `name`, `tags` (tag names and their ancestors'), `description` (with team,
  category and owner), `elements` (member element names and definitions), weighted by
  TEXT_WEIGHTS; `all_text` holds all of them at once and decides which documents match (one
  posting list per term instead of four, so counting and facets are cheap);
- filters and facets (raw values, fast): `kind`, `key` (the id: deletes, and listing the
  documents a tag or element change touches), `team`, `category`, `status`,
  `visibility`, `tag` (direct tag names), `tag_path` (lower-cased names of the tags and their
  ancestors: the `tag` filter takes a subtree), `tag_ids`, `element_ids` (to find the documents
  a tag or element change touches);
- ranking signals (fast numbers): `popularity`, `quality`, `updated_ts`, `prior`, `boost`,
  `rank_hint` (ranking.py); `key_hash` (a 64-bit hash of the id) breaks ties; `indexed_ts`
  (when the document was made: the writer refreshes the stalest, projector.py);
- sort keys (fast raw strings, unique: value then id, so ties never reorder pages):
  `sort_popularity`, `sort_recent`, `sort_name`, `sort_rating`;
- `doc`: the answer's JSON, stored, so a result page needs no database read.

FORMAT is written into every index; an index of another format is rebuilt at start.
"""

from __future__ import annotations

from typing import Final

import tantivy

FORMAT: Final = 2  # 2: results carry governed_column_coverage

TEXT_ANALYZER: Final = "catalog_text"
PREFIX_ANALYZER: Final = "catalog_name_prefix"
MAX_WORD_CHARS: Final = 40
PREFIX_CHARS: Final = 20

# BM25 weight of each scored text field (a name match counts ten times an element mention).
TEXT_WEIGHTS: Final = {"name": 10.0, "tags": 5.0, "description": 2.0, "elements": 1.0}
ALL_TEXT: Final = "all_text"
RAW_FACETS: Final = ("team", "category", "status")
SORT_KEYS: Final = {
    "popularity": "sort_popularity",
    "recent": "sort_recent",
    "name": "sort_name",
    "rating": "sort_rating",
}


def text_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_WORD_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def prefix_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(1, PREFIX_CHARS, True))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def register_analyzers(index: tantivy.Index) -> None:
    """Every Index object needs the custom analyzers before it indexes text."""
    index.register_tokenizer(TEXT_ANALYZER, text_analyzer())
    index.register_tokenizer(PREFIX_ANALYZER, prefix_analyzer())


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    for raw in ("kind", "tag_path", "tag_ids", "element_ids"):
        builder.add_text_field(raw, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("key", tokenizer_name="raw", fast=True, index_option="basic")
    for facet in (*RAW_FACETS, "visibility", "tag"):
        builder.add_text_field(facet, tokenizer_name="raw", fast=True, index_option="basic")
    for field in TEXT_WEIGHTS:
        builder.add_text_field(field, tokenizer_name=TEXT_ANALYZER)
    builder.add_text_field(ALL_TEXT, tokenizer_name=TEXT_ANALYZER, index_option="basic")
    builder.add_text_field("name_prefix", tokenizer_name=PREFIX_ANALYZER, index_option="basic")
    builder.add_float_field("popularity", fast=True)
    builder.add_float_field("quality", fast=True)
    builder.add_integer_field("updated_ts", fast=True)
    builder.add_float_field("prior", fast=True)
    builder.add_float_field("boost", fast=True)
    builder.add_float_field("rank_hint", fast=True)
    builder.add_integer_field("indexed_ts", fast=True)
    builder.add_unsigned_field("key_hash", fast=True)
    for sort_key in SORT_KEYS.values():
        builder.add_text_field(sort_key, tokenizer_name="raw", fast=True, index_option="basic")
    builder.add_bytes_field("doc", stored=True)
    return builder.build()
