//! What the loop knows about every mint it has seen, and the checkpoint derived from it.
//!
//! One entry per token id holds the latest mint seen for it (a reorg may replace a mint by
//! another with the same id: the entry then belongs to the new one, and work for the old one
//! is stale). An entry's outcome is final only once it is `reorg_blocks` deep and confirmed on
//! chain once more; until then its mint block holds the checkpoint back, so a restart reads
//! it again.

use super::{Job, state::ContractState};
use alloy::primitives::Address;
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};
use tracing::{debug, warn};

/// Where a mint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Queued, generating or being delivered.
    Working,
    /// Left for now: another shard's token in a `once` run, or handed back at shutdown.
    Parked,
    /// Delivered, refunded or gone as of block `at`; confirmed once that block is deep enough
    /// (or at once after a reorg, `recheck`).
    Settled { at: u64, recheck: bool },
    /// Final; kept only to recognize the mint when the reorg window is read again.
    Finished,
}

struct Entry {
    job: Job,
    phase: Phase,
}

struct Track {
    state: ContractState,
    /// token id -> the latest mint seen for it
    entries: HashMap<u64, Entry>,
    /// everything below this block has been read
    scanned_to: u64,
    head: u64,
    head_time: u64,
    saved: u64,
    saved_at: Instant,
}

impl Track {
    /// The first block with a mint whose outcome is not final, else the first block not read.
    fn checkpoint(&self) -> u64 {
        self.entries
            .values()
            .filter(|entry| entry.phase != Phase::Finished)
            .map(|entry| entry.job.mint.block)
            .min()
            .unwrap_or(self.scanned_to)
            .min(self.scanned_to)
    }
}

/// What [`Tracker::discover`] made of a mint event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Discovery {
    /// A mint not seen before: queue it.
    New,
    /// Another mint took the id of one seen before (a reorg): queue it; work on the old one
    /// is stale.
    Replaced,
    /// Seen before.
    Known,
}

pub(super) struct Tracker {
    inner: Mutex<HashMap<Address, Track>>,
    reorg_blocks: u64,
}

impl Tracker {
    pub(super) fn new(
        items: impl Iterator<Item = (Address, ContractState, u64)>,
        reorg_blocks: u64,
    ) -> Self {
        let map = items
            .map(|(nft, state, start)| {
                let track = Track {
                    state,
                    entries: HashMap::new(),
                    scanned_to: start,
                    head: 0,
                    head_time: 0,
                    saved: start,
                    saved_at: Instant::now(),
                };
                (nft, track)
            })
            .collect();
        Self {
            inner: Mutex::new(map),
            reorg_blocks,
        }
    }

    fn with<T>(&self, nft: Address, f: impl FnOnce(&mut Track) -> T) -> T {
        let mut map = self.inner.lock().expect("tracker lock");
        f(map.get_mut(&nft).expect("tracked contract"))
    }

    /// Registers a mint event.
    pub(super) fn discover(&self, job: &Job) -> Discovery {
        let discovery = self.with(job.nft, |track| {
            match track.entries.get_mut(&job.token_id) {
                None => {
                    track.entries.insert(
                        job.token_id,
                        Entry {
                            job: job.clone(),
                            phase: Phase::Working,
                        },
                    );
                    Discovery::New
                }
                Some(entry) if entry.job.mint.same_mint(&job.mint) => {
                    // The same mint, maybe moved to another block by a reorg.
                    entry.job.mint.block = job.mint.block;
                    Discovery::Known
                }
                Some(entry) => {
                    *entry = Entry {
                        job: job.clone(),
                        phase: Phase::Working,
                    };
                    Discovery::Replaced
                }
            }
        });
        if discovery == Discovery::Replaced {
            warn!(nft = %job.nft, token_id = job.token_id, tx = %job.mint.tx, "a reorg replaced this token's mint: making the new prompt's image");
        }
        discovery
    }

    /// Whether `job` is still the mint of its token and being worked on (not stale).
    pub(super) fn is_current(&self, job: &Job) -> bool {
        self.with(job.nft, |track| {
            track.entries.get(&job.token_id).is_some_and(|entry| {
                entry.phase == Phase::Working && entry.job.mint.same_mint(&job.mint)
            })
        })
    }

    fn set(&self, job: &Job, phase: impl FnOnce(&Track) -> Phase) {
        let changed = self.with(job.nft, |track| {
            let phase = phase(track);
            match track.entries.get_mut(&job.token_id) {
                Some(entry) if entry.job.mint.same_mint(&job.mint) => {
                    entry.phase = phase;
                    true
                }
                _ => false,
            }
        });
        if changed {
            self.save(job.nft, false);
        }
    }

