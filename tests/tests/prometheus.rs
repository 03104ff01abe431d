//! The prometheus module against the simulated cluster: the same families and labels
//! as ceph-mgr 16.2.15's prometheus module, valid exposition, and fresh data after a
//! notify.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Result;
use wasm_mgr_tests::{Host, check_exposition};

const WAIT: Duration = Duration::from_secs(30);
const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/reference/ceph-16.2.15/ceph-mgr-prometheus-metrics.txt"
);
/// The sim shaped like the reference cluster: 1 mon, 1 host, 3 OSDs, 1 FS.
const REFERENCE_SHAPE: &[&str] = &["--mons", "1", "--hosts", "1", "--osds", "3"];

/// Family name (from `# TYPE`) to the union of label names of its samples.
fn families(page: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.split_whitespace().next() {
                out.entry(name.to_string()).or_default();
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels) = match line.split_once('{') {
            Some((name, rest)) => (name, rest.rsplit_once('}').map(|r| r.0).unwrap_or("")),
            None => (line.split_whitespace().next().unwrap_or(""), ""),
        };
        let names = label_names(labels);
        out.entry(name.to_string()).or_default().extend(names);
    }
    out
}

/// Label names of `a="x",b="y, z"` (values may hold commas and escaped quotes).
fn label_names(labels: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = labels;
    while let Some((name, after)) = rest.split_once("=\"") {
        names.push(name.trim_start_matches(',').trim().to_string());
        let mut escaped = false;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = i;
                    break;
                }
                _ => escaped = false,
            }
        }
        rest = &after[(end + 1).min(after.len())..];
    }
    names
}

/// Checks a page with promtool: it must parse, and lint findings are allowed only
/// for the names ceph-mgr itself uses (dashboards and alert rules depend on them).
fn check_page(page: &str, reference: &BTreeMap<String, BTreeSet<String>>) -> Result<()> {
    for finding in check_exposition(page)? {
        let name = finding.split_whitespace().next().unwrap_or("");
        let ceph_name =
            reference.contains_key(name) || (reference.is_empty() && name.starts_with("ceph_"));
        assert!(
            ceph_name,
            "lint finding on a name ceph does not use: {finding}"
        );
    }
    Ok(())
}

fn reference_families() -> BTreeMap<String, BTreeSet<String>> {
    std::fs::read_to_string(REFERENCE)
        .map(|r| families(&r))
        .unwrap_or_default()
}

async fn first_page(host: &Host) -> Result<String> {
    host.wait_for(WAIT, "the first collection", || async {
        let (status, page) = host.get("/modules/prometheus/metrics").await?;
        Ok((status == 200).then_some(page))
    })
    .await
}

#[tokio::test]
async fn every_reference_family_appears_with_the_same_labels() -> Result<()> {
    let Ok(reference) = std::fs::read_to_string(REFERENCE) else {
        eprintln!("reference output not found at {REFERENCE}; skipping");
        return Ok(());
    };
    let host = Host::start(&["prometheus", "status"], None, REFERENCE_SHAPE).await?;
    first_page(&host).await?;
    // The reference cluster had health checks; raise one so health detail has samples.
    host.ceph("osd set noout").await?;
    let page = host
        .wait_for(WAIT, "OSDMAP_FLAGS on the page", || async {
            let (_, page) = host.get("/modules/prometheus/metrics").await?;
            Ok(page.contains("name=\"OSDMAP_FLAGS\"").then_some(page))
        })
        .await?;
    let theirs = families(&reference);
    check_page(&page, &theirs)?;
    let ours = families(&page);
    let missing: Vec<&String> = theirs.keys().filter(|f| !ours.contains_key(*f)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} reference families missing: {missing:?}",
        missing.len(),
        theirs.len()
    );
    let mut wrong = Vec::new();
    // Families ceph printed without samples (no MDS in its cluster) have no labels
    // to compare.
    for (family, labels) in theirs.iter().filter(|(_, l)| !l.is_empty()) {
        if ours[family] != *labels {
            wrong.push(format!(
                "{family}: ours {:?}, ceph {labels:?}",
                ours[family]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "label names differ:\n{}",
        wrong.join("\n")
    );
    Ok(())
}

#[tokio::test]
async fn a_down_osd_shows_on_the_next_scrape() -> Result<()> {
    let host = Host::start(&["prometheus"], None, &[]).await?;
    let page = first_page(&host).await?;
    assert!(
        page.contains("ceph_osd_up{ceph_daemon=\"osd.7\"} 1"),
        "osd.7 starts up"
    );
    host.ceph("osd down 7").await?;
    let page = host
        .wait_for(Duration::from_secs(5), "osd.7 down on the page", || async {
            let (_, page) = host.get("/modules/prometheus/metrics").await?;
            Ok(page
                .contains("ceph_osd_up{ceph_daemon=\"osd.7\"} 0")
                .then_some(page))
        })
        .await?;
    assert!(
        page.lines()
            .any(|l| l.starts_with("ceph_health_detail{") && l.contains("name=\"OSD_DOWN\"")),
        "OSD_DOWN in ceph_health_detail"
    );
    assert!(page.contains("ceph_health_status 1"), "HEALTH_WARN is 1");
    check_page(&page, &reference_families())?;
    Ok(())
}

#[tokio::test]
async fn prometheus_on_its_own_port_at_a_thousand_osds() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = format!("[modules.prometheus]\nlisten = \"127.0.0.1:{port}\"\n");
    let shape = ["--osds", "1000", "--hosts", "50", "--pgs", "100000"];
    let host = Host::start(&["prometheus"], Some(&config), &shape).await?;
    first_page(&host).await?;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let resp = reqwest::get(&url).await?;
    assert_eq!(resp.status().as_u16(), 200);
    let page = resp.text().await?;
    let up = page
        .lines()
        .filter(|l| l.starts_with("ceph_osd_up{"))
        .count();
    assert_eq!(up, 1000, "one ceph_osd_up per OSD");
    check_page(&page, &reference_families())?;
    let root = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await?
        .text()
        .await?;
    assert!(
        root.contains("href=\"metrics\""),
        "links to the metrics: {root}"
    );
    Ok(())
}

#[tokio::test]
async fn scrapes_that_accept_gzip_get_the_same_page_compressed() -> Result<()> {
    use std::io::Read;
    let host = Host::start(&["prometheus"], None, &[]).await?;
    first_page(&host).await?;
    let client = reqwest::Client::new();
    let (encoding, raw) = host
        .wait_for(WAIT, "a gzip answer", || async {
            let resp = client
                .get(host.url("/modules/prometheus/metrics"))
                .header("accept-encoding", "gzip")
                .send()
                .await?;
            let encoding = resp
                .headers()
                .get("content-encoding")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let raw = resp.bytes().await?;
            Ok(encoding.map(|e| (e, raw)))
        })
        .await?;
    assert_eq!(encoding, "gzip");
    let mut page = String::new();
    flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut page)?;
    assert!(page.len() > raw.len(), "compressed is smaller");
    assert!(
        page.contains("ceph_osd_up{ceph_daemon=\"osd.0\"}"),
        "{page}"
    );
    check_page(&page, &reference_families())?;
    // Without accept-encoding the page comes plain.
    let plain = client
        .get(host.url("/modules/prometheus/metrics"))
        .send()
        .await?;
    assert!(plain.headers().get("content-encoding").is_none());
    Ok(())
}
