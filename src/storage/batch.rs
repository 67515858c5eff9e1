//! The writer: a task that gathers the writes waiting at the same moment
//! (the commands of [`super::write`]) and applies them in one transaction,
//! so one commit (one fsync) serves many requests (group commit). It
//! serves redemptions and their follow-ups, failed attempts, and, on
//! SQLite, issues.
//!
//! An unexpected database error undoes only the operation that met it. On
//! SQLite each operation runs under its own savepoint, which costs nothing
//! but a call. On PostgreSQL a savepoint costs two round trips per
//! operation, so a batch runs without them, and a batch that meets an
//! error is rolled back and its operations applied one transaction each
//! (errors are rare: refusals are answers). Domain refusals are answers,
//! not errors, so the writes they make (a hold that timed out, a code that
//! expired) are committed with the rest. Nobody is answered before the
//! commit: an acknowledged redemption is durable.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::write::{self, Job, Queued, WriteCommand};
use super::{Result, StorageError, Store, WriteTx};
use super::{events, lockout};
use crate::domain::DomainError;

/// Most operations in one transaction.
pub const MAX_BATCH: usize = 64;
/// Operations waiting for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 4096;
/// How often an operation that hit a deadlock or serialisation failure is
/// tried again (PostgreSQL, with several servers).
const RETRIES: usize = 3;

pub(crate) type JobSender = mpsc::Sender<Box<dyn Job>>;

/// Starts the writer task for `store`; returns where to send jobs.
pub(crate) fn spawn_writer(store: Store) -> JobSender {
    let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
    tokio::spawn(run(store, receiver));
    sender
}

async fn run(store: Store, mut receiver: mpsc::Receiver<Box<dyn Job>>) {
    while let Some(first) = receiver.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        apply_batch(&store, &mut jobs).await;
        for job in jobs {
            job.send();
        }
    }
}

/// Why `job` may not be applied, given its operator's standing.
fn barred(job: &dyn Job, standing: &HashMap<i64, lockout::Standing>) -> Option<DomainError> {
    let (token_id, lockable) = job.operator()?;
    match standing.get(&token_id) {
        None | Some(lockout::Standing { live: false, .. }) => Some(DomainError::TokenRevoked),
        Some(lockout::Standing {
            locked_for: Some(secs),
            ..
        }) if lockable => Some(DomainError::LockedOut {
            retry_after_secs: *secs,
        }),
        Some(_) => None,
    }
}

