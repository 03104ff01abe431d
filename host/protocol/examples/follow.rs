//! Follow a cluster and print what the monitors push, then run one command:
//! `cargo run -p wasm-mgr-protocol --example follow -- CEPH_CONF [NAME] [SECONDS]`.

use std::time::Duration;

use wasm_mgr_protocol::{Event, MonClient, MonClientConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let conf = args
        .next()
        .ok_or("usage: follow CEPH_CONF [NAME] [SECONDS]")?;
    let name = args.next().unwrap_or_else(|| "client.admin".into());
    let secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let cfg = MonClientConfig::from_conf(conf.as_ref(), &name, None)?;
    let (client, mut events) = MonClient::start(cfg);
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut asked = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => break,
            e = events.recv() => {
                let Some(e) = e else { break };
                match &e {
                    Event::Digest { health, .. } => println!("digest: health {} bytes", health.len()),
                    e => println!("{e:?}"),
                }
                if matches!(e, Event::Session { .. }) && !asked {
                    asked = true;
                    let r = client
                        .command(r#"{"prefix":"status","format":"json"}"#, b"", Duration::from_secs(5))
                        .await?;
                    println!("status: retval {} {}", r.retval, String::from_utf8_lossy(&r.data));
                }
            }
        }
    }
    Ok(())
}
