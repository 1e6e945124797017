//! The embedded ledger: one redb file, for a single `genim serve`.
//!
//! Why redb: maintained, pure Rust (no C toolchain step; it compiles in about the time
//! `rusqlite` with bundled SQLite does: 45 s against 48 s of CPU, measured on the 2-core
//! machine, deps at opt-level 1), ACID with copy-on-write B-trees, and its default
//! `Durability::Immediate` fsyncs a commit: a `save` or `complete` that returned is on disk and
//! survives `kill -9` (the tests kill a child process right after a `complete`). A `claim`,
//! `abandon` or `stage` is committed without an fsync (`Durability::None`, on disk with the next
//! fsync): it moves no money, so a crash that loses one costs only a fresh claim, or work done
//! again.
//! Its whole-file lock (an OFD lock, so it also refuses a second open inside the same process)
//! makes a second `genim serve` on the same file fail with [`LedgerError::Locked`] instead of
//! corrupting it, where SQLite would need a lock of our own, since it lets processes share.
//!
//! Atomicity comes from redb's single writer: a claim reads and writes in one write transaction,
//! so concurrent claims are serialized. Writes go to one writer thread that commits them in
//! groups: the writes waiting while a commit's fsync runs are applied one after the other in the
//! next transaction and share its fsync, and none returns before that commit is done. Under
//! load the fsync, not the work, is what a commit costs (measured: 118 paid requests per second
//! with a commit each, ~190 on tmpfs), so grouping keeps durability without paying it per write.
//! Reads run on tokio's blocking pool. Leases use this machine's clock, the only clock that reads
//! this file.

use super::{Claim, Entry, Ledger, LedgerError, Probe, lease_ms, unix_ms, wait_loop};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tokio::sync::Notify;

/// key -> the [`Entry`] as JSON.
const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// (expires_at, key), so that a purge reads only what it deletes.
const BY_EXPIRY: TableDefinition<(i64, &str), ()> = TableDefinition::new("by_expiry");
/// "format" -> [`FORMAT`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The layout of the tables above; a file of a newer layout is refused.
const FORMAT: u64 = 1;

/// The embedded ledger (see the module docs). Cheap to clone; closes when the last clone drops.
#[derive(Clone)]
pub struct EmbeddedLedger {
    inner: Arc<Inner>,
    writer: Arc<Writer>,
}

/// One write, run by the writer thread inside a group's transaction. It returns whether it
/// changed anything, and what to do once the group's commit is known (answer its caller).
struct WriteOp {
    /// Whether its caller needs it on disk before the answer.
    durable: bool,
    run: Apply,
}

/// Applies a write to the group's tables: whether it changed anything, and its [`Answer`].
type Apply = Box<dyn FnOnce(&mut Tables<'_>) -> (bool, Answer) + Send>;

/// Answers a write's caller once its group's commit is known.
type Answer = Box<dyn FnOnce(Result<(), String>) + Send>;

/// The open tables of a group's write transaction.
struct Tables<'txn> {
    entries: redb::Table<'txn, &'static str, &'static [u8]>,
    by_expiry: redb::Table<'txn, (i64, &'static str), ()>,
}

