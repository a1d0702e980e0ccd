//! Pieces shared by the list queries: the access filter as bind parameters, case-insensitive
//! substring search, paging, and decoding of the small enums stored as text.
//!
//! List queries are static SQL with nullable parameters (`$n IS NULL OR …`) rather than strings
//! assembled at runtime: one prepared statement per query, nothing to escape by hand, and sqlx's
//! `SqlSafeStr` rule (only `&'static str` is SQL) holds without exceptions. Shared fragments are
//! macros expanding to string literals, so they can be joined with `concat!`.

use autogit_core::Visibility;
use autogit_store::UserId;
use autogit_store::{AccessFilter, Page, StoreError};

use crate::error::corrupt;

/// `CASE` mapping a stored visibility to GitLab's level (0, 10, 20), so "at least internal" is a
/// numeric compare. `$col` is the column, as a string literal.
macro_rules! visibility_level {
    ($col:literal) => {
        concat!("(CASE ", $col, " WHEN 'public' THEN 20 WHEN 'internal' THEN 10 ELSE 0 END)")
    };
}
pub(crate) use visibility_level;

/// True when namespace `a` is `n` itself or one of its ancestors. A prefix compare on the lowered
/// full paths, including the `/`, so `ab` is not taken for an ancestor of `abc/d`. Not `LIKE`:
/// `_` and `%` in paths would act as wildcards.
macro_rules! is_self_or_ancestor {
    ($a:literal, $n:literal) => {
        concat!(
            "(",
            $a,
            ".id = ",
            $n,
            ".id OR substr(",
            $n,
            ".full_path_lower, 1, length(",
            $a,
            ".full_path_lower) + 1) = ",
            $a,
            ".full_path_lower || '/')"
        )
    };
}
pub(crate) use is_self_or_ancestor;

/// An [`AccessFilter`] as three bind parameters, so one SQL text covers every combination:
/// `all OR level >= min_level OR <member_id holds a role>`. A NULL `min_level` or `member_id`
/// makes its comparison NULL, which `OR` and `WHERE` treat as false.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessParams {
    pub all: bool,
    pub min_level: Option<i64>,
    pub member_id: Option<i64>,
}

impl AccessParams {
    pub fn new(f: &AccessFilter) -> Self {
        // `membership_only` turns the visibility part off; the member part is all that is left.
        let min_level = if f.membership_only { None } else { f.min_visibility.map(level_of) };
        AccessParams { all: f.all, min_level, member_id: f.member_id.map(UserId::get) }
    }
}

/// GitLab's numeric level of a visibility, as in `visibility_level!`.
pub(crate) fn level_of(v: Visibility) -> i64 {
    match v {
        Visibility::Private => 0,
        Visibility::Internal => 10,
        Visibility::Public => 20,
    }
}

/// A `LIKE` pattern matching `search` as a substring, with `\` as the escape character (queries
/// say `ESCAPE '\'`). Lowering is left to SQL, so both sides are folded by the same function.
pub(crate) fn like_pattern(search: Option<&str>) -> Option<String> {
    let search = search?;
    let mut out = String::with_capacity(search.len() + 2);
    out.push('%');
    for c in search.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    Some(out)
}

/// `(limit, offset)` for `LIMIT $n OFFSET $m`. Negative values mean nothing here; PostgreSQL
/// would reject them, so they are clamped.
pub(crate) fn paging(page: Page) -> (i64, i64) {
    (page.limit.max(0), page.offset.max(0))
}

/// One page of a list and the total it is a page of, as `(rows, total)`, on the typed pool `$p`
/// (inside `with_db!`). `$list` and `$count` take the same filter parameters, which `$binds`
/// applies to `$q` — once to each query; `$list` ends with `LIMIT $n OFFSET $n+1`, bound here
/// from `$page` (see [`paging`]). The caller names the row type.
///
/// The `COUNT` runs only when the page cannot tell the total: a page shorter than its limit that
/// starts at 0, or that holds rows, ends the list, so the total is `offset + rows` (every
/// `Page::ALL` listing the coordinator makes per job, and most last pages of the API, save a
/// statement).
macro_rules! page_and_total {
    ($p:ident, $list:expr, $count:expr, $page:expr, |$q:ident| $binds:expr) => {{
        let (limit, offset) = $crate::filter::paging($page);
        let rows: Vec<_> = {
            let $q = sqlx::query_as($list);
            $binds
        }
        .bind(limit)
        .bind(offset)
        .fetch_all($p)
        .await
        .map_err($crate::error::db_err)?;
        let total: i64 = match $crate::filter::total_from_page(offset, limit, rows.len()) {
            Some(total) => total,
            None => {
                let $q = sqlx::query_scalar($count);
                $binds
            }
            .fetch_one($p)
            .await
            .map_err($crate::error::db_err)?,
        };
        (rows, total)
    }};
}

