//! Claims and token reports of several jobs in one statement (ADR 0012, step 4): an `UPDATE …
//! FROM` a `VALUES` list, compare-and-set per row as the single-job statements are. A job named
//! twice in one call would be joined twice, and which pair an `UPDATE … FROM` applies is not
//! defined, so the requests are written in rounds in which each job appears once, in the
//! callers' order: the answers are those of applying the requests one after another.

use autogit_store::{Claimed, Job, JobClaim, JobId, Result, StoreError, TokenReport};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::fmt::Write;
use std::sync::LazyLock;

use crate::db::{BeginWrite, Db, SqlStore};
use crate::error::{conflict_as, db_err};
use crate::job_rows::{JobRow, job_columns};
use crate::jobs::generation;

/// Requests per statement at most (4 parameters each, far below either database's limit).
pub(crate) const MAX_BATCH: usize = 100;

/// `VALUES` rows of `width` parameters from `$1`, `rows` of them; on PostgreSQL each parameter
/// is cast to its column's type, since nothing else says what a `VALUES` column is.
fn values(rows: usize, types: &[&str], pg: bool) -> String {
    let mut out = String::from("VALUES ");
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for (c, ty) in types.iter().enumerate() {
            let n = r * types.len() + c + 1;
            let sep = if c == 0 { "" } else { ", " };
            let _ = if pg { write!(out, "{sep}CAST(${n} AS {ty})") } else { write!(out, "{sep}${n}") };
        }
        out.push(')');
    }
    out
}

/// Claims `rows` jobs: pending and unassigned → running, as `assign_job`; `started_at` is the
/// parameter after the rows'. The state condition is wrapped in `IS TRUE` (the same truth) so
/// that no index can serve it: each claimed job is then found by its primary key, where
/// PostgreSQL without statistics for `jobs` (a table filled moments ago) would otherwise scan
/// the `status` and `runner_id` indexes for every pending job and join them to the list.
fn claims_text(rows: usize, pg: bool) -> String {
    let now = rows * 4 + 1;
    format!(
        "WITH claims (claim_job, claim_runner, claim_digest, claim_lease) AS ({}) \
         UPDATE jobs SET status = 'running', runner_id = claims.claim_runner, token_digest = claims.claim_digest, \
         lease_expires_at = claims.claim_lease, started_at = ${now}, finished_at = NULL FROM claims \
         WHERE jobs.id = claims.claim_job AND (jobs.status = 'pending' AND jobs.runner_id IS NULL) IS TRUE \
         RETURNING {}, (SELECT value FROM ci_context_generation WHERE id = 1) AS context_generation",
        values(rows, &["BIGINT", "BIGINT", "TEXT", "TIMESTAMPTZ"], pg),
        job_columns!()
    )
}

/// Finishes `rows` running jobs that hold the reported token digests, as `transition_job` from
/// `running` to a final status (the parameter after the rows') at the one after it.
fn reports_text(rows: usize, pg: bool) -> String {
    let (to, now) = (rows * 2 + 1, rows * 2 + 2);
    format!(
        "WITH reports (report_job, report_digest) AS ({}) \
         UPDATE jobs SET status = ${to}, token_digest = NULL, lease_expires_at = NULL, finished_at = ${now} \
         FROM reports WHERE jobs.id = reports.report_job AND jobs.token_digest = reports.report_digest \
         AND jobs.status = 'running' RETURNING {}",
        values(rows, &["BIGINT", "TEXT"], pg),
        job_columns!()
    )
}

/// The statements for 1 to [`MAX_BATCH`] rows, made once: (SQLite, PostgreSQL).
type Texts = (Vec<String>, Vec<String>);
static CLAIMS: LazyLock<Texts> = LazyLock::new(|| texts(claims_text));
static REPORTS: LazyLock<Texts> = LazyLock::new(|| texts(reports_text));

fn texts(make: fn(usize, bool) -> String) -> Texts {
    ((1..=MAX_BATCH).map(|n| make(n, false)).collect(), (1..=MAX_BATCH).map(|n| make(n, true)).collect())
}

/// The text for `rows` rows (1 to [`MAX_BATCH`]).
fn text(texts: &'static Texts, rows: usize, pg: bool) -> &'static str {
    let all = if pg { &texts.1 } else { &texts.0 };
    all[rows.clamp(1, MAX_BATCH) - 1].as_str()
}

/// Indexes of `ids` in rounds in which no id appears twice, each round in the given order.
fn rounds(ids: &[JobId]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut seen: Vec<HashSet<JobId>> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let round = seen.iter().position(|s| !s.contains(id)).unwrap_or(seen.len());
        if round == seen.len() {
            seen.push(HashSet::new());
            out.push(Vec::new());
        }
        seen[round].insert(*id);
        out[round].push(i);
    }
    out.into_iter().flat_map(|r| r.chunks(MAX_BATCH).map(<[usize]>::to_vec).collect::<Vec<_>>()).collect()
}

/// Runs `$round!(executor, is_postgres, round)` for each of `$rounds` (a slice) on pool `$p`:
/// one round straight on the pool, several in one write transaction, so that a call is all or
/// nothing (a later round failing must not leave the earlier rounds' changes made but
/// unanswered). Evaluates to the rows of each round.
macro_rules! in_rounds {
    ($p:expr, $pg:expr, $rounds:expr, $round:ident) => {{
        let rounds: &[Vec<usize>] = $rounds;
        let mut rows = Vec::with_capacity(rounds.len());
        if let [only] = rounds {
            rows.push($round!($p, $pg, only));
        } else if !rounds.is_empty() {
            let mut tx = $p.begin_write().await?;
            for r in rounds {
                rows.push($round!(&mut *tx, $pg, r));
            }
            tx.commit().await.map_err(db_err)?;
        }
        rows
    }};
}