/// The writer thread and the queue to it; dropping the last handle stops the thread and waits
/// for it, so the file is closed when the ledger is.
struct Writer {
    queue: Option<std::sync::mpsc::Sender<WriteOp>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Most writes committed together (a bound on the time one caller waits for others' work).
const MAX_GROUP: usize = 256;

/// The writer thread: takes every write queued, applies them in one transaction, commits once,
/// then answers each.
fn write_loop(inner: &Inner, queue: &std::sync::mpsc::Receiver<WriteOp>) {
    let path = &inner.path;
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let mut answers = Vec::with_capacity(group.len());
        let durable = group.iter().any(|op| op.durable);
        let outcome = (|| {
            let mut txn = inner.db.begin_write().or_ledger(path)?;
            if !durable {
                // In memory at once (other requests see it), on disk with the next durable
                // commit (see `claim` for why that is enough).
                txn.set_durability(redb::Durability::None)
                    .map_err(|e| LedgerError::Io {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
            }
            let mut changed = false;
            {
                let mut tables = Tables {
                    entries: txn.open_table(ENTRIES).or_ledger(path)?,
                    by_expiry: txn.open_table(BY_EXPIRY).or_ledger(path)?,
                };
                for op in group.drain(..) {
                    let (wrote, answer) = (op.run)(&mut tables);
                    changed |= wrote;
                    answers.push(answer);
                }
            }
            if changed {
                // A durable group (Durability::Immediate, redb's default) returns once its commit
                // is fsynced, with every non-durable commit before it.
                txn.commit().or_ledger(path)?;
                inner.changed.notify_waiters();
            } else {
                txn.abort().or_ledger(path)?;
            }
            Ok::<_, LedgerError>(())
        })();
        let committed = outcome.map_err(|err| err.to_string());
        if let Err(reason) = &committed {
            tracing::warn!(%reason, "a ledger commit failed: its writes are answered with the error");
        }
        // Ops never applied (the transaction did not open) are dropped: their callers get an
        // error too.
        drop(group);
        for answer in answers {
            answer(committed.clone());
        }
    }
}

struct Inner {
    db: Database,
    path: PathBuf,
    /// Woken by every write, for [`Ledger::wait`].
    changed: Notify,
}

impl fmt::Debug for EmbeddedLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedLedger")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Maps redb's errors to [`LedgerError`]s that name the file.
trait OrLedger<T> {
    fn or_ledger(self, path: &Path) -> Result<T, LedgerError>;
}

impl<T, E: Into<redb::Error>> OrLedger<T> for Result<T, E> {
    fn or_ledger(self, path: &Path) -> Result<T, LedgerError> {
        self.map_err(|err| match err.into() {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
                LedgerError::Locked {
                    path: path.to_path_buf(),
                }
            }
            redb::Error::Corrupted(reason) => LedgerError::Corrupt {
                what: format!("file {}", path.display()),
                reason,
            },
            redb::Error::UpgradeRequired(version) => LedgerError::Config {
                reason: format!(
                    "{} is in an old redb file format ({version}): open it with the genim that \
                     wrote it, or move it away",
                    path.display()
                ),
            },
            other => LedgerError::Io {
                path: path.to_path_buf(),
                reason: other.to_string().replace('\n', " "),
            },
        })
    }
}

impl EmbeddedLedger {
    /// Opens (or creates) the ledger file at `path`, creating its folder. Fails with
    /// [`LedgerError::Locked`] while another process (or another open in this one) has it.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, LedgerError> {
        let path = path.into();
        tokio::task::spawn_blocking(move || Self::open_blocking(path))
            .await
            .map_err(|e| join_error(&e))?
    }

    fn open_blocking(path: PathBuf) -> Result<Self, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| LedgerError::Io {
                path: dir.to_path_buf(),
                reason: format!("cannot create the folder: {e}"),
            })?;
        }
        let db = Database::create(&path).or_ledger(&path)?;
        // Creates the tables, so that reads never meet a missing one, and checks the layout.
        let txn = db.begin_write().or_ledger(&path)?;
        {
            txn.open_table(ENTRIES).or_ledger(&path)?;
            txn.open_table(BY_EXPIRY).or_ledger(&path)?;
            let mut meta = txn.open_table(META).or_ledger(&path)?;
            let format = meta.get("format").or_ledger(&path)?.map(|v| v.value());
            match format {
                None => {
                    meta.insert("format", FORMAT).or_ledger(&path)?;
                }
                Some(FORMAT) => {}
                Some(other) => {
                    return Err(LedgerError::Config {
                        reason: format!(
                            "{} has ledger format {other}, newer than this genim's ({FORMAT})",
                            path.display()
                        ),
                    });
                }
            }
        }
        txn.commit().or_ledger(&path)?;
        let inner = Arc::new(Inner {
            db,
            path,
            changed: Notify::new(),
        });
        let (queue, receiver) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("genim-ledger".into())
            .spawn({
                let inner = inner.clone();
                move || write_loop(&inner, &receiver)
            })
            .map_err(|e| LedgerError::Io {
                path: inner.path.clone(),
                reason: format!("cannot start the ledger's writer thread: {e}"),
            })?;
        Ok(Self {
            inner,
            writer: Arc::new(Writer {
                queue: Some(queue),
                thread: Some(thread),
            }),
        })
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `op` on the blocking pool (redb's I/O and fsyncs must not stall the runtime).
    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Inner) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || op(&inner))
            .await
            .map_err(|e| join_error(&e))?
    }

    /// `save` and `stage`: the progress under the owner's lease, fsynced when `durable`.
    async fn put_progress(
        &self,
        key: &str,
        owner: &str,
        data: &serde_json::Value,
        lease: Duration,
        durable: bool,
    ) -> Result<Entry, LedgerError> {
        let (key_, owner, data) = (key.to_owned(), owner.to_owned(), data.clone());
        self.update(key, durable, move |old, now| {
            let mut entry = old.ok_or_else(|| LedgerError::NotFound { key: key_.clone() })?;
            if !entry.is_owned_by(&owner) {
                return Err(LedgerError::LeaseLost { key: key_ });
            }
            entry.data = data;
            entry.lease_until = Some(now.saturating_add(lease_ms(lease)));
            entry.updated_at = now;
            entry.version += 1;
            Ok((entry.clone(), Write::Put(entry)))
        })
        .await
    }

    /// Runs a read-modify-write of one record in the writer thread's next group transaction:
    /// `decide` gets the record and returns the answer and whether to [`Write::Put`],
    /// [`Write::Delete`] or leave it. Returns once the group's commit is done (on disk when
    /// `durable`).
    async fn update<T: Send + 'static>(
        &self,
        key: &str,
        durable: bool,
        decide: impl FnOnce(Option<Entry>, i64) -> Result<(T, Write), LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let key = key.to_owned();
        let path = self.inner.path.clone();
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T, LedgerError>>();
        let run = Box::new(move |tables: &mut Tables<'_>| {
            let result = apply(tables, &key, &path, decide);
            let wrote = matches!(result, Ok((_, true)));
            let finish: Answer = Box::new(move |committed| {
                let answer = match (result, committed) {
                    (Err(err), _) => Err(err),
                    (Ok((answer, _)), Ok(())) => Ok(answer),
                    (Ok(_), Err(reason)) => Err(LedgerError::Io { path, reason }),
                };
                let _ = reply.send(answer);
            });
            (wrote, finish)
        });
        let op = WriteOp { durable, run };
        let queue = self
            .writer
            .queue
            .as_ref()
            .expect("the queue lives as long as the ledger");
        queue.send(op).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

