//! The write path of redemptions (and, on SQLite, of issues): a writer task
//! that gathers the writes waiting at the same moment and applies them in
//! one transaction, so one commit (one fsync) serves many requests (group
//! commit).
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

use std::collections::{BTreeMap, HashMap};

use tokio::sync::{mpsc, oneshot};

use super::WriteTx;
use super::fast_redeem;
use super::redemptions::{self, Followup, Outcome, RedeemInput};
use super::vouchers::{self, IssueJob, IssueOutcome};
use super::{Result, StorageError, Store};
use super::{events, lockout};
use crate::domain::DomainError;
use crate::domain::lockout::LockoutPolicy;

/// Most operations in one transaction.
pub const MAX_BATCH: usize = 64;
/// Operations waiting for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 4096;
/// How often an operation that hit a deadlock or serialisation failure is
/// tried again (PostgreSQL, with several servers).
const RETRIES: usize = 3;

/// A write on the group-commit path.
#[derive(Clone, Debug)]
pub enum WriteOp {
    Redeem(RedeemInput),
    FollowUp {
        operator_token_id: i64,
        redemption_id: i64,
        action: Followup,
    },
    /// A failed attempt by `source`; answers how long it is now locked out.
    Failure {
        source: String,
        policy: LockoutPolicy,
    },
    /// An issue, minted and signed before it is queued (SQLite only: see
    /// [`Store::issue`]).
    Issue(Box<IssueJob>),
}

/// The answer to a [`WriteOp`].
#[derive(Debug)]
pub enum WriteResult {
    Outcome(Outcome),
    LockedFor(Option<i64>),
    Issued(IssueOutcome),
}

pub(crate) struct Job {
    op: WriteOp,
    now: i64,
    reply: oneshot::Sender<Result<WriteResult>>,
}

pub(crate) type JobSender = mpsc::Sender<Job>;

/// Starts the writer task for `store`; returns where to send jobs.
pub(crate) fn spawn_writer(store: Store) -> JobSender {
    let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
    tokio::spawn(run(store, receiver));
    sender
}

