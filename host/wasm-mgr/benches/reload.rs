//! `make bench`: time from a module file changing in the modules folder to its new
//! version serving (the host's status shows the new file's hash, running), for a
//! Rust module (`probe`) and for the prometheus module; with the compile cached
//! (two versions alternating, both compiled before) and not cached (a new file
//! content each time).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasm_mgr_tests::{Host, component, with_marker};

const CACHED_RELOADS: usize = 50;
const UNCACHED_RELOADS: usize = 5;

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Writes `bytes` as the module's file the way a careful deployer does (a hidden
/// temporary file renamed over the old one), then waits until the host serves the
/// new version. Returns the time from the rename.
async fn reload(host: &Host, name: &str, file: &Path, bytes: &[u8]) -> Result<Duration> {
    let expected = sha256(bytes);
    let tmp = file.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)?;
    let t0 = Instant::now();
    loop {
        let row = host.module(name).await?;
        if row["hash"] == expected.as_str() && row["state"] == "running" {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("{name} was not reloaded within 60 s: {row}\n{}", host.log());
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{what:<52} n={:<3} p50={:>9.1?} p99={:>9.1?} max={:>9.1?}",
        samples.len(),
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
}

async fn bench(name: &str) -> Result<()> {
    let host = Host::start(&[name], None, &[]).await?;
    let file = host.modules_dir().join(format!("{name}.wasm"));
    let original = std::fs::read(component(name)).context("module not built")?;
    let size = original.len();
    let a = with_marker(&original, "a");
    let b = with_marker(&original, "b");
    // Both versions compiled once, so that every reload below hits the cache.
    reload(&host, name, &file, &a).await?;
    reload(&host, name, &file, &b).await?;
    let mut cached = Vec::new();
    for i in 0..CACHED_RELOADS {
        let bytes = if i % 2 == 0 { &a } else { &b };
        cached.push(reload(&host, name, &file, bytes).await?);
    }
    report(
        &format!("{name} ({} KiB), cached compile", size / 1024),
        cached,
    );
    let mut uncached = Vec::new();
    for i in 0..UNCACHED_RELOADS {
        let bytes = with_marker(&original, &format!("fresh-{}-{i}", std::process::id()));
        uncached.push(reload(&host, name, &file, &bytes).await?);
    }
    report(
        &format!("{name} ({} KiB), compiled anew", size / 1024),
        uncached,
    );
    Ok(())
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        bench("probe").await?;
        bench("prometheus").await
    })
}
