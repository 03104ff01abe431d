//! The versioned contract. `tests/fixtures/ceph-mgr-0.1.0/` keeps `probe` and
//! `tally` as the SDK built them against `ceph:mgr@0.1.0` (at commit 934bd42,
//! before the contract was versioned): they must keep loading and behaving the
//! same on this host, whatever the newest contract is. A component built for a
//! version this host does not know is refused with the versions it links.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::Value;
use wasm_mgr_tests::Host;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn modules_built_for_0_1_0_keep_loading_and_behaving() -> Result<()> {
    let host = Host::start(
        &[
            "ceph-mgr-0.1.0/probe as probe",
            "ceph-mgr-0.1.0/tally as tally",
        ],
        None,
        &[],
    )
    .await?;
    for name in ["probe", "tally"] {
        let row = host.module(name).await?;
        ensure!(row["state"] == "running", "{row}");
    }
    // Notifies reach the 0.1.0 module while its serve loop sleeps.
    let epoch = host.command_json("probe", "probe epoch").await?["osd_map"]
        .as_u64()
        .unwrap_or_default();
    host.ceph("osd down 2").await?;
    host.wait_for(WAIT, "an osd-map notify past the old epoch", || async {
        let list = host.command_json("probe", "probe notifies").await?;
        Ok(list.as_array().and_then(|l| {
            l.iter()
                .find(|n| n["kind"] == "osd-map" && n["osd_map_epoch"].as_u64() > Some(epoch))
                .cloned()
        }))
    })
    .await?;
    // Commands, the store and HTTP, as the module had them.
    host.command_ok("tally", "tally add 2").await?;
    let total = host.command_json("tally", "tally add 3").await?;
    ensure!(total["total"] == 5, "{total}");
    let (code, page) = host.get("/modules/tally/total").await?;
    ensure!(code == 200, "{code} {page}");
    let page: Value = serde_json::from_str(&page)?;
    ensure!(page["total"] == 5, "{page}");
    let (code, v) = host.command("tally", "tally add lots").await?;
    ensure!(code == 400, "{code} {v}");
    Ok(())
}

/// An empty component whose `ceph:mgr/api-version` section names `version`.
fn component_for(version: &str) -> Vec<u8> {
    let name = b"ceph:mgr/api-version";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(version.as_bytes());
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.push(0);
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    bytes
}

#[tokio::test]
async fn an_unknown_contract_version_is_refused_with_the_known_ones() -> Result<()> {
    let host = Host::start(&["probe"], None, &[]).await?;
    std::fs::write(
        host.modules_dir().join("future.wasm"),
        component_for("9.9.0"),
    )?;
    let row = host
        .wait_for(WAIT, "future.wasm reported as failed", || async {
            let rows = host.modules().await?;
            Ok(rows.as_array().and_then(|r| {
                r.iter()
                    .find(|m| m["name"] == "future" && m["state"] == "failed")
                    .cloned()
            }))
        })
        .await?;
    let error = row["last_error"].as_str().unwrap_or_default();
    ensure!(
        error.contains("ceph:mgr@9.9.0") && error.contains("ceph:mgr@0.1.0"),
        "the error names the component's version and the host's: {row}"
    );
    let probe = host.module("probe").await?;
    ensure!(probe["state"] == "running", "{probe}");
    Ok(())
}