async fn run(store: Store, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let results = apply_batch(&store, &jobs).await;
        for (job, result) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// The operator token whose standing a job needs, and whether a lock-out
/// bars it too: a redemption needs a live token that is not locked out; a
/// confirm, cancel or reverse a live token; the sweeper's time-out, a
/// failure record and an issue nothing here.
fn operator_of(job: &Job) -> Option<(i64, bool)> {
    match &job.op {
        WriteOp::Redeem(input) => Some((input.operator_token_id, true)),
        WriteOp::FollowUp {
            action: Followup::TimeOut,
            ..
        } => None,
        WriteOp::FollowUp {
            operator_token_id, ..
        } => Some((*operator_token_id, false)),
        WriteOp::Failure { .. } | WriteOp::Issue(_) => None,
    }
}

/// Why `job` may not be applied, given its operator's standing.
fn barred(job: &Job, standing: &HashMap<i64, lockout::Standing>) -> Option<DomainError> {
    let (token_id, lockable) = operator_of(job)?;
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

/// Refuses the jobs whose operator is revoked or locked out, as the
/// transaction sees the tokens and counters: one statement for all.
async fn admit(
    tx: &mut WriteTx,
    jobs: &[Job],
    results: &mut [Option<Result<WriteResult>>],
) -> Result<()> {
    let mut ids: Vec<i64> = jobs
        .iter()
        .filter_map(|j| operator_of(j).map(|(id, _)| id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let Some(now) = jobs.first().map(|j| j.now) else {
        return Ok(());
    };
    let standing = lockout::operator_standing(tx, &ids, now).await?;
    for (job, slot) in jobs.iter().zip(results.iter_mut()) {
        if let Some(refusal) = barred(job, &standing) {
            *slot = Some(Ok(WriteResult::Outcome(Outcome::Refused(refusal))));
        }
    }
    Ok(())
}

/// Applies one job. `admitted` says the batch has already checked its
/// operator ([`admit`]) and tried the set-based path on a plain redemption.
async fn apply_one(
    store: &Store,
    tx: &mut WriteTx,
    job: &Job,
    admitted: bool,
) -> Result<WriteResult> {
    if !admitted {
        let mut result = [None];
        admit(tx, std::slice::from_ref(job), &mut result).await?;
        if let [Some(refused)] = result {
            return refused;
        }
    }
    Ok(match &job.op {
        WriteOp::Redeem(input) => {
            let fast_tried = admitted && input.idempotency.is_none();
            WriteResult::Outcome(redemptions::redeem(store, tx, input, job.now, fast_tried).await?)
        }
        WriteOp::FollowUp {
            operator_token_id,
            redemption_id,
            action,
        } => WriteResult::Outcome(
            redemptions::follow_up(
                store,
                tx,
                *operator_token_id,
                *redemption_id,
                *action,
                job.now,
            )
            .await?,
        ),
        WriteOp::Failure { source, policy } => {
            match lockout::record_failure(store, tx, source, policy, job.now).await? {
                lockout::Recorded::Counted(locked_for) => WriteResult::LockedFor(locked_for),
                lockout::Recorded::AlreadyLocked(secs) => {
                    WriteResult::Outcome(Outcome::Refused(DomainError::LockedOut {
                        retry_after_secs: secs,
                    }))
                }
            }
        }
        WriteOp::Issue(issue) => {
            WriteResult::Issued(vouchers::issue_in(store, tx, issue, job.now).await?)
        }
    })
}

fn is_retryable(error: &StorageError) -> bool {
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

/// Applies the jobs in one transaction and returns one result per job. If
/// the batch meets a deadlock or serialisation failure (PostgreSQL, several
/// servers locking the same rows in different orders), or an error it has
/// no savepoint for, the whole batch is rolled back and each job is applied
/// in a transaction of its own instead: holding one job's locks while
/// retrying another would only recreate the cycle.
async fn apply_batch(store: &Store, jobs: &[Job]) -> Vec<Result<WriteResult>> {
    let error = match try_batch(store, jobs).await {
        Ok(results) => return results,
        Err(Abandoned::OneByOne(e)) => {
            tracing::info!(
                jobs = jobs.len(),
                error = %e,
                "batch rolled back; applying its jobs one by one"
            );
            let mut results = Vec::with_capacity(jobs.len());
            for job in jobs {
                results.push(apply_alone(store, job).await);
            }
            return results;
        }
        Err(Abandoned::Failed(e)) => e,
    };
    tracing::error!(error = %error, jobs = jobs.len(), "redemption batch failed");
    let message = error.to_string();
    jobs.iter()
        .map(|_| Err(StorageError::BatchFailed(message.clone())))
        .collect()
}

/// One job in its own transaction, tried again after a lock conflict.
async fn apply_alone(store: &Store, job: &Job) -> Result<WriteResult> {
    let mut attempt = 0;
    loop {
        let result = async {
            let mut tx = store.begin_write().await?;
            let result = apply_one(store, &mut tx, job, false).await?;
            events::commit(tx).await?;
            Ok(result)
        }
        .await;
        match result {
            Err(e) if is_retryable(&e) && attempt + 1 < RETRIES => attempt += 1,
            other => return other,
        }
    }
}

/// The order in which a batch's jobs take their locks: by voucher, so two
/// servers batching the same codes lock them in the same order.
fn lock_order(job: &Job) -> (u8, i64) {
    match &job.op {
        WriteOp::Issue(issue) => (0, issue.structure_id()),
        WriteOp::Redeem(input) => (1, input.voucher_id),
        WriteOp::FollowUp { redemption_id, .. } => (2, *redemption_id),
        WriteOp::Failure { .. } => (3, 0),
    }
}

async fn try_batch(store: &Store, jobs: &[Job]) -> Result<Vec<Result<WriteResult>>, Abandoned> {
    let mut tx = store.begin_write().await.map_err(Abandoned::Failed)?;
    // A lone job needs no savepoint: its error rolls the transaction back.
    if let [job] = jobs {
        return match apply_one(store, &mut tx, job, false).await {
            Ok(result) => {
                events::commit(tx).await?;
                Ok(vec![Ok(result)])
            }
            // Retried by `apply_batch`; anything else is this job's answer.
            Err(e) if is_retryable(&e) => Err(Abandoned::OneByOne(e)),
            Err(e) => Ok(vec![Err(e)]),
        };
    }
    let mut results: Vec<Option<Result<WriteResult>>> = (0..jobs.len()).map(|_| None).collect();
    admit(&mut tx, jobs, &mut results)
        .await
        .map_err(Abandoned::OneByOne)?;
    redeem_common_cases(&mut tx, jobs, &mut results).await?;
    let savepoints = store.backend() == super::Backend::Sqlite;
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| jobs.get(i).map(lock_order));
    for i in order {
        let Some(job) = jobs.get(i) else { continue };
        if results.get(i).is_some_and(Option::is_some) {
            continue;
        }
        if savepoints {
            tx.savepoint().await.map_err(Abandoned::Failed)?;
        }
        let result = match apply_one(store, &mut tx, job, true).await {
            Ok(result) => {
                if savepoints {
                    tx.release_savepoint().await.map_err(Abandoned::Failed)?;
                }
                Ok(result)
            }
            // Give up the whole batch; `apply_batch` retries job by job.
            Err(e) if is_retryable(&e) || !savepoints => return Err(Abandoned::OneByOne(e)),
            Err(e) => {
                tx.rollback_to_savepoint()
                    .await
                    .map_err(Abandoned::Failed)?;
                Err(e)
            }
        };
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(result);
        }
    }
    events::commit(tx).await?;
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(StorageError::BatchFailed(
                    "the batch left this job unanswered".into(),
                ))
            })
        })
        .collect())
}