/// The total a page shows by itself (see [`page_and_total`]), or `None` when only a `COUNT`
/// can tell.
pub(crate) fn total_from_page(offset: i64, limit: i64, rows: usize) -> Option<i64> {
    let rows = i64::try_from(rows).ok()?;
    (rows < limit && (offset == 0 || rows > 0)).then(|| offset.saturating_add(rows))
}
pub(crate) use page_and_total;

pub(crate) fn parse_visibility(s: &str) -> Result<Visibility, StoreError> {
    Visibility::parse(s).ok_or_else(|| corrupt("visibility", s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A count that is wrong on purpose: a total equal to it was counted, not seen in the page.
    const BOGUS_COUNT: &str = "SELECT CAST(99 AS BIGINT) WHERE $1 IS NOT NULL";

    async fn numbers_counted_as_99(least: i64, page: Page) -> Result<(Vec<(i64,)>, i64), StoreError> {
        let store = crate::SqlStore::connect("sqlite::memory:").await?;
        let listed =
            crate::db::with_db!(store, |p| page_and_total!(p, NUMBERS_LIST, BOGUS_COUNT, page, |q| q.bind(least)));
        Ok(listed)
    }

    #[tokio::test]
    async fn the_count_runs_only_when_the_page_cannot_tell() -> Result<(), StoreError> {
        // The whole list, and a last page holding rows: the total is read off the page.
        assert_eq!(numbers_counted_as_99(2, Page::ALL).await?.1, 4);
        assert_eq!(numbers_counted_as_99(2, Page { offset: 2, limit: 10 }).await?, (vec![(4,), (5,)], 4));
        assert_eq!(numbers_counted_as_99(6, Page { offset: 0, limit: 10 }).await?, (vec![], 0));
        // A full page, or an empty one past the start: only a count can tell.
        assert_eq!(numbers_counted_as_99(2, Page { offset: 0, limit: 2 }).await?.1, 99);
        assert_eq!(numbers_counted_as_99(2, Page { offset: 9, limit: 2 }).await?.1, 99);
        assert_eq!(total_from_page(0, 0, 0), None, "a zero limit shows nothing");
        Ok(())
    }

    /// Five numbers; `$1` is the least one listed.
    const NUMBERS_LIST: &str = "WITH t(n) AS (VALUES (1), (2), (3), (4), (5)) \
        SELECT CAST(n AS BIGINT) FROM t WHERE n >= $1 ORDER BY n LIMIT $2 OFFSET $3";
    const NUMBERS_COUNT: &str = "WITH t(n) AS (VALUES (1), (2), (3), (4), (5)) SELECT COUNT(*) FROM t WHERE n >= $1";

    async fn numbers_from(least: i64, page: Page) -> Result<(Vec<(i64,)>, i64), StoreError> {
        let store = crate::SqlStore::connect("sqlite::memory:").await?;
        let listed =
            crate::db::with_db!(store, |p| page_and_total!(p, NUMBERS_LIST, NUMBERS_COUNT, page, |q| q.bind(least)));
        Ok(listed)
    }

    #[tokio::test]
    async fn a_page_counts_every_row_its_filter_lets_through() -> Result<(), StoreError> {
        assert_eq!(numbers_from(2, Page { offset: 1, limit: 2 }).await?, (vec![(3,), (4,)], 4));
        assert_eq!(numbers_from(2, Page { offset: 10, limit: 2 }).await?, (vec![], 4));
        assert_eq!(numbers_from(6, Page::ALL).await?, (vec![], 0));
        Ok(())
    }

    #[tokio::test]
    async fn a_negative_page_is_clamped_not_refused() -> Result<(), StoreError> {
        assert_eq!(numbers_from(1, Page { offset: -3, limit: 1 }).await?, (vec![(1,)], 5));
        assert_eq!(numbers_from(1, Page { offset: 0, limit: -1 }).await?, (vec![], 5));
        Ok(())
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern(Some("a_b%c\\d")).as_deref(), Some("%a\\_b\\%c\\\\d%"));
        assert_eq!(like_pattern(None), None);
    }

    #[test]
    fn fragments_expand_to_literals() {
        assert_eq!(
            visibility_level!("p.visibility"),
            "(CASE p.visibility WHEN 'public' THEN 20 WHEN 'internal' THEN 10 ELSE 0 END)"
        );
        assert!(is_self_or_ancestor!("a", "n").starts_with("(a.id = n.id OR substr(n.full_path_lower"));
    }

    #[test]
    fn membership_only_drops_visibility() {
        let f = AccessFilter {
            min_visibility: Some(Visibility::Public),
            member_id: Some(UserId::new(3)),
            membership_only: true,
            all: false,
        };
        let p = AccessParams::new(&f);
        assert_eq!((p.all, p.min_level, p.member_id), (false, None, Some(3)));
        let f = AccessFilter { min_visibility: Some(Visibility::Internal), ..Default::default() };
        assert_eq!(AccessParams::new(&f).min_level, Some(10));
    }
}
