"""The shared queries' parameter marks, as PostgreSQL's driver reads them."""

from trizap.store.queries import pyformat


def test_positional_and_named_marks_become_psycopgs() -> None:
    assert pyformat("SELECT a FROM t WHERE b = ? AND c = ?") == (
        "SELECT a FROM t WHERE b = %s AND c = %s"
    )
    assert pyformat("WHERE id = :key OR name = :key LIMIT :limit") == (
        "WHERE id = %(key)s OR name = %(key)s LIMIT %(limit)s"
    )


def test_quoted_text_casts_and_percent_signs_are_kept() -> None:
    # A `?` or `:x` inside a string or a quoted name is text, not a mark; a `%` is doubled
    # so the driver reads it as itself.
    assert pyformat("SELECT 'webhook:' || id, '?', \"a:b\" FROM t WHERE x LIKE '%' || ?") == (
        "SELECT 'webhook:' || id, '?', \"a:b\" FROM t WHERE x LIKE '%%' || %s"
    )
    assert pyformat("SELECT 'it''s ?', x::text, 5 % 2 WHERE y = :y") == (
        "SELECT 'it''s ?', x::text, 5 %% 2 WHERE y = %(y)s"
    )
