"""Discovery's search engine: an embedded Tantivy index, kept as a projection of the catalog.

The database stays the source of truth; the index can always be rebuilt from it, so there is
nothing to back up. Writes record which nodes changed in the change log (catalog/changes/);
one writer process per index directory (elected by a file lock) follows the log and applies
the changes in batches; every process reads the same directory and reloads on each commit.

    fields.py      the index schema, its analyzers and format version
    documents.py   what a product, tag or element document holds, built from catalog rows
    repository.py  the SQL that reads those rows
    directory.py   the index directory: generations, the CURRENT pointer, the writer lock
    index.py       a process's reader: the current snapshot, reloads, engine calls off the loop
    query.py       what a user typed, as Tantivy queries (prefixes, typos, filters, visibility)
    ranking.py     the blended relevance score and its exact top-N over the match set
    engine.py      search, suggestions and the marketplace over one snapshot
    projector.py   the writer: rebuilds, follows the change log, folds usage, prunes the log
    commands.py    `catalog search rebuild | status`

Why Tantivy by hand-built queries rather than its query parser: a user's text is never syntax
here (quotes, `:`, `*`, `~`, `^`, field names are plain characters), and prefixes, typos and
field weights need control the parser does not give.
"""