/// Refuses the jobs whose operator is revoked or locked out, or whose
/// subscriber line is barred, as the transaction sees the tokens and
/// counters: one statement for the operators, one for the lines.
async fn check_operators(tx: &mut WriteTx, jobs: &mut [Box<dyn Job>]) -> Result<()> {
    let mut ids: Vec<i64> = jobs
        .iter()
        .filter_map(|j| j.operator().map(|(id, _)| id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let Some(now) = jobs.first().map(|j| j.now()) else {
        return Ok(());
    };
    let standing = lockout::operator_standing(tx, &ids, now).await?;
    let mut lines: Vec<&str> = jobs.iter().filter_map(|j| j.line()).collect();
    lines.sort_unstable();
    lines.dedup();
    let bars = lockout::barred_lines(tx, &lines, now).await?;
    for job in jobs.iter_mut() {
        let line_bar = job
            .line()
            .and_then(|l| bars.get(l))
            .map(|&secs| DomainError::LockedOut {
                retry_after_secs: secs,
            });
        if let Some(refusal) = barred(job.as_ref(), &standing).or(line_bar) {
            job.refuse(refusal);
        }
    }
    Ok(())
}

/// What the batch has done for a job before it is applied on its own.
#[derive(Clone, Copy, Debug)]
struct Prepared {
    /// Its operator's standing has been checked (a barred job is answered
    /// and not applied).
    operators_checked: bool,
    /// The set-based pass ([`write::redeem_common_cases`]) has run over it.
    set_based_pass_ran: bool,
}

/// A job in a transaction of its own: nothing done for it yet.
const ALONE: Prepared = Prepared {
    operators_checked: false,
    set_based_pass_ran: false,
};
/// A job of a batch, after the batch's checks and set-based pass.
const IN_BATCH: Prepared = Prepared {
    operators_checked: true,
    set_based_pass_ran: true,
};

/// Applies one job; its reply is kept in it.
async fn apply_one(
    store: &Store,
    tx: &mut WriteTx,
    job: &mut Box<dyn Job>,
    prepared: Prepared,
) -> Result<()> {
    job.forget_answer();
    if !prepared.operators_checked {
        check_operators(tx, std::slice::from_mut(job)).await?;
        if job.is_answered() {
            return Ok(());
        }
    }
    job.apply(store, tx, prepared.set_based_pass_ran).await
}

pub(super) fn is_retryable(error: &StorageError) -> bool {
    match error {
        StorageError::Database(e) => e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|code| code == "40P01" || code == "40001"),
        _ => false,
    }
}

/// Why a batch was given up before its commit.
enum Abandoned {
    /// A lock conflict, or an error without a savepoint to undo it: apply
    /// each job in a transaction of its own instead.
    OneByOne(StorageError),
    /// The transaction itself failed: every job fails.
    Failed(StorageError),
}

impl From<StorageError> for Abandoned {
    /// A failure to seal or commit: a lock conflict is worth retrying job
    /// by job; anything else fails every job.
    fn from(error: StorageError) -> Self {
        if is_retryable(&error) {
            Self::OneByOne(error)
        } else {
            Self::Failed(error)
        }
    }
}

/// Applies the jobs in one transaction, leaving each its reply. If the
/// batch meets a deadlock or serialisation failure (PostgreSQL, several
/// servers locking the same rows in different orders), or an error it has
/// no savepoint for, the whole batch is rolled back and each job is applied
/// in a transaction of its own instead: holding one job's locks while
/// retrying another would only recreate the cycle.
async fn apply_batch(store: &Store, jobs: &mut [Box<dyn Job>]) {
    let error = match try_batch(store, jobs).await {
        Ok(()) => return,
        Err(Abandoned::OneByOne(e)) => {
            tracing::info!(
                jobs = jobs.len(),
                error = %e,
                "batch rolled back; applying its jobs one by one"
            );
            for job in jobs.iter_mut() {
                apply_alone(store, job).await;
            }
            return;
        }
        Err(Abandoned::Failed(e)) => e,
    };
    tracing::error!(error = %error, jobs = jobs.len(), "write batch failed");
    let source = Arc::new(error);
    for job in jobs.iter_mut() {
        job.fail(StorageError::BatchFailed {
            source: Arc::clone(&source),
        });
    }
}

/// One job in its own transaction, tried again after a lock conflict.
async fn apply_alone(store: &Store, job: &mut Box<dyn Job>) {
    let mut attempt = 0;
    loop {
        let result = async {
            let mut tx = store.begin_write().await?;
            apply_one(store, &mut tx, job, ALONE).await?;
            events::commit(tx).await
        }
        .await;
        match result {
            Ok(()) => return,
            Err(e) if is_retryable(&e) && attempt + 1 < RETRIES => attempt += 1,
            Err(e) => return job.fail(e),
        }
    }
}

async fn try_batch(store: &Store, jobs: &mut [Box<dyn Job>]) -> Result<(), Abandoned> {
    let mut tx = store.begin_write().await.map_err(Abandoned::Failed)?;
    // A lone job needs no savepoint: its error rolls the transaction back.
    if let [job] = jobs {
        return match apply_one(store, &mut tx, job, ALONE).await {
            Ok(()) => Ok(events::commit(tx).await?),
            // Retried by `apply_batch`; anything else is this job's answer.
            Err(e) if is_retryable(&e) => Err(Abandoned::OneByOne(e)),
            Err(e) => {
                job.fail(e);
                Ok(())
            }
        };
    }
    check_operators(&mut tx, jobs)
        .await
        .map_err(Abandoned::OneByOne)?;
    write::redeem_common_cases(&mut tx, jobs)
        .await
        .map_err(Abandoned::OneByOne)?;
    let savepoints = store.backend() == super::Backend::Sqlite;
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| jobs.get(i).map(|j| j.lock_order()));
    for i in order {
        let Some(job) = jobs.get_mut(i) else { continue };
        if job.is_answered() {
            continue;
        }
        if savepoints {
            tx.savepoint().await.map_err(Abandoned::Failed)?;
        }
        match apply_one(store, &mut tx, job, IN_BATCH).await {
            Ok(()) if savepoints => tx.release_savepoint().await.map_err(Abandoned::Failed)?,
            Ok(()) => {}
            // Give up the whole batch; `apply_batch` retries job by job.
            Err(e) if is_retryable(&e) || !savepoints => return Err(Abandoned::OneByOne(e)),
            Err(e) => {
                tx.rollback_to_savepoint()
                    .await
                    .map_err(Abandoned::Failed)?;
                job.fail(e);
            }
        }
    }
    Ok(events::commit(tx).await?)
}

impl Store {
    /// Queues a write and waits for its committed answer.
    pub async fn submit<C: WriteCommand>(&self, command: C, now: i64) -> Result<C::Reply> {
        let n = self.writers.len().max(1) as i64;
        let writer = self
            .writers
            .get(usize::try_from(command.writer_key().rem_euclid(n)).unwrap_or(0))
            .ok_or(StorageError::WriterStopped)?;
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Queued::new(command, now, reply));
        writer
            .send(job)
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        answer.await.map_err(|_| StorageError::WriterStopped)?
    }
}
