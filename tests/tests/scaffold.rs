//! `wasm-mgr new` in each language: the scaffold builds with the tools the
//! Makefile installs, and the module loads and answers in a running host.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use wasm_mgr_tests::{Host, target_dir};

fn project() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `wasm-mgr new`, then the command it printed (a build, or a copy of a
/// plain-source module), with MODULES set.
fn scaffold_and_build(name: &str, lang: &[&str], modules: &Path) -> Result<()> {
    let dir = modules.parent().context("parent")?.join("src");
    let out = Command::new(target_dir().join("release/wasm-mgr"))
        .args(["new", name, "--lang"])
        .args(lang)
        .arg("--dir")
        .arg(&dir)
        .arg("--project")
        .arg(project())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    ensure!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let build = text
        .lines()
        .last()
        .context("no build command")?
        .trim()
        .to_string();
    let tools = format!(
        "{}:{}:{}",
        target_dir().join("py/bin").display(),
        target_dir().join("js/node_modules/.bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("bash")
        .arg("-c")
        .arg(&build)
        .env("MODULES", modules)
        .env("PATH", tools)
        .env("CARGO_TARGET_DIR", target_dir().join("scaffold-target"))
        .output()?;
    ensure!(
        status.status.success(),
        "{build}: {}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn new_modules_build_and_load_in_every_language() -> Result<()> {
    let host = Host::start(&[], None, &[]).await?;
    let modules = host.modules_dir();
    for (name, lang) in [
        ("new-rust", &["rust"][..]),
        ("new-python", &["python", "--component"]),
        ("new-js", &["js", "--component"]),
        ("new-python-source", &["python"]),
        ("new-js-source", &["js"]),
    ] {
        // The build (or, for plain source, a copy) writes the module straight
        // into the watched folder.
        scaffold_and_build(name, lang, &modules)?;
        let answer = host
            .wait_for(std::time::Duration::from_secs(120), name, || async {
                let (code, v) = host
                    .command(name, &format!("{name} status"))
                    .await
                    .with_context(|| format!("host log:\n{}", host.log()))?;
                Ok((code == 200 && v["retval"] == 0).then_some(v))
            })
            .await?;
        let out = answer["stdout"].as_str().unwrap_or_default();
        ensure!(out.starts_with("osd map epoch"), "{name}: {answer}");
    }
    Ok(())
}
