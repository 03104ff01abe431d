//! Ceph command signatures (`osd pool create name=pool,type=CephString ...`) and the
//! translation of an operator's words into ceph's JSON command dict.

use serde_json::{Map, Value};

/// The type of one command argument, as ceph's `CephArgtype` names it.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgType {
    /// Free text (`CephString`, `CephPgid`, `CephOsdName`, `CephPoolname`, ...).
    Text,
    /// `CephInt`.
    Int,
    /// `CephFloat`.
    Float,
    /// `CephBool`: a `--flag` with no value.
    Bool,
    /// `CephChoices` with the allowed words.
    Choices(Vec<String>),
}

/// One argument of a signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// Key in the JSON dict.
    pub name: String,
    /// Value type.
    pub kind: ArgType,
    /// Whether the command needs it.
    pub required: bool,
    /// Whether it takes every remaining word (`n=N`).
    pub many: bool,
}

/// A parsed command signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    /// Literal words (`osd`, `pool`, `create`).
    pub words: Vec<String>,
    /// Arguments after the words.
    pub args: Vec<Arg>,
}

impl Signature {
    /// Parses ceph's signature syntax.
    pub fn parse(cmd: &str) -> Result<Self, String> {
        let mut words = Vec::new();
        let mut args = Vec::new();
        for token in cmd.split_whitespace() {
            if !token.contains('=') {
                if !args.is_empty() {
                    return Err(format!("`{cmd}`: word `{token}` after an argument"));
                }
                words.push(token.to_string());
                continue;
            }
            args.push(parse_arg(cmd, token)?);
        }
        if words.is_empty() {
            return Err(format!("`{cmd}`: a command needs at least one word"));
        }
        Ok(Signature { words, args })
    }

    /// The command's prefix, as in the JSON dict (`osd pool create`).
    pub fn prefix(&self) -> String {
        self.words.join(" ")
    }

    /// Turns the words after the prefix into the JSON dict, or says why they don't fit.
    fn bind(&self, rest: &[String]) -> Result<Map<String, Value>, String> {
        let mut dict = Map::new();
        dict.insert("prefix".into(), Value::String(self.prefix()));
        let mut positional = Vec::new();
        let mut iter = rest.iter().peekable();
        while let Some(word) = iter.next() {
            let Some(flag) = word.strip_prefix("--") else {
                positional.push(word.clone());
                continue;
            };
            let (key, inline) = match flag.split_once('=') {
                Some((k, v)) => (k.replace('-', "_"), Some(v.to_string())),
                None => (flag.replace('-', "_"), None),
            };
            if key == "format" {
                let value = inline
                    .or_else(|| iter.next().cloned())
                    .ok_or("--format needs a value")?;
                dict.insert("format".into(), Value::String(value));
                continue;
            }
            let arg = self
                .args
                .iter()
                .find(|a| a.name == key)
                .ok_or_else(|| format!("unknown option --{flag}"))?;
            let value = match (&arg.kind, inline) {
                (ArgType::Bool, None) => Value::Bool(true),
                (_, Some(v)) => convert(arg, &v)?,
                (_, None) => {
                    let v = iter
                        .next()
                        .ok_or_else(|| format!("--{flag} needs a value"))?;
                    convert(arg, v)?
                }
            };
            dict.insert(arg.name.clone(), value);
        }
        let mut words = positional.into_iter();
        let open: Vec<&Arg> = self
            .args
            .iter()
            // A declared `format` (as Ceph's own modules declare it) takes only
            // `--format`, as the ceph CLI gives it.
            .filter(|a| {
                a.kind != ArgType::Bool && a.name != "format" && !dict.contains_key(&a.name)
            })
            .collect();
        for arg in open {
            if arg.many {
                let values: Vec<Value> = words
                    .by_ref()
                    .map(|w| convert(arg, &w))
                    .collect::<Result<_, _>>()?;
                if values.is_empty() && arg.required {
                    return Err(format!("missing required argument <{}>", arg.name));
                }
                if !values.is_empty() {
                    dict.insert(arg.name.clone(), Value::Array(values));
                }
                continue;
            }
            match words.next() {
                Some(w) => {
                    dict.insert(arg.name.clone(), convert(arg, &w)?);
                }
                None if arg.required => {
                    return Err(format!("missing required argument <{}>", arg.name));
                }
                None => {}
            }
        }
        if let Some(extra) = words.next() {
            return Err(format!("unexpected argument `{extra}`"));
        }
        Ok(dict)
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.prefix())?;
        for arg in &self.args {
            let body = match &arg.kind {
                ArgType::Choices(c) => c.join("|"),
                ArgType::Bool => format!("--{}", arg.name.replace('_', "-")),
                _ => format!("<{}>", arg.name),
            };
            let body = if arg.many { format!("{body}...") } else { body };
            if arg.required {
                write!(f, " {body}")?;
            } else {
                write!(f, " [{body}]")?;
            }
        }
        Ok(())
    }
}

