//! What a client reads from `ceph.conf` and its keyring: the monitors'
//! addresses, the fsid, connection modes, and its key.
//!
//! Options are looked up as Ceph does: `[client.admin]`, then `[client]`, then
//! `[global]`; spaces, dashes and underscores in names are the same; `$cluster`,
//! `$type`, `$id` and `$name` are expanded.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use crate::crypto::CryptoKey;
use crate::types::{EntityName, Fsid, entity};

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfError(pub String);

/// A parsed `ceph.conf`.
pub struct CephConf {
    ini: Ini,
    name: EntityName,
    path: PathBuf,
}

fn normalize(key: &str) -> String {
    key.trim()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect::<String>()
        .to_ascii_lowercase()
}

fn parse_ini(text: &str) -> Result<Ini, String> {
    Ini::load_from_str_opt(
        text,
        ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..ParseOption::default()
        },
    )
    .map_err(|e| e.to_string())
}

impl CephConf {
    /// Read `path` for entity `name`.
    pub fn load(path: &Path, name: &EntityName) -> Result<CephConf, ConfError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfError(format!("reading {}: {e}", path.display())))?;
        let ini = parse_ini(&text).map_err(|e| ConfError(format!("{}: {e}", path.display())))?;
        Ok(CephConf {
            ini,
            name: name.clone(),
            path: path.to_path_buf(),
        })
    }

    /// An option's value, by Ceph's section order, metavariables expanded.
    pub fn get(&self, option: &str) -> Option<String> {
        let want = normalize(option);
        let name = self.name.to_string();
        let kind = entity::name(self.name.kind);
        for section in [name.as_str(), kind, "global"] {
            let props = self
                .ini
                .iter()
                .filter(|(s, _)| s.map(normalize).as_deref() == Some(&normalize(section)))
                .flat_map(|(_, p)| p.iter());
            // The last setting of an option wins, as in Ceph.
            if let Some(v) = props
                .filter(|(k, _)| normalize(k) == want)
                .map(|(_, v)| v)
                .next_back()
            {
                return Some(self.expand(v.trim()));
            }
        }
        None
    }

    fn expand(&self, v: &str) -> String {
        v.replace("$cluster", "ceph")
            .replace("$name", &self.name.to_string())
            .replace("$type", entity::name(self.name.kind))
            .replace("$id", &self.name.id)
    }

    /// The monitors' messenger v2 addresses (`mon host`; a bare address means
    /// port 3300).
    pub fn mon_addrs(&self) -> Result<Vec<SocketAddr>, ConfError> {
        let host = self
            .get("mon host")
            .ok_or_else(|| ConfError(format!("{} has no `mon host`", self.path.display())))?;
        parse_mon_host(&host)
    }

    /// The fsid, if configured.
    pub fn fsid(&self) -> Result<Option<Fsid>, ConfError> {
        self.get("fsid")
            .map(|f| f.parse().map_err(ConfError))
            .transpose()
    }

    /// The entity's key: from `key`, `keyfile`, or the first keyring that has it
    /// (`keyring`, or Ceph's default list), unless `keyring` overrides the path.
    pub fn key(&self, keyring: Option<&Path>) -> Result<CryptoKey, ConfError> {
        if keyring.is_none() {
            if let Some(k) = self.get("key") {
                return CryptoKey::from_base64(&k).map_err(ConfError);
            }
            if let Some(f) = self.get("keyfile") {
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| ConfError(format!("reading keyfile {f}: {e}")))?;
                return CryptoKey::from_base64(&text).map_err(ConfError);
            }
        }
        let list = match keyring {
            Some(p) => p.display().to_string(),
            None => self.get("keyring").unwrap_or_else(|| {
                self.expand(
                    "/etc/ceph/$cluster.$name.keyring,/etc/ceph/$cluster.keyring,/etc/ceph/keyring",
                )
            }),
        };
        let mut tried = Vec::new();
        for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match std::fs::read_to_string(p) {
                Ok(text) => return keyring_key(&text, &self.name, p),
                Err(e) => tried.push(format!("{p}: {e}")),
            }
        }
        Err(ConfError(format!(
            "no keyring for {}: {}",
            self.name,
            tried.join("; ")
        )))
    }

    /// The connection modes for `option` (`ms_mon_client_mode`,
    /// `ms_client_mode`), or Ceph's default.
    pub fn modes(&self, option: &str, default: &str) -> Result<Vec<u32>, ConfError> {
        let v = self.get(option).unwrap_or_else(|| default.to_string());
        crate::conn::mode::parse(&v).map_err(|e| ConfError(format!("{option}: {e}")))
    }
}

