//! Prometheus text exposition (format 0.0.4): one `# HELP` and `# TYPE` per family,
//! then all of its samples, written straight into one pre-sized `String`.

use std::collections::HashSet;
use std::fmt::{self, Display, Write};

/// The content type of a page written by [`Page`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family's type, as the `# TYPE` line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A level that goes up and down.
    Gauge,
    /// A total that only grows.
    Counter,
    /// No type given, as ceph declares its metadata families.
    Untyped,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Untyped => "untyped",
        }
    }
}

/// A sample value; integers are written exactly, floats in Go's syntax.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// An unsigned integer (counts, bytes).
    Int(u64),
    /// A signed integer.
    Signed(i64),
    /// Any other number.
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Signed(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v.into())
    }
}

impl Display for Value {
    /// Integers as `12.0` (as ceph prints them), floats as their shortest round-trip
    /// form, and `NaN`, `+Inf`, `-Inf` as Prometheus spells them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Int(v) => write!(f, "{v}.0"),
            Value::Signed(v) => write!(f, "{v}.0"),
            Value::Float(v) if v.is_nan() => f.write_str("NaN"),
            Value::Float(v) if v == f64::INFINITY => f.write_str("+Inf"),
            Value::Float(v) if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            Value::Float(v) => write!(f, "{v:?}"),
        }
    }
}

/// A whole exposition page being written.
pub struct Page {
    out: String,
    /// Names of the families written so far: each may appear once.
    names: HashSet<String>,
    /// Each family's name and where its text starts, in page order.
    families: Vec<(String, usize)>,
}

impl Page {
    /// An empty page with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Page {
            out: String::with_capacity(capacity),
            names: HashSet::new(),
            families: Vec::new(),
        }
    }

    /// Whether a family of this name was already written.
    pub fn has_family(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Start a family: writes its `# HELP` and `# TYPE` lines. Write all its samples
    /// through the returned [`Family`] before starting the next one.
    ///
    /// Writing a name twice is a bug in the caller (promtool rejects such a page);
    /// debug builds panic on it.
    pub fn family<'p>(&'p mut self, name: &'p str, help: &str, kind: Kind) -> Family<'p> {
        let new = self.names.insert(name.to_owned());
        debug_assert!(new, "family {name} written twice");
        self.families.push((name.to_owned(), self.out.len()));
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        push_escaped(&mut self.out, help, false);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
        Family {
            out: &mut self.out,
            name,
        }
    }

    /// Append every family of `other` whose name this page does not have yet.
    pub fn append(&mut self, other: &Page) {
        for (i, (name, start)) in other.families.iter().enumerate() {
            let end = other.families.get(i + 1).map_or(other.out.len(), |f| f.1);
            if self.names.insert(name.clone()) {
                self.families.push((name.clone(), self.out.len()));
                self.out.push_str(&other.out[*start..end]);
            }
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// The finished page.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out.into_bytes()
    }
}

/// One family being written; see [`Page::family`].
pub struct Family<'p> {
    out: &'p mut String,
    name: &'p str,
}

impl Family<'_> {
    /// One sample: `name{label="value",...} value`. Label values are escaped.
    pub fn sample(&mut self, labels: &[(&str, &dyn Display)], value: impl Into<Value>) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                // Writing into a String cannot fail.
                let _ = write!(Escaper(self.out), "{value}");
                self.out.push('"');
            }
            self.out.push('}');
        }
        push_value(self.out, value.into());
    }

    /// One sample with a single string label, the common case (`ceph_daemon`), without
    /// going through `fmt`: the same text as [`Family::sample`].
    pub fn sample_one(&mut self, label: &str, label_value: &str, value: impl Into<Value>) {
        self.out.push_str(self.name);
        self.out.push('{');
        self.out.push_str(label);
        self.out.push_str("=\"");
        push_escaped(self.out, label_value, true);
        self.out.push_str("\"}");
        push_value(self.out, value.into());
    }
}

/// Append ` value\n`, integers without going through `fmt`.
fn push_value(out: &mut String, value: Value) {
    out.push(' ');
    match value {
        Value::Int(mut n) => {
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or("0"));
            out.push_str(".0\n");
        }
        other => {
            let _ = writeln!(out, "{other}");
        }
    }
}

/// Writes through to a `String`, escaping a label value on the way.
struct Escaper<'a>(&'a mut String);

impl Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s, true);
        Ok(())
    }
}