fn parse_arg(cmd: &str, token: &str) -> Result<Arg, String> {
    let mut name = None;
    let mut kind = None;
    let mut required = true;
    let mut many = false;
    let mut choices = Vec::new();
    for field in token.split(',') {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| format!("`{cmd}`: `{field}` is not key=value"))?;
        match key {
            "name" => name = Some(value.to_string()),
            "type" => kind = Some(value.to_string()),
            // Ceph's modules write what Python prints: `req=False`.
            "req" => required = !value.eq_ignore_ascii_case("false"),
            "n" => many = value == "N",
            "strings" => choices = value.split('|').map(str::to_string).collect(),
            // Other descriptor keys (range, goodchars, allowdash) only refine validation.
            _ => {}
        }
    }
    let name = name.ok_or_else(|| format!("`{cmd}`: argument `{token}` has no name"))?;
    if name == "prefix" {
        return Err(format!(
            "`{cmd}`: `{name}` is reserved in ceph's command dict; name the argument otherwise"
        ));
    }
    let kind = match kind.as_deref() {
        Some("CephInt") => ArgType::Int,
        Some("CephFloat") => ArgType::Float,
        Some("CephBool") => ArgType::Bool,
        Some("CephChoices") if choices.is_empty() => {
            return Err(format!("`{cmd}`: CephChoices `{name}` has no strings"));
        }
        Some("CephChoices") => ArgType::Choices(choices),
        Some(_) => ArgType::Text,
        None => return Err(format!("`{cmd}`: argument `{name}` has no type")),
    };
    let required = required && kind != ArgType::Bool;
    Ok(Arg {
        name,
        kind,
        required,
        many,
    })
}

fn convert(arg: &Arg, word: &str) -> Result<Value, String> {
    match &arg.kind {
        ArgType::Text => Ok(Value::String(word.to_string())),
        ArgType::Int => word
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("<{}>: `{word}` is not an integer", arg.name)),
        ArgType::Float => word
            .parse::<f64>()
            .map(Value::from)
            .map_err(|_| format!("<{}>: `{word}` is not a number", arg.name)),
        ArgType::Bool => match word {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("<{}>: `{word}` is not true/false", arg.name)),
        },
        ArgType::Choices(choices) if choices.iter().any(|c| c == word) => {
            Ok(Value::String(word.to_string()))
        }
        ArgType::Choices(choices) => Err(format!(
            "<{}>: `{word}` is not one of {}",
            arg.name,
            choices.join("|")
        )),
    }
}

/// Matches an operator's words against signatures and builds ceph's JSON command
/// dict (`{"prefix": "osd down", "ids": ["3"]}`). The signature with the longest
/// matching prefix wins; `--format json` becomes `"format": "json"`.
pub fn words_to_command(sigs: &[Signature], words: &[String]) -> Result<Value, String> {
    let mut candidates: Vec<&Signature> = sigs
        .iter()
        .filter(|s| words.len() >= s.words.len() && words[..s.words.len()] == s.words[..])
        .collect();
    if candidates.is_empty() {
        return Err(format!("no command matches `{}`", words.join(" ")));
    }
    candidates.sort_by_key(|s| std::cmp::Reverse(s.words.len()));
    let mut first_error = None;
    for sig in candidates {
        match sig.bind(&words[sig.words.len()..]) {
            Ok(dict) => return Ok(Value::Object(dict)),
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{e}; usage: {sig}"));
            }
        }
    }
    Err(first_error.unwrap_or_default())
}

/// Finds the signature whose prefix equals the dict's `prefix`.
pub fn find_by_prefix<'a>(sigs: &'a [Signature], command: &Value) -> Option<&'a Signature> {
    let prefix = command.get("prefix")?.as_str()?;
    sigs.iter().find(|s| s.prefix() == prefix)
}

/// The commands a cluster (or the sim) takes, each with Ceph's permission: `r` for
/// one that only reads, `rw`, `w` or `x` for one that changes something.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandTable {
    signatures: Vec<Signature>,
    perms: Vec<String>,
}

