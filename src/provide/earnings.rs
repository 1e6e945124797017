//! Earnings: deliveries credit them in the contract (`earnings(provider)`); the loop takes
//! them home periodically and at the end of a run.

use super::{Shared, unless_stopped};
use alloy::primitives::U256;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::watch;
use tracing::{info, warn};

/// Deliveries credit earnings in the contract; take them home. A failure only costs a later
/// `genim withdraw`, so it is logged, not fatal.
pub(super) async fn withdraw_all(shared: &Shared) -> U256 {
    let mut total = U256::ZERO;
    for &address in &shared.opts.nfts {
        let outcome = async {
            let nft = crate::nft::Nft::open(&shared.conn, address).await?;
            crate::nft::manage::withdraw(&shared.conn, &nft).await
        };
        match outcome.await {
            Ok(withdrawn) => {
                if withdrawn.tx.is_some() {
                    info!(nft = %address, amount = %withdrawn.amount, "withdrew earnings");
                }
                total += withdrawn.amount;
            }
            Err(err) => {
                warn!(nft = %address, error = %err, "earnings not withdrawn; run `genim withdraw`")
            }
        }
    }
    total
}

/// A long run takes its earnings home every `every` (only when there are some: `withdraw`
/// sends nothing otherwise), so they do not pile up in the contract for weeks.
pub(super) async fn withdraw_periodically(
    shared: Arc<Shared>,
    every: Duration,
    withdrawn: Arc<Mutex<U256>>,
    mut stop: watch::Receiver<bool>,
) {
    let every = every.max(Duration::from_secs(1));
    loop {
        if unless_stopped(&mut stop, tokio::time::sleep(every))
            .await
            .is_none()
        {
            return;
        }
        // Not cut short by a stop: a withdrawal sent is followed to its receipt (the
        // shutdown timeout still bounds it), so its amount is counted.
        let amount = withdraw_all(&shared).await;
        *withdrawn.lock().expect("withdrawn lock") += amount;
    }
}