/// Read `name`'s key from a keyring's text.
pub fn keyring_key(text: &str, name: &EntityName, path: &str) -> Result<CryptoKey, ConfError> {
    let ini = parse_ini(text).map_err(|e| ConfError(format!("keyring {path}: {e}")))?;
    let want = name.to_string();
    let section = ini
        .iter()
        .find(|(s, _)| s.map(str::trim) == Some(want.as_str()))
        .map(|(_, p)| p)
        .ok_or_else(|| ConfError(format!("keyring {path} has no key for {want}")))?;
    let key = section
        .iter()
        .find(|(k, _)| normalize(k) == "key")
        .map(|(_, v)| v)
        .ok_or_else(|| ConfError(format!("keyring {path}: [{want}] has no `key`")))?;
    CryptoKey::from_base64(key).map_err(|e| ConfError(format!("keyring {path}, {want}: {e}")))
}

/// Parse `mon host`: `v2:1.2.3.4:3300`, `[v2:1.2.3.4:3300,v1:1.2.3.4:6789]`,
/// `1.2.3.4`, `host.example:3300`, separated by commas or spaces.
pub fn parse_mon_host(s: &str) -> Result<Vec<SocketAddr>, ConfError> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (item, tail) = if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| ConfError(format!("mon host {s:?}: unclosed [")))?;
            (&r[..end], &r[end + 1..])
        } else {
            let end = rest
                .find(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        // Inside brackets: one monitor's addresses; take its v2 one.
        let addrs: Vec<&str> = item.split(',').map(str::trim).collect();
        let pick = addrs
            .iter()
            .find(|a| a.starts_with("v2:"))
            .or_else(|| addrs.iter().find(|a| !a.starts_with("v1:")));
        if let Some(a) = pick {
            let a = a.trim_start_matches("v2:");
            let a = a.split('/').next().unwrap_or(a);
            if !a.is_empty() {
                out.push(resolve(a)?);
            }
        }
        rest = tail.trim_start_matches(|c: char| c == ',' || c == ';' || c.is_whitespace());
    }
    if out.is_empty() {
        return Err(ConfError(format!(
            "mon host {s:?} names no messenger v2 address"
        )));
    }
    Ok(out)
}

fn resolve(a: &str) -> Result<SocketAddr, ConfError> {
    if let Ok(sa) = a.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = a
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 3300));
    }
    let with_port = if a.contains(':') {
        a.to_string()
    } else {
        format!("{a}:3300")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| ConfError(format!("monitor address {a:?}: {e}")))?
        .next()
        .ok_or_else(|| ConfError(format!("monitor address {a:?} resolves to nothing")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mon_host_forms() {
        let got = parse_mon_host(
            "[v2:127.0.0.1:3300/0,v1:127.0.0.1:6789/0] v2:127.0.0.2:3301, 127.0.0.3",
        )
        .unwrap();
        let want: Vec<SocketAddr> = ["127.0.0.1:3300", "127.0.0.2:3301", "127.0.0.3:3300"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(got, want);
        assert!(parse_mon_host("v1:127.0.0.1:6789").is_err());
    }

    #[test]
    fn options_follow_ceph_section_order_and_spelling() {
        let dir = std::env::temp_dir().join(format!("conf-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ceph.conf");
        std::fs::write(
            &path,
            "[global]\nmon host = v2:127.0.0.1:1\nms-client-mode = crc\nlog file = /x/$name.log\n\
             [client]\nms_client_mode = secure\n",
        )
        .unwrap();
        let conf = CephConf::load(&path, &"client.admin".parse().unwrap()).unwrap();
        assert_eq!(conf.get("ms client mode").as_deref(), Some("secure"));
        assert_eq!(conf.get("log_file").as_deref(), Some("/x/client.admin.log"));
        assert_eq!(conf.mon_addrs().unwrap().len(), 1);
        let ring = "[client.admin]\n\tkey = AQBPkGNnAAAAABAAhUdYkO4G0MYMpyVBfH7Tog==\n\tcaps mon = \"allow *\"\n";
        assert!(keyring_key(ring, &"client.admin".parse().unwrap(), "k").is_ok());
        assert!(keyring_key(ring, &"client.other".parse().unwrap(), "k").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