impl CommandTable {
    /// A table from (signature, permission) pairs; signatures that do not parse are
    /// left out.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> CommandTable {
        let mut table = CommandTable::default();
        for (sig, perm) in pairs {
            if let Ok(sig) = Signature::parse(sig) {
                table.signatures.push(sig);
                table.perms.push(perm.to_string());
            }
        }
        table
    }

    /// A table from Ceph's `get_command_descriptions` answer, whose signatures are
    /// lists of literal words and argument descriptions (`{"name": "pool", "type":
    /// "CephPoolname"}`).
    pub fn from_descriptions(descriptions: &Value) -> CommandTable {
        let entries = descriptions.as_object().into_iter().flatten();
        let pairs: Vec<(String, String)> = entries
            .filter_map(|(_, d)| {
                let sig = d.get("sig")?.as_array()?;
                let tokens: Vec<String> = sig
                    .iter()
                    .map(|part| match part {
                        Value::String(word) => word.clone(),
                        Value::Object(arg) => {
                            // `name` first, as the signature syntax reads.
                            let mut kv = vec![format!(
                                "name={}",
                                arg.get("name").and_then(Value::as_str).unwrap_or("")
                            )];
                            kv.extend(arg.iter().filter(|(k, _)| *k != "name").map(
                                |(k, v)| match v {
                                    Value::String(s) => format!("{k}={s}"),
                                    other => format!("{k}={other}"),
                                },
                            ));
                            kv.join(",")
                        }
                        other => other.to_string(),
                    })
                    .collect();
                let perm = d.get("perm").and_then(Value::as_str).unwrap_or("rw");
                Some((tokens.join(" "), perm.to_string()))
            })
            .collect();
        CommandTable::from_pairs(pairs.iter().map(|(s, p)| (s.as_str(), p.as_str())))
    }

    /// Every signature, for turning words into a command.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// The permission of the command named by the dict's `prefix`, if the table has it.
    pub fn perm(&self, command: &Value) -> Option<&str> {
        let prefix = command.get("prefix")?.as_str()?;
        self.signatures
            .iter()
            .position(|s| s.prefix() == prefix)
            .map(|i| self.perms[i].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigs(list: &[&str]) -> Vec<Signature> {
        list.iter().map(|s| Signature::parse(s).unwrap()).collect()
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn binds_positional_many_and_flags() {
        let s = sigs(&[
            "osd down name=ids,type=CephString,n=N",
            "osd pool create name=pool,type=CephString name=pg_num,type=CephInt,req=false",
            "osd pool delete name=pool,type=CephString name=pool2,type=CephString,req=false name=yes_i_really_really_mean_it,type=CephBool,req=false",
            "osd status name=bucket,type=CephString,req=false",
        ]);
        let v = words_to_command(&s, &words("osd down 3 osd.4")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"prefix": "osd down", "ids": ["3", "osd.4"]})
        );
        let v = words_to_command(&s, &words("osd pool create p 64 --format json")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"prefix": "osd pool create", "pool": "p", "pg_num": 64, "format": "json"})
        );
        let v = words_to_command(
            &s,
            &words("osd pool delete p p --yes-i-really-really-mean-it"),
        )
        .unwrap();
        assert_eq!(v["yes_i_really_really_mean_it"], serde_json::json!(true));
        let v = words_to_command(&s, &words("osd status")).unwrap();
        assert_eq!(v, serde_json::json!({"prefix": "osd status"}));
    }

    #[test]
    fn table_from_ceph_descriptions() {
        let d = serde_json::json!({
            "cmd000": {"sig": ["pg", "stat"], "perm": "r"},
            "cmd001": {"sig": ["osd", "pool", "create",
                {"name": "pool", "type": "CephPoolname"},
                {"name": "pg_num", "range": "0", "req": "false", "type": "CephInt"}],
                "perm": "rw"},
            "cmd002": {"sig": ["osd", "out", {"n": "N", "name": "ids", "type": "CephString"}],
                "perm": "rw"}
        });
        let t = CommandTable::from_descriptions(&d);
        assert_eq!(t.signatures().len(), 3);
        assert_eq!(t.perm(&serde_json::json!({"prefix": "pg stat"})), Some("r"));
        assert_eq!(
            t.perm(&serde_json::json!({"prefix": "osd pool create"})),
            Some("rw")
        );
        assert_eq!(t.perm(&serde_json::json!({"prefix": "nope"})), None);
        let v = words_to_command(t.signatures(), &words("osd pool create p 8")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"prefix": "osd pool create", "pool": "p", "pg_num": 8})
        );
        let v = words_to_command(t.signatures(), &words("osd out 1 2")).unwrap();
        assert_eq!(v["ids"], serde_json::json!(["1", "2"]));
    }

    #[test]
    fn rejects_bad_words_with_usage() {
        let s = sigs(&[
            "osd set name=key,type=CephChoices,strings=noout|noup",
            "osd pool create name=pool,type=CephString name=pg_num,type=CephInt,req=false",
        ]);
        let e = words_to_command(&s, &words("osd set nofoo")).unwrap_err();
        assert!(e.contains("noout|noup"), "{e}");
        let e = words_to_command(&s, &words("osd pool create p lots")).unwrap_err();
        assert!(e.contains("not an integer"), "{e}");
        let e = words_to_command(&s, &words("osd pool create")).unwrap_err();
        assert!(e.contains("missing required argument <pool>"), "{e}");
        assert!(words_to_command(&s, &words("mon dump")).is_err());
        assert!(Signature::parse("name=x,type=CephString").is_err());
        assert!(Signature::parse("osd name=x").is_err());
        assert!(Signature::parse("osd name=prefix,type=CephString").is_err());
        // Ceph's own modules declare `format`; only `--format` fills it.
        let s = sigs(&["osd pool autoscale-status name=format,type=CephString,req=false"]);
        let v = words_to_command(&s, &words("osd pool autoscale-status --format json")).unwrap();
        assert_eq!(v["format"], "json");
        assert!(words_to_command(&s, &words("osd pool autoscale-status json")).is_err());
        let s = sigs(&["telemetry show name=channels,type=CephString,n=N,req=False"]);
        let v = words_to_command(&s, &words("telemetry show")).unwrap();
        assert_eq!(v, serde_json::json!({"prefix": "telemetry show"}));
        assert!(Signature::parse("ls name=prefix,type=CephString").is_err());
    }
}