    /// The token reached a state only a reorg can undo (delivered, refunded, gone) in block
    /// `at`; final once that block is `reorg_blocks` deep.
    pub(super) fn settle(&self, job: &Job, at: u64) {
        let reorg_blocks = self.reorg_blocks;
        self.set(job, |track| {
            if track.head >= at.saturating_add(reorg_blocks) {
                Phase::Finished
            } else {
                Phase::Settled { at, recheck: false }
            }
        });
    }

    /// Nothing more will be done for this mint (given up on, or not ours to deliver).
    pub(super) fn finish(&self, job: &Job) {
        self.set(job, |_| Phase::Finished);
    }

    /// Left for a later run (its block keeps the checkpoint).
    pub(super) fn park(&self, job: &Job) {
        self.set(job, |_| Phase::Parked);
    }

    /// Pending again after a reorg: back to work.
    pub(super) fn requeue(&self, job: &Job) {
        self.set(job, |_| Phase::Working);
    }

    /// Confirmed on chain at `head`: final when deep enough, else settled as of `head`.
    pub(super) fn confirm(&self, job: &Job, at: u64) {
        self.settle(job, at);
    }

    /// After a reorg: every settled mint is checked again at once.
    pub(super) fn reorged(&self, nft: Address) {
        self.with(nft, |track| {
            for entry in track.entries.values_mut() {
                if let Phase::Settled { at, .. } = entry.phase {
                    entry.phase = Phase::Settled { at, recheck: true };
                }
            }
        });
    }

    /// Mints settled in blocks after `block`, the last head the scanner compared for reorgs:
    /// a reorg replacing such a block before the scanner saw it would go unnoticed, so each is
    /// checked on chain once more, after which the scanner's head covers its block.
    pub(super) fn recheck_beyond(&self, nft: Address, block: u64) {
        self.with(nft, |track| {
            for entry in track.entries.values_mut() {
                if let Phase::Settled { at, .. } = entry.phase
                    && at > block
                {
                    entry.phase = Phase::Settled { at, recheck: true };
                }
            }
        });
    }

    /// Settled mints to confirm on chain now, with the block their state was settled in.
    pub(super) fn due(&self, nft: Address) -> Vec<(Job, u64)> {
        let reorg_blocks = self.reorg_blocks;
        self.with(nft, |track| {
            track
                .entries
                .values()
                .filter_map(|entry| match entry.phase {
                    Phase::Settled { at, recheck }
                        if recheck || track.head >= at.saturating_add(reorg_blocks) =>
                    {
                        Some((entry.job.clone(), at))
                    }
                    _ => None,
                })
                .collect()
        })
    }

    /// The chain's head block and its time, as the scanner last saw them.
    pub(super) fn observe_head(&self, nft: Address, head: u64, time: u64) {
        self.with(nft, |track| {
            track.head = head;
            track.head_time = time;
        });
    }

    /// The latest head block number and time seen for `nft`.
    pub(super) fn head(&self, nft: Address) -> (u64, u64) {
        self.with(nft, |track| (track.head, track.head_time))
    }

    /// Everything below `next_block` has been read.
    pub(super) fn scanned(&self, nft: Address, next_block: u64) {
        let reorg_blocks = self.reorg_blocks;
        self.with(nft, |track| {
            track.scanned_to = track.scanned_to.max(next_block);
            // Finished mints behind the re-read window cannot be seen again: forget them, so
            // a run of weeks does not keep every token it ever handled.
            let horizon = track.scanned_to.saturating_sub(reorg_blocks + 1);
            track.entries.retain(|_, entry| {
                entry.phase != Phase::Finished || entry.job.mint.block >= horizon
            });
        });
        self.save(nft, false);
    }

    /// Mints not final yet (working, parked or settled).
    #[cfg(test)]
    fn unfinished(&self, nft: Address) -> usize {
        self.with(nft, |track| {
            track
                .entries
                .values()
                .filter(|entry| entry.phase != Phase::Finished)
                .count()
        })
    }

