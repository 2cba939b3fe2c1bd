//! The metadata file of a checkpoint: a small, versioned text file naming the batch the checkpoint
//! follows, the graph's zero time and batch interval, each input's saved position, and each
//! operator's state file with its length and CRC-32. Its last line is the CRC-32 of everything
//! before it, so a torn or altered file is recognised and the checkpoint skipped.
//!
//! ```text
//! dstreams-checkpoint → 1
//! time → 12000
//! zero → 0
//! interval → 1000
//! input → input-0 → replay → next 0 5120 40 → at 11000 0 4608 36 → ...
//! operator → #0 → update_state_by_key(Utf8View -> Int64) → op-0.arrow → 20480 → 3e1f09a2
//! end → 9c0e55d1
//! ```
//!
//! Fields are separated by tabs (shown as `→`); a tab, newline or backslash inside a field is escaped (`\t`,
//! `\n`, `\\`).

use super::CheckpointError;
use crate::time::{Duration, Time};

/// The first line of every metadata file.
const MAGIC: &str = "dstreams-checkpoint";
/// The format version written; older versions are read, newer ones refused.
pub(crate) const VERSION: u32 = 1;

/// What an input saved: its stable id, its kind, and its own entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InputEntry {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) entries: Vec<String>,
}

/// An operator's state file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OperatorEntry {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) file: String,
    pub(crate) bytes: u64,
    pub(crate) crc: u32,
}

/// The contents of a metadata file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Metadata {
    /// The last batch whose effects the checkpoint holds; recovery resumes with the next one.
    pub(crate) time: Time,
    pub(crate) zero: Time,
    pub(crate) interval: Duration,
    pub(crate) inputs: Vec<InputEntry>,
    pub(crate) operators: Vec<OperatorEntry>,
}

fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(field: &str) -> Result<String, String> {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

impl Metadata {
    /// The file's bytes.
    pub(crate) fn encode(&self) -> String {
        let mut s = format!("{MAGIC}\t{VERSION}\n");
        s += &format!("time\t{}\n", self.time.as_millis());
        s += &format!("zero\t{}\n", self.zero.as_millis());
        s += &format!("interval\t{}\n", self.interval.as_millis());
        for i in &self.inputs {
            s += &format!("input\t{}\t{}", escape(&i.id), escape(&i.kind));
            for e in &i.entries {
                s += "\t";
                s += &escape(e);
            }
            s += "\n";
        }
        for o in &self.operators {
            s += &format!(
                "operator\t{}\t{}\t{}\t{}\t{:08x}\n",
                escape(&o.id),
                escape(&o.kind),
                escape(&o.file),
                o.bytes,
                o.crc
            );
        }
        let crc = crc32fast::hash(s.as_bytes());
        s += &format!("end\t{crc:08x}\n");
        s
    }

    /// Parses and verifies a metadata file.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Metadata, CheckpointError> {
        let bad = |reason: String| CheckpointError::Corrupt { reason };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .map(|i| i + 1)
            .ok_or_else(|| bad("truncated".into()))?;
        let (body, last) = text.split_at(body_end);
        let stored = last
            .trim_end_matches('\n')
            .strip_prefix("end\t")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad("no end line (truncated?)".into()))?;
        if crc32fast::hash(body.as_bytes()) != stored {
            return Err(bad("checksum mismatch".into()));
        }
        let mut lines = body.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        match header.as_slice() {
            [MAGIC, v] => {
                let v: u32 = v.parse().map_err(|_| bad(format!("bad version {v:?}")))?;
                if v > VERSION {
                    return Err(CheckpointError::NewerVersion {
                        found: v,
                        supported: VERSION,
                    });
                }
            }
            _ => return Err(bad("not a dstreams checkpoint".into())),
        }
        let mut time = None;
        let mut zero = None;
        let mut interval = None;
        let mut inputs = Vec::new();
        let mut operators = Vec::new();
        for line in lines {
            let fields = line
                .split('\t')
                .map(unescape)
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            let millis = |f: &[String]| -> Result<i64, CheckpointError> {
                f.first()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad(format!("bad line {line:?}")))
            };
            match fields.first().map(String::as_str) {
                Some("time") => time = Some(Time::from_millis(millis(&fields[1..])?)),
                Some("zero") => zero = Some(Time::from_millis(millis(&fields[1..])?)),
                Some("interval") => interval = Some(Duration::millis(millis(&fields[1..])?)),
                Some("input") if fields.len() >= 3 => inputs.push(InputEntry {
                    id: fields[1].clone(),
                    kind: fields[2].clone(),
                    entries: fields[3..].to_vec(),
                }),
                Some("operator") if fields.len() == 6 => operators.push(OperatorEntry {
                    id: fields[1].clone(),
                    kind: fields[2].clone(),
                    file: fields[3].clone(),
                    bytes: fields[4]
                        .parse()
                        .map_err(|_| bad(format!("bad length in {line:?}")))?,
                    crc: u32::from_str_radix(&fields[5], 16)
                        .map_err(|_| bad(format!("bad checksum in {line:?}")))?,
                }),
                _ => return Err(bad(format!("unexpected line {line:?}"))),
            }
        }
        match (time, zero, interval) {
            (Some(time), Some(zero), Some(interval)) => Ok(Metadata {
                time,
                zero,
                interval,
                inputs,
                operators,
            }),
            _ => Err(bad("time, zero or interval missing".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        Metadata {
            time: Time::from_millis(12_000),
            zero: Time::from_millis(0),
            interval: Duration::seconds(1),
            inputs: vec![InputEntry {
                id: "input-0".into(),
                kind: "files".into(),
                entries: vec!["a\tb".into(), "c\\d\ne".into(), String::new()],
            }],
            operators: vec![OperatorEntry {
                id: "#0".into(),
                kind: "update_state_by_key(Utf8View -> Int64)".into(),
                file: "op-0.arrow".into(),
                bytes: 20_480,
                crc: 0x3e1f_09a2,
            }],
        }
    }

    #[test]
    fn round_trips_with_escaped_fields() {
        let m = sample();
        assert_eq!(Metadata::decode(m.encode().as_bytes()).unwrap(), m);
    }

    #[test]
    fn detects_truncation_and_corruption() {
        let text = sample().encode();
        for cut in [0, 10, text.len() / 2, text.len() - 3] {
            assert!(
                Metadata::decode(&text.as_bytes()[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let flipped = text.replacen("12000", "12001", 1);
        assert!(matches!(
            Metadata::decode(flipped.as_bytes()),
            Err(CheckpointError::Corrupt { .. })
        ));
    }

    #[test]
    fn refuses_a_newer_version() {
        let body = format!("{MAGIC}\t{}\ntime\t1\nzero\t0\ninterval\t1\n", VERSION + 1);
        let text = format!("{body}end\t{:08x}\n", crc32fast::hash(body.as_bytes()));
        assert!(matches!(
            Metadata::decode(text.as_bytes()),
            Err(CheckpointError::NewerVersion { .. })
        ));
    }
}
