//! [`HardwareStore`]: runner inventories in `runner_inventories` (one row per runner, upserted)
//! and GPU allocations in `ci_gpu_allocations` (one row per job), with the highest fence ever
//! recorded in the one-row `ci_gpu_fence`. Recording an allocation locks the job row
//! (`Locks::lock_job`), inserts and raises the max fence in one transaction; the raise is a
//! conditional `UPDATE … WHERE max_fence < $1`, so concurrent writers can only increase it, and
//! deletes (direct or by cascade) never touch it. A missing runner is found by the foreign key,
//! which also covers a runner deleted concurrently. Lists of strings (architectures, GPU keys) are
//! JSON arrays, which keep their order.

use async_trait::async_trait;
use autogit_store::{GpuAllocation, HardwareStore, Result, RunnerInventory, StoreError};
use autogit_store::{JobId, RunnerId};
use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;

use crate::db::{BeginWrite, Locks, SqlStore, with_db};
use crate::error::{corrupt, db_err};

/// Inventory columns in `InventoryRow` order.
macro_rules! inventory_columns {
    () => {
        "runner_id, inventory, architectures, updated_at"
    };
}

/// Allocation columns in `AllocationRow` order.
macro_rules! allocation_columns {
    () => {
        "job_id, runner_id, fence, gpus, created_at"
    };
}

#[derive(sqlx::FromRow)]
struct InventoryRow {
    runner_id: i64,
    inventory: String,
    architectures: String,
    updated_at: DateTime<Utc>,
}

impl TryFrom<InventoryRow> for RunnerInventory {
    type Error = StoreError;