/// Applies one read-modify-write to the group's tables: the answer, and whether it wrote.
fn apply<T>(
    tables: &mut Tables<'_>,
    key: &str,
    path: &Path,
    decide: impl FnOnce(Option<Entry>, i64) -> Result<(T, Write), LedgerError>,
) -> Result<(T, bool), LedgerError> {
    let old = read_entry(&tables.entries, key, path)?;
    let old_expiry = old.as_ref().map(|e| e.expires_at);
    let (answer, write) = decide(old, unix_ms())?;
    match &write {
        Write::None => return Ok((answer, false)),
        Write::Put(entry) => {
            let bytes = serde_json::to_vec(entry).map_err(|e| LedgerError::Io {
                path: path.to_path_buf(),
                reason: format!("cannot encode record {key}: {e}"),
            })?;
            if let Some(old) = old_expiry.filter(|old| *old != entry.expires_at) {
                tables.by_expiry.remove((old, key)).or_ledger(path)?;
            }
            tables
                .entries
                .insert(key, bytes.as_slice())
                .or_ledger(path)?;
            tables
                .by_expiry
                .insert((entry.expires_at, key), ())
                .or_ledger(path)?;
        }
        Write::Delete => {
            tables.entries.remove(key).or_ledger(path)?;
            if let Some(old) = old_expiry {
                tables.by_expiry.remove((old, key)).or_ledger(path)?;
            }
        }
    }
    Ok((answer, true))
}

fn writer_gone() -> LedgerError {
    LedgerError::Unavailable {
        what: "the embedded ledger".into(),
        reason: "the write was not committed (see the log)".into(),
    }
}

/// What [`EmbeddedLedger::update`] writes back.
enum Write {
    None,
    Put(Entry),
    Delete,
}

