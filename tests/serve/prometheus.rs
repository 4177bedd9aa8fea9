//! A small, strict parser of the Prometheus text format 0.0.4: what a
//! scraper needs to accept the exposition, checked line by line.
//!
//! Strict means: every sample belongs to a family declared by `# TYPE`
//! (histograms through `_bucket`, `_sum`, `_count`), label names are
//! identifiers and label values properly quoted and escaped, values are
//! floats, no series appears twice, and each histogram's buckets are
//! cumulative and end with `+Inf` equal to `_count`.

use std::collections::{BTreeMap, BTreeSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Clone)]
pub struct Exposition {
    /// Family name → declared type.
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
    pub text: String,
}

impl Exposition {
    /// The value of the series `name` whose labels include `labels`, if
    /// exactly one matches.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        match matching.as_slice() {
            [one] => Some(one.value),
            _ => None,
        }
    }

    /// The sum over every series `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Whether a family of this name is declared and has samples.
    pub fn has_family(&self, name: &str) -> bool {
        self.types.contains_key(name)
            && self
                .samples
                .iter()
                .any(|s| family_of(&s.name, &self.types) == Some(name))
    }
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(text: &str) -> bool {
    !text.contains(':') && is_name(text)
}

fn family_of<'a>(sample: &str, types: &'a BTreeMap<String, String>) -> Option<&'a str> {
    if let Some((name, _)) = types.get_key_value(sample) {
        return Some(name);
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix)
            && let Some((name, kind)) = types.get_key_value(base)
            && (kind == "histogram" || (kind == "summary" && suffix != "_bucket"))
        {
            return Some(name);
        }
    }
    None
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        other => other
            .parse::<f64>()
            .map_err(|_| format!("`{other}` is not a sample value")),
    }
}

/// `{a="x",b="y"}` → labels; returns the rest of the line after `}`.
fn parse_labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = text.strip_prefix('{').expect("called at `{`");
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without `=`")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("`{name}` is not a label name"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value is not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value".to_owned()),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label `{name}` twice"));
        }
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses `text` strictly.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let fail = |message: String| format!("line {}: {message}: `{line}`", number + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !is_name(name) {
                        return Err(fail("bad family name".into()));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(fail(format!("unknown type `{kind}`")));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(fail("family declared twice".into()));
                    }
                }
                (Some("HELP"), Some(name), _) if !is_name(name) => {
                    return Err(fail("bad family name".into()));
                }
                _ => {}
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| fail("no value".into()))?;
        let name = &line[..name_end];
        if !is_name(name) {
            return Err(fail("bad metric name".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(fail)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest.split_whitespace();
        let value =
            parse_value(fields.next().ok_or_else(|| fail("no value".into()))?).map_err(fail)?;
        if let Some(timestamp) = fields.next() {
            timestamp
                .parse::<i64>()
                .map_err(|_| fail("bad timestamp".into()))?;
        }
        if fields.next().is_some() {
            return Err(fail("trailing text".into()));
        }
        if family_of(name, &types).is_none() {
            return Err(fail(
                "sample of an undeclared family (no `# TYPE` before it)".into(),
            ));
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    let mut seen = BTreeSet::new();
    for sample in &samples {
        if !seen.insert((sample.name.clone(), sample.labels.clone())) {
            return Err(format!(
                "series {} {:?} appears twice",
                sample.name, sample.labels
            ));
        }
    }
    check_histograms(&types, &samples)?;
    Ok(Exposition {
        types,
        samples,
        text: text.to_owned(),
    })
}

fn check_histograms(types: &BTreeMap<String, String>, samples: &[Sample]) -> Result<(), String> {
    for (family, _) in types.iter().filter(|(_, kind)| *kind == "histogram") {
        // Series of the family, keyed by their labels without `le`.
        let mut buckets: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        let mut counts = BTreeMap::new();
        for sample in samples {
            if sample.name == format!("{family}_bucket") {
                let mut labels = sample.labels.clone();
                let le = labels
                    .remove("le")
                    .ok_or(format!("{family}_bucket without `le`"))?;
                buckets
                    .entry(labels)
                    .or_default()
                    .push((parse_value(&le)?, sample.value));
            } else if sample.name == format!("{family}_count") {
                counts.insert(sample.labels.clone(), sample.value);
            }
        }
        for (labels, series) in &buckets {
            let mut previous = (f64::NEG_INFINITY, 0.0);
            for &(le, count) in series {
                if le <= previous.0 || count < previous.1 {
                    return Err(format!("{family} {labels:?}: buckets not cumulative"));
                }
                previous = (le, count);
            }
            if previous.0 != f64::INFINITY || counts.get(labels) != Some(&previous.1) {
                return Err(format!(
                    "{family} {labels:?}: +Inf bucket missing or unequal to _count"
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn the_parser_rejects_what_a_scraper_would() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n";
    assert!(parse(good).is_ok());
    for bad in [
        "a_total 1\n",
        "# TYPE a counter\na{x=1} 1\n",
        "# TYPE a counter\na{x=\"1\"} one\n",
        "# TYPE a counter\na 1\na 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n",
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad}");
    }
}