/// Applies the batch's admitted plain redemptions (no Idempotency-Key)
/// set-based ([`fast_redeem`]), a few statements for all of them, and fills
/// in the answers of those it completed. An error gives up the batch: there
/// is no savepoint around a set.
async fn redeem_common_cases(
    tx: &mut WriteTx,
    jobs: &[Job],
    results: &mut [Option<Result<WriteResult>>],
) -> Result<(), Abandoned> {
    // Grouped by the time they were submitted with (nearly always one).
    let mut by_now: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, job) in jobs.iter().enumerate() {
        let refused = results.get(i).is_some_and(Option::is_some);
        if let WriteOp::Redeem(input) = &job.op
            && input.idempotency.is_none()
            && !refused
        {
            by_now.entry(job.now).or_default().push(i);
        }
    }
    for (now, members) in by_now {
        let inputs: Vec<&RedeemInput> = members
            .iter()
            .filter_map(|&i| match jobs.get(i).map(|j| &j.op) {
                Some(WriteOp::Redeem(input)) => Some(input),
                _ => None,
            })
            .collect();
        let answers = fast_redeem::redeem_issued(tx, &inputs, now)
            .await
            .map_err(Abandoned::OneByOne)?;
        for (&i, answer) in members.iter().zip(answers) {
            if let (Some(outcome), Some(slot)) = (answer, results.get_mut(i)) {
                *slot = Some(Ok(WriteResult::Outcome(outcome)));
            }
        }
    }
    Ok(())
}

impl Store {
    /// Queues a redemption-path write and waits for its committed answer.
    pub async fn submit(&self, op: WriteOp, now: i64) -> Result<WriteResult> {
        // The same voucher (or redemption) always goes to the same writer, so
        // writers rarely wait on each other's locks; failures share one row,
        // so they share one writer.
        let key = match &op {
            WriteOp::Redeem(input) => input.voucher_id,
            WriteOp::FollowUp { redemption_id, .. } => *redemption_id,
            WriteOp::Failure { .. } => 0,
            WriteOp::Issue(issue) => issue.structure_id(),
        };
        let n = self.writers.len().max(1) as i64;
        let writer = self
            .writers
            .get(usize::try_from(key.rem_euclid(n)).unwrap_or(0))
            .ok_or(StorageError::WriterStopped)?;
        let (reply, answer) = oneshot::channel();
        let job = Job { op, now, reply };
        writer
            .send(job)
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        answer.await.map_err(|_| StorageError::WriterStopped)?
    }

    /// Queues an issue and waits for its committed answer.
    pub(crate) async fn submit_issue(&self, job: IssueJob, now: i64) -> Result<IssueOutcome> {
        match self.submit(WriteOp::Issue(Box::new(job)), now).await? {
            WriteResult::Issued(outcome) => Ok(outcome),
            _ => Err(StorageError::UnexpectedReply),
        }
    }
}
