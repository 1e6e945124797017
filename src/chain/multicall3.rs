//! Multicall3 (github.com/mds1/multicall): one transaction making many calls, each allowed to
//! fail alone. It sits at the same address on every chain that has it (Base, Optimism,
//! Arbitrum, Ethereum and their testnets); anvil starts without it, and [`install`] puts it
//! on a local chain.

use super::{ChainError, Connection};
use alloy::{
    primitives::{Address, Bytes, address},
    providers::Provider,
};

/// Multicall3's address.
pub const MULTICALL3: Address = address!("cA11bde05977b3631167028862bE2a173976CA11");

/// Its runtime code (see abi/multicall3/README.md).
const RUNTIME: &str = include_str!("../../abi/multicall3/Multicall3.hex");

alloy::sol! {
    /// The part of Multicall3 genim calls.
    interface IMulticall3 {
        struct Call3 {
            address target;
            bool allowFailure;
            bytes callData;
        }
        struct Result {
            bool success;
            bytes returnData;
        }
        function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory returnData);
    }
}

/// Puts Multicall3 at its address on a local chain (anvil's `anvil_setCode`) unless it is
/// there already.
pub async fn install(conn: &Connection) -> Result<(), ChainError> {
    let code = conn
        .provider
        .get_code_at(MULTICALL3)
        .await
        .map_err(|err| conn.rpc_error(err))?;
    if !code.is_empty() {
        return Ok(());
    }
    let runtime: Bytes = RUNTIME.trim().parse().expect("abi/multicall3 holds hex");
    conn.provider
        .raw_request::<_, serde_json::Value>("anvil_setCode".into(), (MULTICALL3, runtime))
        .await
        .map_err(|err| conn.rpc_error(err))?;
    Ok(())
}