/// The answers of `requests` requests written in `rounds`: each round's rows in the place of
/// the request of their job (a round names each job once), `None` where no row came back.
fn answers<R, T>(
    requests: usize,
    rounds: &[Vec<usize>],
    per_round: Vec<Vec<R>>,
    job_of: impl Fn(usize) -> JobId,
    answer: impl Fn(R) -> Result<(JobId, T)>,
) -> Result<Vec<Option<T>>> {
    let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(requests).collect();
    for (round, rows) in rounds.iter().zip(per_round) {
        for row in rows {
            let (job, value) = answer(row)?;
            let i = round
                .iter()
                .copied()
                .find(|&i| job_of(i) == job)
                .ok_or_else(|| StoreError::Invalid(format!("job {job} answered for no request")))?;
            out[i] = Some(value);
        }
    }
    Ok(out)
}

/// A claimed job's row and the context generation as of the claim.
#[derive(sqlx::FromRow)]
struct ClaimRow {
    #[sqlx(flatten)]
    job: JobRow,
    context_generation: i64,
}

impl SqlStore {
    /// [`autogit_store::JobStore::assign_jobs`].
    pub(crate) async fn claim_batch(&self, claims: &[JobClaim], now: DateTime<Utc>) -> Result<Vec<Option<Claimed>>> {
        macro_rules! claim_round {
            ($exec:expr, $pg:expr, $round:expr) => {
                bind_claims(sqlx::query_as::<_, ClaimRow>(text(&CLAIMS, $round.len(), $pg)), claims, $round, now)
                    .fetch_all($exec)
                    .await
                    .map_err(db_err)
                    .map_err(conflict_as("token"))?
            };
        }
        let rounds = rounds(&claims.iter().map(|c| c.job_id).collect::<Vec<_>>());
        let per_round: Vec<Vec<ClaimRow>> = match &self.db {
            Db::Sqlite(p) => in_rounds!(p, false, &rounds, claim_round),
            Db::Postgres(p) => in_rounds!(p, true, &rounds, claim_round),
        };
        answers(
            claims.len(),
            &rounds,
            per_round,
            |i| claims[i].job_id,
            |row| {
                let job = Job::try_from(row.job)?;
                Ok((job.id, Claimed { job, context_generation: generation(row.context_generation)? }))
            },
        )
    }

    /// [`autogit_store::JobStore::finish_jobs_with_tokens`] after its checks.
    pub(crate) async fn report_batch(
        &self,
        reports: &[TokenReport],
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Job>>> {
        macro_rules! report_round {
            ($exec:expr, $pg:expr, $round:expr) => {
                bind_reports(sqlx::query_as::<_, JobRow>(text(&REPORTS, $round.len(), $pg)), reports, $round)
                    .bind(to)
                    .bind(now)
                    .fetch_all($exec)
                    .await
                    .map_err(db_err)?
            };
        }
        let rounds = rounds(&reports.iter().map(|r| r.job_id).collect::<Vec<_>>());
        let per_round: Vec<Vec<JobRow>> = match &self.db {
            Db::Sqlite(p) => in_rounds!(p, false, &rounds, report_round),
            Db::Postgres(p) => in_rounds!(p, true, &rounds, report_round),
        };
        answers(
            reports.len(),
            &rounds,
            per_round,
            |i| reports[i].job_id,
            |row| {
                let job = Job::try_from(row)?;
                Ok((job.id, job))
            },
        )
    }
}

fn bind_claims<'q, DB, O>(
    mut q: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>,
    claims: &'q [JobClaim],
    round: &[usize],
    now: DateTime<Utc>,
) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for &i in round {
        let c = &claims[i];
        q = q.bind(c.job_id.get()).bind(c.runner_id.get()).bind(c.token_digest.as_str()).bind(c.lease_expires_at);
    }
    q.bind(now)
}

fn bind_reports<'q, DB, O>(
    mut q: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>,
    reports: &'q [TokenReport],
    round: &[usize],
) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for &i in round {
        q = q.bind(reports[i].job_id.get()).bind(reports[i].token_digest.as_str());
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_named_twice_goes_into_a_later_round() {
        let ids: Vec<JobId> = [1, 2, 1, 3, 1, 2].into_iter().map(JobId::new).collect();
        assert_eq!(rounds(&ids), vec![vec![0, 1, 3], vec![2, 5], vec![4]]);
    }

    #[test]
    fn rounds_are_cut_at_the_batch_limit() {
        let ids: Vec<JobId> = (1..=250).map(JobId::new).collect();
        let sizes: Vec<usize> = rounds(&ids).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
    }

    #[test]
    fn values_are_numbered_and_cast_on_postgres() {
        assert_eq!(values(2, &["BIGINT", "TEXT"], false), "VALUES ($1, $2), ($3, $4)");
        assert_eq!(values(1, &["BIGINT", "TEXT"], true), "VALUES (CAST($1 AS BIGINT), CAST($2 AS TEXT))");
    }
}