fn read_entry(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    path: &Path,
) -> Result<Option<Entry>, LedgerError> {
    let Some(bytes) = table.get(key).or_ledger(path)? else {
        return Ok(None);
    };
    serde_json::from_slice(bytes.value())
        .map(Some)
        .map_err(|e| LedgerError::Corrupt {
            what: format!("record {key} in {}", path.display()),
            reason: e.to_string(),
        })
}

fn join_error(err: &tokio::task::JoinError) -> LedgerError {
    LedgerError::Unavailable {
        what: "the embedded ledger".into(),
        reason: format!("its task failed: {err}"),
    }
}

#[async_trait::async_trait]
impl Ledger for EmbeddedLedger {
    async fn claim(
        &self,
        key: &str,
        request: &str,
        owner: &str,
        lease: Duration,
        expires_at: i64,
    ) -> Result<Claim, LedgerError> {
        let (key_, request, owner) = (key.to_owned(), request.to_owned(), owner.to_owned());
        // Not fsynced: a claim moves no money and makes nothing, so losing it in a crash only
        // means the retry claims afresh; the durable `save` after it persists it too.
        self.update(key, false, move |old, now| {
            let lease_until = Some(now.saturating_add(lease_ms(lease)));
            let Some(mut entry) = old else {
                let entry = Entry {
                    key: key_,
                    request,
                    data: serde_json::Value::Null,
                    done: false,
                    owner: Some(owner),
                    lease_until,
                    expires_at,
                    updated_at: now,
                    version: 1,
                };
                return Ok((Claim::Acquired(None), Write::Put(entry)));
            };
            if entry.request != request {
                return Ok((Claim::Conflict(entry), Write::None));
            }
            if entry.done {
                return Ok((Claim::Done(entry), Write::None));
            }
            let live = entry.lease_until.is_some_and(|until| until >= now);
            if live && entry.owner.as_deref() != Some(owner.as_str()) {
                return Ok((Claim::Busy(entry), Write::None));
            }
            // Taken over (expired lease), or granted again to the same owner.
            entry.owner = Some(owner);
            entry.lease_until = lease_until;
            entry.expires_at = entry.expires_at.max(expires_at);
            entry.updated_at = now;
            entry.version += 1;
            Ok((Claim::Acquired(Some(entry.clone())), Write::Put(entry)))
        })
        .await
    }

    async fn save(
        &self,
        key: &str,
        owner: &str,
        data: &serde_json::Value,
        lease: Duration,
    ) -> Result<Entry, LedgerError> {
        self.put_progress(key, owner, data, lease, true).await
    }

    async fn stage(
        &self,
        key: &str,
        owner: &str,
        data: &serde_json::Value,
        lease: Duration,
    ) -> Result<Entry, LedgerError> {
        self.put_progress(key, owner, data, lease, false).await
    }

    async fn complete(
        &self,
        key: &str,
        owner: &str,
        data: &serde_json::Value,
    ) -> Result<Entry, LedgerError> {
        let (key_, owner, data) = (key.to_owned(), owner.to_owned(), data.clone());
        self.update(key, true, move |old, now| {
            let mut entry = old.ok_or_else(|| LedgerError::NotFound { key: key_.clone() })?;
            if entry.done && entry.data == data {
                return Ok((entry, Write::None));
            }
            if !entry.is_owned_by(&owner) {
                return Err(LedgerError::LeaseLost { key: key_ });
            }
            entry.data = data;
            entry.done = true;
            entry.owner = None;
            entry.lease_until = None;
            entry.updated_at = now;
            entry.version += 1;
            Ok((entry.clone(), Write::Put(entry)))
        })
        .await
    }