    fn try_from(r: InventoryRow) -> Result<RunnerInventory> {
        Ok(RunnerInventory {
            runner_id: RunnerId::new(r.runner_id),
            inventory: r.inventory,
            architectures: decode_list(&r.architectures, "runner architectures")?,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AllocationRow {
    job_id: i64,
    runner_id: i64,
    fence: i64,
    gpus: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<AllocationRow> for GpuAllocation {
    type Error = StoreError;

    fn try_from(r: AllocationRow) -> Result<GpuAllocation> {
        Ok(GpuAllocation {
            job_id: JobId::new(r.job_id),
            runner_id: RunnerId::new(r.runner_id),
            fence: u64::try_from(r.fence).map_err(|_| fence_out_of_range(r.fence))?,
            gpus: decode_list(&r.gpus, "GPU allocation keys")?,
            created_at: r.created_at,
        })
    }
}

/// `["a","b"]`, in the order given.
fn encode_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_string())
}

/// Reads what [`encode_list`] writes.
fn decode_list(stored: &str, what: &str) -> Result<Vec<String>> {
    serde_json::from_str(stored).map_err(|_| corrupt(what, stored))
}

/// [`db_err`], except that a foreign key violation means the runner is missing: the writes that
/// use it reference no other row that could be (the job, if any, is checked and locked first).
fn runner_missing(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && matches!(d.kind(), ErrorKind::ForeignKeyViolation)
    {
        return StoreError::NotFound("runner");
    }
    db_err(e)
}

const UPSERT_INVENTORY: &str = concat!(
    "INSERT INTO runner_inventories (runner_id, inventory, architectures, updated_at) VALUES ($1, $2, $3, $4) ",
    "ON CONFLICT (runner_id) DO UPDATE SET inventory = excluded.inventory, ",
    "architectures = excluded.architectures, updated_at = excluded.updated_at RETURNING ",
    inventory_columns!()
);
const INVENTORY: &str = concat!("SELECT ", inventory_columns!(), " FROM runner_inventories WHERE runner_id = $1");
const INVENTORIES: &str = concat!("SELECT ", inventory_columns!(), " FROM runner_inventories ORDER BY runner_id");
const INSERT_ALLOCATION: &str =
    concat!("INSERT INTO ci_gpu_allocations (", allocation_columns!(), ") VALUES ($1, $2, $3, $4, $5)");
const RAISE_FENCE: &str = "UPDATE ci_gpu_fence SET max_fence = $1 WHERE id = 1 AND max_fence < $1";
const REMOVE_ALLOCATION: &str = "DELETE FROM ci_gpu_allocations WHERE job_id = $1 AND fence = $2";
const ALLOCATIONS: &str = concat!("SELECT ", allocation_columns!(), " FROM ci_gpu_allocations ORDER BY job_id");
const MAX_FENCE: &str = "SELECT max_fence FROM ci_gpu_fence WHERE id = 1";

#[async_trait]
impl HardwareStore for SqlStore {
    async fn set_runner_inventory(
        &self,
        runner_id: RunnerId,
        inventory: &str,
        architectures: &[String],
        now: DateTime<Utc>,
    ) -> Result<RunnerInventory> {
        let architectures = encode_list(architectures);
        let row: InventoryRow = with_db!(self, |p| sqlx::query_as(UPSERT_INVENTORY)
            .bind(runner_id.get())
            .bind(inventory)
            .bind(&architectures)
            .bind(now)
            .fetch_one(p)
            .await
            .map_err(runner_missing)?);
        row.try_into()
    }

    async fn runner_inventory(&self, runner_id: RunnerId) -> Result<Option<RunnerInventory>> {
        let row: Option<InventoryRow> = with_db!(self, |p| sqlx::query_as(INVENTORY)
            .bind(runner_id.get())
            .fetch_optional(p)
            .await
            .map_err(db_err)?);
        row.map(RunnerInventory::try_from).transpose()
    }

    async fn runner_inventories(&self) -> Result<Vec<RunnerInventory>> {
        let rows: Vec<InventoryRow> =
            with_db!(self, |p| sqlx::query_as(INVENTORIES).fetch_all(p).await.map_err(db_err)?);
        rows.into_iter().map(RunnerInventory::try_from).collect()
    }

    async fn record_gpu_allocation(&self, a: &GpuAllocation) -> Result<()> {
        if a.gpus.is_empty() {
            return Err(StoreError::Invalid(format!("the GPU allocation of job {} holds no GPU", a.job_id)));
        }
        let gpus = encode_list(&a.gpus);
        let fence = stored_fence(a.fence)?;
        with_db!(self, |p| {
            let mut tx = p.begin_write().await?;
            tx.lock_job(a.job_id.get()).await?.ok_or(StoreError::NotFound("job"))?;
            sqlx::query(INSERT_ALLOCATION)
                .bind(a.job_id.get())
                .bind(a.runner_id.get())
                .bind(fence)
                .bind(&gpus)
                .bind(a.created_at)
                .execute(&mut *tx)
                .await
                .map_err(runner_missing)?;
            sqlx::query(RAISE_FENCE).bind(fence).execute(&mut *tx).await.map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    async fn remove_gpu_allocation(&self, job_id: JobId, fence: u64) -> Result<bool> {
        let fence = stored_fence(fence)?;
        let done = with_db!(self, |p| sqlx::query(REMOVE_ALLOCATION)
            .bind(job_id.get())
            .bind(fence)
            .execute(p)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(done > 0)
    }

    async fn gpu_allocations(&self) -> Result<Vec<GpuAllocation>> {
        let rows: Vec<AllocationRow> =
            with_db!(self, |p| sqlx::query_as(ALLOCATIONS).fetch_all(p).await.map_err(db_err)?);
        rows.into_iter().map(GpuAllocation::try_from).collect()
    }

    async fn max_gpu_fence(&self) -> Result<u64> {
        let max: Option<i64> =
            with_db!(self, |p| sqlx::query_scalar(MAX_FENCE).fetch_optional(p).await.map_err(db_err)?);
        let max = max.unwrap_or(0);
        u64::try_from(max).map_err(|_| fence_out_of_range(max))
    }
}

/// Fences are counted from 1 up; the column is a signed 64-bit integer, as every SQL integer.
fn stored_fence(fence: u64) -> Result<i64> {
    i64::try_from(fence).map_err(|_| StoreError::Invalid(format!("GPU allocation fence {fence} is out of range")))
}

/// A stored fence below 0 was not written by this store.
fn fence_out_of_range(stored: i64) -> StoreError {
    StoreError::Unavailable(format!("ci_gpu_allocations.fence holds '{stored}', not a fence"))
}
