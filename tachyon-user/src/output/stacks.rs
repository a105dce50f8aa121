//! Folding a [`Profile`] into labelled stacks with one value each; shared by
//! the collapsed and flamegraph writers (and any future folded-stack format).

use std::collections::BTreeMap;

use crate::profile::{Counts, Profile};

/// What a folded stack's value counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueUnit {
    /// Number of samples (mode `cpu`, and any mode without weights).
    Samples,
    /// Microseconds of wall-clock weight (mode `wall`).
    Microseconds,
}

impl ValueUnit {
    /// The unit's name as shown in flamegraph tooltips.
    pub fn count_name(self) -> &'static str {
        match self {
            ValueUnit::Samples => "samples",
            ValueUnit::Microseconds => "µs",
        }
    }
}

/// The unit stack values are given in: microseconds of weight for a `wall`
/// profile that has weights, otherwise sample counts.
pub fn value_unit(profile: &Profile) -> ValueUnit {
    if profile.meta.mode == "wall" && profile.total_weight_ns() > 0 {
        ValueUnit::Microseconds
    } else {
        ValueUnit::Samples
    }
}

/// Makes a frame label safe for folded stacks: `;` (the frame separator)
/// becomes `:`, control characters (newlines, tabs) become spaces, an empty
/// label becomes `<unnamed>`, and a label ending in a space and a number
/// (which a folded-stack parser would take for a count) gets that space
/// replaced by `_`.
pub fn sanitize_label(label: &str) -> String {
    let mut s: String = label
        .chars()
        .map(|c| match c {
            ';' => ':',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    if s.trim().is_empty() {
        return "<unnamed>".to_string();
    }
    if let Some(space) = s.rfind(' ') {
        let tail = &s[space + 1..];
        let numeric = !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit() || c == '.');
        if numeric {
            s.replace_range(space..space + 1, "_");
        }
    }
    s
}

/// One folded stack: labels root first (container, process, thread when
/// asked, then the frames).
pub(crate) type FoldedStack = Vec<String>;

/// What roots a stack above its frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    /// `container` when any process of the profile ran in a container,
    /// else `process`.
    #[default]
    Auto,
    /// A container frame above the process frame of each process that ran
    /// in one.
    Container,
    /// A process frame only.
    Process,
    /// No container or process frame: the same stack of every process
    /// merges.
    None,
}

impl GroupBy {
    /// `Auto` decided for `profile`.
    pub fn resolve(self, profile: &Profile) -> GroupBy {
        match self {
            GroupBy::Auto if profile.processes.values().any(|p| p.place.in_container()) => {
                GroupBy::Container
            }
            GroupBy::Auto => GroupBy::Process,
            g => g,
        }
    }
}

/// The frames above a stack's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roots {
    /// A thread frame under the process frame.
    pub threads: bool,
    pub group_by: GroupBy,
}

/// Folds the profile into `(labels, value)` pairs, ordered by pid, tid (when
/// `threads`) and then labels. Stacks whose value rounds to zero are dropped.
pub(crate) fn fold(profile: &Profile, roots: Roots) -> Vec<(FoldedStack, u64)> {
    let unit = value_unit(profile);
    let group_by = roots.group_by.resolve(profile);
    let frame_labels: Vec<String> = profile
        .frames
        .iter()
        .map(|f| sanitize_label(&f.label()))
        .collect();

    // Values are summed in the native unit (samples or ns) and converted at
    // the end, so merging threads does not accumulate rounding errors.
    let mut merged: BTreeMap<(Option<u32>, Option<u32>, FoldedStack), u64> = BTreeMap::new();
    for (key, counts) in &profile.counts {
        let mut labels = Vec::new();
        let place = profile.processes.get(&key.pid).map(|p| &p.place);
        if group_by == GroupBy::Container {
            if let Some(place) = place.filter(|p| p.in_container()) {
                labels.push(sanitize_label(&place.container_label()));
            }
        }
        if group_by != GroupBy::None {
            labels.push(sanitize_label(&profile.process_label(key.pid)));
        }
        if roots.threads {
            labels.push(sanitize_label(&profile.thread_label(key.pid, key.tid)));
        }
        if let Some(stack) = profile.stacks.get(key.stack as usize) {
            labels.extend(stack.iter().map(|&f| {
                frame_labels
                    .get(f as usize)
                    .cloned()
                    .unwrap_or_else(|| "<bad frame>".to_string())
            }));
        }
        let pid = (group_by != GroupBy::None).then_some(key.pid);
        let tid = roots.threads.then_some(key.tid);
        *merged.entry((pid, tid, labels)).or_default() += raw_value(unit, counts);
    }

    merged
        .into_iter()
        .map(|((_, _, labels), raw)| (labels, scale(unit, raw)))
        .filter(|&(_, v)| v > 0)
        .collect()
}

fn raw_value(unit: ValueUnit, counts: &Counts) -> u64 {
    match unit {
        ValueUnit::Samples => counts.samples,
        ValueUnit::Microseconds => counts.weight_ns,
    }
}

fn scale(unit: ValueUnit, raw: u64) -> u64 {
    match unit {
        ValueUnit::Samples => raw,
        ValueUnit::Microseconds => raw.saturating_add(500) / 1000,
    }
}

/// Formats one folded line (without the newline): `a;b;c 42`.
pub(crate) fn folded_line(labels: &[String], value: u64) -> String {
    let mut line = labels.join(";");
    line.push(' ');
    line.push_str(&value.to_string());
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_label("a;b"), "a:b");
        assert_eq!(sanitize_label("a\nb\r\tc"), "a b  c");
        assert_eq!(sanitize_label(""), "<unnamed>");
        assert_eq!(sanitize_label("foo 12"), "foo_12");
        assert_eq!(sanitize_label("foo 1.5"), "foo_1.5");
        assert_eq!(sanitize_label("main (app.py:10)"), "main (app.py:10)");
        assert_eq!(sanitize_label("größe"), "größe");
    }
}