    async fn abandon(&self, key: &str, owner: &str) -> Result<(), LedgerError> {
        let (key_, owner) = (key.to_owned(), owner.to_owned());
        // Not fsynced either: a claim that comes back after a crash is only a lease that expires.
        self.update(key, false, move |old, _| match old {
            None => Ok(((), Write::None)),
            Some(entry) if entry.is_owned_by(&owner) => Ok(((), Write::Delete)),
            Some(_) => Err(LedgerError::LeaseLost { key: key_ }),
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, LedgerError> {
        let key = key.to_owned();
        self.run(move |inner| {
            let txn = inner.db.begin_read().or_ledger(&inner.path)?;
            let entries = txn.open_table(ENTRIES).or_ledger(&inner.path)?;
            read_entry(&entries, &key, &inner.path)
        })
        .await
    }

    async fn wait(&self, key: &str, timeout: Duration) -> Result<Option<Entry>, LedgerError> {
        // Only this process writes the file, so `changed` sees every write; the polls only
        // matter for a lease running out, which the nap computes exactly.
        wait_loop(
            &self.inner.changed,
            timeout,
            Duration::from_secs(1),
            Duration::from_secs(1),
            || async {
                let entry = self.get(key).await?;
                let now = unix_ms();
                Ok(match entry {
                    Some(entry) if !entry.done && entry.lease_until.is_some_and(|t| t >= now) => {
                        let left = entry.lease_until.unwrap_or(now) - now;
                        Probe::Leased {
                            entry,
                            left: Duration::from_millis(left.max(0) as u64),
                        }
                    }
                    settled => Probe::Settled(settled),
                })
            },
        )
        .await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, LedgerError> {
        let purged = self
            .run(move |inner| {
                let path = &inner.path;
                let txn = inner.db.begin_write().or_ledger(path)?;
                let purged = {
                    let mut entries = txn.open_table(ENTRIES).or_ledger(path)?;
                    let mut by_expiry = txn.open_table(BY_EXPIRY).or_ledger(path)?;
                    let expired: Vec<(i64, String)> = by_expiry
                        .range(..(now, ""))
                        .or_ledger(path)?
                        .map(|item| {
                            let (k, _) = item.or_ledger(path)?;
                            let (at, key) = k.value();
                            Ok((at, key.to_owned()))
                        })
                        .collect::<Result<_, LedgerError>>()?;
                    for (at, key) in &expired {
                        by_expiry.remove((*at, key.as_str())).or_ledger(path)?;
                        entries.remove(key.as_str()).or_ledger(path)?;
                    }
                    expired.len() as u64
                };
                txn.commit().or_ledger(path)?;
                Ok(purged)
            })
            .await?;
        if purged > 0 {
            self.inner.changed.notify_waiters();
        }
        Ok(purged)
    }

    fn describe(&self) -> String {
        format!("embedded ledger at {}", self.inner.path.display())
    }

    async fn health(&self) -> Result<(), LedgerError> {
        self.run(|inner| {
            let txn = inner.db.begin_read().or_ledger(&inner.path)?;
            txn.open_table(ENTRIES).or_ledger(&inner.path)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_open_of_the_same_file_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ledger.redb");
        let first = EmbeddedLedger::open(&path).await.unwrap();
        let err = EmbeddedLedger::open(&path).await.unwrap_err();
        assert!(matches!(err, LedgerError::Locked { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("already open") && text.contains("ledger.redb"),
            "{text}"
        );
        drop(first);
        EmbeddedLedger::open(&path).await.unwrap();
    }

    #[tokio::test]
    async fn the_expiry_index_follows_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = EmbeddedLedger::open(dir.path().join("l.redb"))
            .await
            .unwrap();
        let lease = Duration::from_secs(60);
        ledger.claim("a", "r", "o", lease, 10).await.unwrap();
        ledger.claim("b", "r", "o", lease, 20).await.unwrap();
        ledger.claim("c", "r", "o", lease, 30).await.unwrap();
        // An abandoned record leaves no index entry behind to purge.
        ledger.abandon("b", "o").await.unwrap();
        assert_eq!(ledger.purge_expired(25).await.unwrap(), 1);
        assert!(ledger.get("a").await.unwrap().is_none());
        assert!(ledger.get("c").await.unwrap().is_some());
        assert_eq!(ledger.purge_expired(31).await.unwrap(), 1);
        assert_eq!(ledger.purge_expired(i64::MAX).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.redb");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert("format", 99).unwrap();
            txn.commit().unwrap();
        }
        let err = EmbeddedLedger::open(&path).await.unwrap_err();
        assert!(err.to_string().contains("format 99"), "{err}");
    }
}
