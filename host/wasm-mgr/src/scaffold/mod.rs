//! `wasm-mgr new`: a module that builds and loads as it is, in Rust, Python or
//! JavaScript, written into a folder of its own.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The languages a module can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with the `wasm-mgr-sdk` crate (the `module` world).
    Rust,
    /// Python with `sdk/python`, built by componentize-py (the `module` world).
    Python,
    /// JavaScript with `sdk/js`, built by componentize-js (the `module-sync` world).
    Js,
}

/// Where the project's SDKs and contract are (`wasm-mgr new` is run from the
/// project, or given `--project`).
fn project_paths(project: &Path) -> Result<(PathBuf, PathBuf)> {
    let project = project
        .canonicalize()
        .with_context(|| format!("project folder {}", project.display()))?;
    // New modules build against the newest contract.
    let (sdk, wit) = (
        project.join("sdk"),
        project.join("wit").join(wasm_mgr_runtime::bindings::LATEST),
    );
    if !sdk.join("Cargo.toml").is_file() || !wit.join("worlds.wit").is_file() {
        bail!(
            "{} is not the wasm-mgr project (no sdk/ and wit/{}); run from it or pass --project",
            project.display(),
            wasm_mgr_runtime::bindings::LATEST
        );
    }
    Ok((sdk, wit))
}

fn fill(template: &str, pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}"), value)
        })
}

/// Writes module `name` in `lang` into `dir/name`; returns that folder and the
/// command that builds it.
pub fn new_module(name: &str, lang: Lang, dir: &Path, project: &Path) -> Result<(PathBuf, String)> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!("module name `{name}` must start with a-z and hold only a-z, 0-9 and -");
    }
    let (sdk, wit) = project_paths(project)?;
    let out = dir.join(name);
    if out.exists() {
        bail!("{} exists already", out.display());
    }
    let crate_name = name.replace('-', "_");
    let pairs = [
        ("name", name),
        ("crate", crate_name.as_str()),
        ("sdk", sdk.to_str().unwrap_or_default()),
        ("wit", wit.to_str().unwrap_or_default()),
    ];
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let build = match lang {
        Lang::Rust => {
            files.push((
                out.join("Cargo.toml"),
                fill(include_str!("rust_Cargo.toml"), &pairs),
            ));
            files.push((
                out.join("src/lib.rs"),
                fill(include_str!("rust_lib.rs"), &pairs),
            ));
            format!(
                "cargo build --release --target wasm32-wasip2 --manifest-path {}/Cargo.toml \
                 && cp ${{CARGO_TARGET_DIR:-{}/target}}/wasm32-wasip2/release/{crate_name}.wasm \
                 \"$MODULES/{name}.wasm\"",
                out.display(),
                out.display()
            )
        }
        Lang::Python => {
            files.push((
                out.join("app.py"),
                fill(include_str!("python_app.py"), &pairs),
            ));
            format!(
                "componentize-py -d {} -w module componentize -p {} -p {} app -o \"$MODULES/{name}.wasm\"",
                wit.display(),
                sdk.join("python").display(),
                out.display()
            )
        }
        Lang::Js => {
            files.push((out.join("app.js"), fill(include_str!("js_app.js"), &pairs)));
            let js_sdk = std::fs::read_to_string(sdk.join("js/wasm-mgr.js"))
                .context("reading sdk/js/wasm-mgr.js")?;
            files.push((out.join("wasm-mgr.js"), js_sdk));
            format!(
                "componentize-js --wit {} --world-name module-sync --disable http \
                 --disable fetch-event -o \"$MODULES/{name}.wasm\" {}/app.js",
                wit.display(),
                out.display()
            )
        }
    };
    for (path, text) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok((out, build))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_templates() {
        let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = std::env::temp_dir().join(format!("wasm-mgr-new-{}", std::process::id()));
        assert!(new_module("Bad_Name", Lang::Rust, &dir, &project).is_err());
        for (name, lang, file) in [
            ("r1", Lang::Rust, "src/lib.rs"),
            ("p1", Lang::Python, "app.py"),
            ("j1", Lang::Js, "app.js"),
        ] {
            let (out, build) = new_module(name, lang, &dir, &project).unwrap();
            let text = std::fs::read_to_string(out.join(file)).unwrap();
            assert!(text.contains(&format!("{name} status")), "{text}");
            assert!(!text.contains("{{"), "{text}");
            assert!(build.contains(&format!("$MODULES/{name}.wasm")), "{build}");
        }
        assert!(new_module("p1", Lang::Python, &dir, &project).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