/// Append `s` escaped for the exposition format: backslash and newline always,
/// double quotes in label values only (HELP text keeps them).
fn push_escaped(out: &mut String, s: &str, quotes: bool) {
    let special = |b: u8| b == b'\\' || b == b'\n' || (quotes && b == b'"');
    if !s.bytes().any(special) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A ceph perf counter path or metric stem (`osd.op_r`, `prioritycache:full_pri0_bytes`)
/// as a metric name, the way ceph-mgr's prometheus module names it: `ceph_` prefix,
/// `.`, `/`, whitespace and `::` as `_`, `+` as `_plus`, a trailing `-` as `_minus`,
/// other `-` as `_`; any other character a metric name cannot hold also becomes `_`.
pub fn metric_name(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    out.push_str("ceph_");
    let trailing_minus = path.ends_with('-');
    let body = if trailing_minus {
        &path[..path.len() - 1]
    } else {
        path
    };
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ':' if chars.peek() == Some(&':') => {
                chars.next();
                out.push('_');
            }
            '+' => out.push_str("_plus"),
            c if c.is_ascii_alphanumeric() || c == '_' || c == ':' => out.push(c),
            _ => out.push('_'),
        }
    }
    if trailing_minus {
        out.push_str("_minus");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut Page)) -> String {
        let mut page = Page::with_capacity(64);
        f(&mut page);
        String::from_utf8(page.into_bytes()).unwrap()
    }

    #[test]
    fn writes_a_family_with_labels() {
        let text = render(|page| {
            let mut fam = page.family("ceph_osd_up", "OSD status up", Kind::Untyped);
            fam.sample(&[("ceph_daemon", &"osd.0")], true);
            fam.sample(&[("ceph_daemon", &format_args!("osd.{}", 3))], false);
        });
        assert_eq!(
            text,
            "# HELP ceph_osd_up OSD status up\n# TYPE ceph_osd_up untyped\n\
             ceph_osd_up{ceph_daemon=\"osd.0\"} 1.0\nceph_osd_up{ceph_daemon=\"osd.3\"} 0.0\n"
        );
    }

    #[test]
    fn writes_a_family_without_labels() {
        let text = render(|page| {
            page.family("ceph_health_status", "Cluster health status", Kind::Untyped)
                .sample(&[], 2u64);
        });
        assert!(text.ends_with("\nceph_health_status 2.0\n"), "{text}");
    }

    #[test]
    fn remembers_family_names() {
        let mut page = Page::with_capacity(64);
        page.family("a", "h", Kind::Gauge);
        assert!(page.has_family("a"));
        assert!(!page.has_family("b"));
    }

    #[test]
    fn writes_single_label_samples_as_the_general_path_does() {
        let fast = render(|page| {
            let mut fam = page.family("m", "h", Kind::Gauge);
            fam.sample_one("ceph_daemon", "osd.\"1\"", 0u64);
            fam.sample_one("ceph_daemon", "osd.2", 18446744073709551615u64);
            fam.sample_one("ceph_daemon", "osd.3", 0.5);
        });
        let general = render(|page| {
            let mut fam = page.family("m", "h", Kind::Gauge);
            fam.sample(&[("ceph_daemon", &"osd.\"1\"")], 0u64);
            fam.sample(&[("ceph_daemon", &"osd.2")], 18446744073709551615u64);
            fam.sample(&[("ceph_daemon", &"osd.3")], 0.5);
        });
        assert_eq!(fast, general);
        assert!(
            fast.contains("m{ceph_daemon=\"osd.2\"} 18446744073709551615.0\n"),
            "{fast}"
        );
    }

    #[test]
    fn appends_the_families_a_page_lacks() {
        let mut other = Page::with_capacity(64);
        other.family("a", "h", Kind::Gauge).sample(&[], 1u64);
        other.family("b", "h", Kind::Gauge).sample(&[], 2u64);
        let mut page = Page::with_capacity(64);
        page.family("b", "mine", Kind::Gauge).sample(&[], 3u64);
        page.append(&other);
        let text = String::from_utf8(page.into_bytes()).unwrap();
        assert_eq!(
            text,
            "# HELP b mine\n# TYPE b gauge\nb 3.0\n# HELP a h\n# TYPE a gauge\na 1.0\n"
        );
    }

    #[test]
    fn escapes_label_values() {
        let text = render(|page| {
            page.family("m", "h", Kind::Gauge)
                .sample(&[("a", &"x\\y\"z\nw"), ("b", &1)], 1u64);
        });
        assert!(
            text.contains("m{a=\"x\\\\y\\\"z\\nw\",b=\"1\"} 1.0\n"),
            "{text}"
        );
    }

    #[test]
    fn escapes_help_text_but_keeps_quotes() {
        let text = render(|page| {
            page.family("m", "a \"b\"\\c\nd", Kind::Counter);
        });
        assert!(text.starts_with("# HELP m a \"b\"\\\\c\\nd\n# TYPE m counter\n"));
    }

    #[test]
    fn formats_values_as_go_parses_them() {
        assert_eq!(Value::Int(3221225472).to_string(), "3221225472.0");
        assert_eq!(Value::Signed(-1).to_string(), "-1.0");
        assert_eq!(Value::Float(0.25).to_string(), "0.25");
        assert_eq!(Value::Float(1.0).to_string(), "1.0");
        assert_eq!(Value::Float(1e-7).to_string(), "1e-7");
        assert_eq!(Value::Float(f64::NAN).to_string(), "NaN");
        assert_eq!(Value::Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Value::Float(f64::NEG_INFINITY).to_string(), "-Inf");
    }

    #[test]
    fn names_metrics_as_ceph_does() {
        assert_eq!(metric_name("osd.op_r"), "ceph_osd_op_r");
        assert_eq!(
            metric_name("prioritycache:full.pri0_bytes"),
            "ceph_prioritycache:full_pri0_bytes"
        );
        assert_eq!(metric_name("a::b/c d"), "ceph_a_b_c_d");
        assert_eq!(metric_name("mds.x+y"), "ceph_mds_x_plusy");
        assert_eq!(metric_name("rgw.a-b-"), "ceph_rgw_a_b_minus");
        assert_eq!(metric_name("weird(1)"), "ceph_weird_1_");
    }
}
