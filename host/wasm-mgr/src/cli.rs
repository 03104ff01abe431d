//! The operator's side of the command line: talks to a running host's API.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// A client of one host's API.
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// A command's `(retval, stdout, stderr)`.
pub struct Output {
    /// ceph's return value: 0 or a negative errno.
    pub retval: i32,
    /// Standard output text.
    pub stdout: String,
    /// Standard error text.
    pub stderr: String,
}

impl Client {
    /// A client for the host at `base` (`http://127.0.0.1:7000`, or only
    /// `127.0.0.1:7000`), sending `token` as its bearer token when there is one.
    pub fn new(base: &str, token: Option<String>) -> Self {
        let base = base.trim_end_matches('/');
        let base = if base.contains("://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        Client {
            base,
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the wasm-mgr host at {}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().await.context("reading the host's answer")?;
        if !status.is_success() {
            let msg = body["error"].as_str().unwrap_or("request failed");
            let usage = body["usage"]
                .as_array()
                .map(|u| {
                    u.iter()
                        .filter_map(Value::as_str)
                        .map(|s| format!("\n  {s}"))
                        .collect::<String>()
                })
                .unwrap_or_default();
            if usage.is_empty() {
                bail!("{msg} (HTTP {status})");
            }
            bail!("{msg}\ncommands:{usage}");
        }
        Ok(body)
    }

    /// `GET /api/modules`.
    pub async fn modules(&self) -> Result<Value> {
        self.send(self.http.get(format!("{}/api/modules", self.base)))
            .await
    }

    /// `GET /api/status`: this host's role and the active host.
    pub async fn status(&self) -> Result<Value> {
        self.send(self.http.get(format!("{}/api/status", self.base)))
            .await
    }

    /// `POST /api/step-down`: the active host hands the lease over.
    pub async fn step_down(&self) -> Result<String> {
        let v = self
            .send(self.http.post(format!("{}/api/step-down", self.base)))
            .await?;
        Ok(v["result"].as_str().unwrap_or("done").to_string())
    }

    /// `POST /api/modules/<name>/<op>` (`enable`, `disable`, `reload`): what happened.
    pub async fn module_op(&self, name: &str, op: &str) -> Result<String> {
        let url = format!("{}/api/modules/{name}/{op}", self.base);
        let v = self.send(self.http.post(url)).await?;
        Ok(v["result"].as_str().unwrap_or("done").to_string())
    }

    /// `POST /api/modules/<name>/option`: sets (or with `None` clears) an option.
    pub async fn set_option(
        &self,
        name: &str,
        option: &str,
        value: Option<&str>,
    ) -> Result<String> {
        let url = format!("{}/api/modules/{name}/option", self.base);
        let v = self
            .send(
                self.http
                    .post(url)
                    .json(&json!({ "name": option, "value": value })),
            )
            .await?;
        Ok(v["result"].as_str().unwrap_or("done").to_string())
    }

    /// Runs a module command given as words.
    pub async fn module_command(
        &self,
        module: &str,
        words: &[String],
        inbuf: &str,
    ) -> Result<Output> {
        let url = format!("{}/api/modules/{module}/command", self.base);
        let v = self
            .send(
                self.http
                    .post(url)
                    .json(&json!({ "words": words, "inbuf": inbuf })),
            )
            .await?;
        Ok(output(&v))
    }

    /// Runs a cluster command given as words (`osd down 3`).
    pub async fn ceph(&self, words: &[String]) -> Result<Output> {
        let url = format!("{}/api/ceph", self.base);
        let v = self
            .send(self.http.post(url).json(&json!({ "words": words })))
            .await?;
        Ok(output(&v))
    }
}

/// Takes `-i FILE` (or `--in-file FILE`) out of a command's words, as the ceph
/// CLI reads its input file wherever it is given.
pub fn take_input(words: Vec<String>) -> Result<(Vec<String>, Option<std::path::PathBuf>)> {
    let mut rest = Vec::with_capacity(words.len());
    let mut input = None;
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        if word == "-i" || word == "--in-file" {
            match words.next() {
                Some(path) => input = Some(std::path::PathBuf::from(path)),
                None => anyhow::bail!("{word} needs a file (or - for standard input)"),
            }
        } else if let Some(path) = word.strip_prefix("--in-file=") {
            input = Some(std::path::PathBuf::from(path));
        } else {
            rest.push(word);
        }
    }
    Ok((rest, input))
}

/// A command's input: the file's text, or standard input for `-`.
pub fn read_input(path: &std::path::Path) -> Result<String> {
    use anyhow::Context as _;
    if path == std::path::Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading the input from standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("reading the input file {}", path.display()))
}

fn output(v: &Value) -> Output {
    Output {
        retval: v["retval"].as_i64().unwrap_or(-5) as i32,
        stdout: v["stdout"].as_str().unwrap_or("").to_string(),
        stderr: v["stderr"].as_str().unwrap_or("").to_string(),
    }
}

/// `wasm-mgr status` as text: role, lease and the active host.
pub fn status_text(status: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut lines = vec![format!(
        "{} is {}",
        text(&status["id"]),
        text(&status["role"])
    )];
    if status["lease"] != "none" {
        lines.push(format!(
            "lease: {} ({} ms)",
            text(&status["lease"]),
            status["lease_ms"]
        ));
    }
    let active = &status["active"];
    if active.is_object() {
        let secs = |k: &str| active[k].as_u64().unwrap_or(0) as f64 / 1000.0;
        lines.push(format!(
            "active: {} at {}, for {:.1} s, lease renewed {:.1} s ago",
            text(&active["id"]),
            text(&active["api"]),
            secs("held_ms"),
            secs("lease_age_ms")
        ));
    } else if status["role"] == "standby" {
        lines.push("active: none known".into());
    }
    if let Some(e) = status["last_error"].as_str() {
        lines.push(format!("last lease error: {e}"));
    }
    lines.join("\n")
}

/// `module ls` as a table.
pub fn module_table(rows: &Value) -> String {
    let mut lines = vec![[
        "NAME".to_string(),
        "VERSION".into(),
        "STATE".into(),
        "RESTARTS".into(),
        "LAST ERROR".into(),
    ]];
    for r in rows.as_array().into_iter().flatten() {
        let text = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let mut err = text("last_error");
        if err.len() > 100 {
            err.truncate(97);
            err.push_str("...");
        }
        lines.push([
            text("name"),
            text("version"),
            text("state"),
            r["restarts"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            err.replace('\n', " "),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    lines
        .iter()
        .map(|l| {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_a_url_or_an_address() {
        assert_eq!(
            Client::new("127.0.0.1:7000", None).base,
            "http://127.0.0.1:7000"
        );
        assert_eq!(Client::new("http://h:1/", None).base, "http://h:1");
        assert_eq!(Client::new("https://h:1", None).base, "https://h:1");
    }

    #[test]
    fn the_input_file_is_taken_from_anywhere_in_the_words() {
        let words = |w: &str| w.split(' ').map(String::from).collect::<Vec<_>>();
        let (rest, input) = take_input(words("crash post -i report.json")).unwrap();
        assert_eq!(rest, words("crash post"));
        assert_eq!(input.as_deref(), Some(std::path::Path::new("report.json")));
        let (rest, input) = take_input(words("--in-file=- crash post")).unwrap();
        assert_eq!(rest, words("crash post"));
        assert_eq!(input.as_deref(), Some(std::path::Path::new("-")));
        let (rest, input) = take_input(words("crash ls")).unwrap();
        assert_eq!((rest, input), (words("crash ls"), None));
        assert!(take_input(words("crash post -i")).is_err());
    }
}
