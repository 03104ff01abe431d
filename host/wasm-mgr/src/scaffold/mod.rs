//! `wasm-mgr new`: a module that loads as it is, in Rust, Python or JavaScript:
//! a Python or JavaScript file the host runs as plain source, or a project that
//! builds a component of its own (Rust always; the others with `--component`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The languages a module can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with the `wasm-mgr-sdk` crate (the `module` world).
    Rust,
    /// Python with `sdk/python`: `NAME.py` on the shared runtime, or built by
    /// componentize-py (the `module` world).
    Python,
    /// JavaScript with `sdk/js`: `NAME.js` on the shared runtime, or built by
    /// componentize-js (the `module-sync` world).
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

/// Writes module `name` in `lang`: as plain source `dir/name.py` or `dir/name.js`
/// (Python, JavaScript), or, for Rust and with `component`, a project in
/// `dir/name`. Returns what it wrote and the command that puts the module into
/// the modules folder `$MODULES` (building it first if it is a project).
pub fn new_module(
    name: &str,
    lang: Lang,
    component: bool,
    dir: &Path,
    project: &Path,
) -> Result<(PathBuf, String)> {
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
    let source = match lang {
        Lang::Python if !component => Some(("py", include_str!("python_module.py"))),
        Lang::Js if !component => Some(("js", include_str!("js_source.js"))),
        _ => None,
    };
    if let Some((ext, template)) = source {
        let file = dir.join(format!("{name}.{ext}"));
        if file.exists() {
            bail!("{} exists already", file.display());
        }
        std::fs::create_dir_all(dir)?;
        // (`about` first: it names `{{name}}` too; only the Python template has it.)
        let about = "`{{name}}`: a wasm-mgr module in Python, as plain source. The host runs \
                     it as it\nis from its modules folder, on its shared Python runtime; saving \
                     the file reloads\nthe module.";
        std::fs::write(&file, fill(template, &[("about", about), ("name", name)]))
            .with_context(|| format!("writing {}", file.display()))?;
        // Nothing to build: the host runs the file where it finds it.
        let put = format!("cp {} \"$MODULES/\"", file.display());
        return Ok((file, put));
    }
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
            let about = format!(
                "`{name}`: a wasm-mgr module in Python. Build it with\n\
                 `componentize-py -d {} -w module componentize -p {} -p . app -o {name}.wasm`\n\
                 and copy `{name}.wasm` into the host's modules folder.",
                wit.display(),
                sdk.join("python").display()
            );
            let mut pairs = pairs.to_vec();
            pairs.push(("about", &about));
            files.push((
                out.join("app.py"),
                fill(include_str!("python_module.py"), &pairs),
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
        assert!(new_module("Bad_Name", Lang::Rust, false, &dir, &project).is_err());
        for (name, lang, component, file, put) in [
            ("r1", Lang::Rust, false, "r1/src/lib.rs", "$MODULES/r1.wasm"),
            ("p1", Lang::Python, true, "p1/app.py", "$MODULES/p1.wasm"),
            ("j1", Lang::Js, true, "j1/app.js", "$MODULES/j1.wasm"),
            ("p2", Lang::Python, false, "p2.py", "cp "),
            ("j2", Lang::Js, false, "j2.js", "cp "),
        ] {
            let (_, put_command) = new_module(name, lang, component, &dir, &project).unwrap();
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(text.contains(&format!("{name} status")), "{text}");
            assert!(!text.contains("{{"), "{text}");
            assert!(put_command.contains(put), "{put_command}");
        }
        assert!(new_module("p1", Lang::Python, true, &dir, &project).is_err());
        assert!(new_module("p2", Lang::Python, false, &dir, &project).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