    /// Saves the checkpoint when it moved, at most every 250 ms unless `force`.
    pub(super) fn save(&self, nft: Address, force: bool) {
        self.with(nft, |track| {
            let checkpoint = track.checkpoint();
            if checkpoint == track.saved
                || (!force && track.saved_at.elapsed() < Duration::from_millis(250))
            {
                return;
            }
            match track.state.save_checkpoint(checkpoint) {
                Ok(()) => {
                    debug!(%nft, next_block = checkpoint, "checkpoint saved");
                    track.saved = checkpoint;
                    track.saved_at = Instant::now();
                }
                Err(err) => warn!(%err, "cannot save the checkpoint; will retry"),
            }
        });
    }

    pub(super) fn save_all(&self, force: bool) {
        let nfts: Vec<Address> = self
            .inner
            .lock()
            .expect("tracker lock")
            .keys()
            .copied()
            .collect();
        for nft in nfts {
            self.save(nft, force);
        }
    }

    pub(super) fn state(&self, nft: Address) -> ContractState {
        self.with(nft, |track| track.state.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provide::state::MintRef;
    use alloy::primitives::B256;

    fn job(token_id: u64, tx: u8, block: u64) -> Job {
        Job {
            nft: Address::ZERO,
            token_id,
            mint: MintRef {
                tx: B256::repeat_byte(tx),
                block,
                prompt: format!("prompt {tx}"),
            },
            discovered_at: Instant::now(),
        }
    }

    fn tracker(start: u64, reorg_blocks: u64) -> (Tracker, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let state = ContractState::open(dir.path(), 1, Address::ZERO).unwrap();
        let tracker = Tracker::new([(Address::ZERO, state, start)].into_iter(), reorg_blocks);
        (tracker, dir)
    }

    fn checkpoint(tracker: &Tracker) -> u64 {
        tracker.with(Address::ZERO, |track| track.checkpoint())
    }

    #[test]
    fn a_delivered_token_holds_the_checkpoint_until_it_is_final() {
        let (tracker, _dir) = tracker(0, 3);
        let a = job(1, 1, 10);
        assert_eq!(tracker.discover(&a), Discovery::New);
        tracker.scanned(Address::ZERO, 20);
        tracker.observe_head(Address::ZERO, 19, 0);
        assert_eq!(checkpoint(&tracker), 10);
        // Delivered in block 18: not final at head 19.
        tracker.settle(&a, 18);
        assert_eq!(checkpoint(&tracker), 10);
        assert!(tracker.due(Address::ZERO).is_empty());
        tracker.observe_head(Address::ZERO, 21, 0);
        assert_eq!(
            tracker.due(Address::ZERO).len(),
            1,
            "deep enough to confirm"
        );
        tracker.confirm(&a, 18);
        assert_eq!(checkpoint(&tracker), 20, "final: the checkpoint moves on");
        assert_eq!(tracker.unfinished(Address::ZERO), 0);
    }

    #[test]
    fn a_reorg_makes_settled_tokens_due_and_a_new_mint_replaces_the_old() {
        let (tracker, _dir) = tracker(0, 30);
        let a = job(1, 1, 10);
        tracker.discover(&a);
        tracker.observe_head(Address::ZERO, 12, 0);
        tracker.settle(&a, 11);
        assert!(tracker.due(Address::ZERO).is_empty());
        tracker.reorged(Address::ZERO);
        assert_eq!(tracker.due(Address::ZERO).len(), 1);
        tracker.requeue(&a);
        assert!(tracker.is_current(&a));

        // Another mint takes id 1: the old job is stale, the new one current.
        let b = job(1, 2, 11);
        assert_eq!(tracker.discover(&b), Discovery::Replaced);
        assert!(!tracker.is_current(&a) && tracker.is_current(&b));
        // Settling the stale job changes nothing.
        tracker.finish(&a);
        assert!(tracker.is_current(&b));
        assert_eq!(tracker.discover(&b), Discovery::Known);
        assert_eq!(
            tracker.discover(&job(1, 2, 12)),
            Discovery::Known,
            "moved, not new"
        );
        assert_eq!(checkpoint(&tracker), 0, "nothing read yet");
    }

    #[test]
    fn finished_mints_behind_the_window_are_forgotten() {
        let (tracker, _dir) = tracker(0, 2);
        let a = job(1, 1, 5);
        tracker.discover(&a);
        tracker.finish(&a);
        tracker.scanned(Address::ZERO, 7);
        assert_eq!(tracker.with(Address::ZERO, |t| t.entries.len()), 1);
        tracker.scanned(Address::ZERO, 9);
        assert_eq!(tracker.with(Address::ZERO, |t| t.entries.len()), 0);
        assert_eq!(checkpoint(&tracker), 9);
    }
}
