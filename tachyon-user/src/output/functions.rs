//! Per-function statistics, shared by the `text` and `pstats` writers.
//!
//! A function is identified by `(file, name, first_line)`; the line being
//! executed does not matter. For each function:
//! * `self_samples`: samples in which it is the leaf (executing);
//! * `cum_samples`: samples whose stack contains it at least once (a
//!   recursive function is counted once per sample);
//! * callers: for each distinct function found directly below it in a
//!   stack, the samples with that adjacent pair (counted once per sample) and
//!   the samples in which the pair is the leaf and its caller.
//!
//! Times are estimated from the share of samples: a function seen in
//! `n` of `N` samples during a run of `D` seconds is given `n / N × D`
//! seconds. `N` counts every sample, including those with an empty stack.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::profile::Profile;

/// Identity of a function.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FuncKey {
    /// Source file (may be empty for markers and native frames).
    pub file: String,
    /// First line of the function (0 when unknown).
    pub first_line: u32,
    /// Qualified name.
    pub name: String,
}

/// Samples seen on one caller → callee edge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EdgeStats {
    /// Samples where the callee is the leaf, called from this caller.
    pub self_samples: u64,
    /// Samples with this caller directly below the callee (once per sample).
    pub cum_samples: u64,
}

/// Samples seen for one function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FuncStats {
    pub key: FuncKey,
    pub self_samples: u64,
    pub cum_samples: u64,
    /// Callers, by index into [`FunctionTable::funcs`].
    pub callers: BTreeMap<usize, EdgeStats>,
}

/// Every function of a profile, ordered by `(file, first_line, name)`.
#[derive(Clone, Debug, Default)]
pub(crate) struct FunctionTable {
    pub funcs: Vec<FuncStats>,
    /// All samples of the profile, empty stacks included.
    pub total_samples: u64,
    /// Duration of the run, in seconds.
    pub duration_s: f64,
}

impl FunctionTable {
    /// Aggregates `profile` per function.
    pub fn new(profile: &Profile) -> Self {
        // Function of each interned frame, in a first, unordered numbering.
        let mut index: HashMap<FuncKey, usize> = HashMap::new();
        let mut keys: Vec<FuncKey> = Vec::new();
        let frame_func: Vec<usize> = profile
            .frames
            .iter()
            .map(|f| {
                let key = FuncKey {
                    file: f.file.clone(),
                    first_line: f.first_line,
                    name: f.name.clone(),
                };
                *index.entry(key.clone()).or_insert_with(|| {
                    keys.push(key);
                    keys.len() - 1
                })
            })
            .collect();

        // Renumber in key order so the output does not depend on interning.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        let mut renumber = vec![0; keys.len()];
        for (new, &old) in order.iter().enumerate() {
            renumber[old] = new;
        }
        let mut funcs: Vec<FuncStats> = order
            .iter()
            .map(|&old| FuncStats {
                key: keys[old].clone(),
                ..Default::default()
            })
            .collect();

        let mut total_samples = 0;
        let mut seen = BTreeSet::new();
        let mut edges = BTreeSet::new();
        for (key, counts) in &profile.counts {
            let n = counts.samples;
            total_samples += n;
            let Some(stack) = profile.stacks.get(key.stack as usize) else {
                continue;
            };
            let stack: Vec<usize> = stack
                .iter()
                .filter_map(|&f| frame_func.get(f as usize).map(|&i| renumber[i]))
                .collect();
            let Some(&leaf) = stack.last() else {
                continue;
            };
            funcs[leaf].self_samples += n;
            seen.clear();
            seen.extend(stack.iter().copied());
            for &f in &seen {
                funcs[f].cum_samples += n;
            }
            edges.clear();
            edges.extend(stack.windows(2).map(|w| (w[0], w[1])));
            for &(caller, callee) in &edges {
                funcs[callee].callers.entry(caller).or_default().cum_samples += n;
            }
            if let [.., caller, callee] = stack[..] {
                funcs[callee]
                    .callers
                    .entry(caller)
                    .or_default()
                    .self_samples += n;
            }
        }

        Self {
            funcs,
            total_samples,
            duration_s: profile.meta.duration_ns as f64 / 1e9,
        }
    }

    /// Estimated seconds for `samples` samples: `samples / total × duration`.
    pub fn seconds(&self, samples: u64) -> f64 {
        if self.total_samples == 0 {
            0.0
        } else {
            samples as f64 / self.total_samples as f64 * self.duration_s
        }
    }

    /// `samples` as a percentage of all samples.
    pub fn percent(&self, samples: u64) -> f64 {
        if self.total_samples == 0 {
            0.0
        } else {
            samples as f64 * 100.0 / self.total_samples as f64
        }
    }

    /// The function named `name` in `file` (first match), for tests.
    #[cfg(test)]
    pub fn find(&self, file: &str, name: &str) -> Option<&FuncStats> {
        self.funcs
            .iter()
            .find(|f| f.key.file == file && f.key.name == name)
    }

    /// Index of the function named `name` in `file`, for tests.
    #[cfg(test)]
    pub fn position(&self, file: &str, name: &str) -> Option<usize> {
        self.funcs
            .iter()
            .position(|f| f.key.file == file && f.key.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::fixture_profile;

    #[test]
    fn fixture_functions() {
        let t = FunctionTable::new(&fixture_profile());
        assert_eq!(t.total_samples, 44);
        assert_eq!(t.duration_s, 2.0);

        let method = t
            .find("/srv/my app/models.py", "Outer.Inner.method")
            .unwrap();
        assert_eq!((method.self_samples, method.cum_samples), (10, 10));
        let main = t.find("/srv/my app/main.py", "main").unwrap();
        assert_eq!((main.self_samples, main.cum_samples), (5, 15));
        assert_eq!(
            method
                .callers
                .get(&t.position("/srv/my app/main.py", "main").unwrap()),
            Some(&EdgeStats {
                self_samples: 10,
                cum_samples: 10
            })
        );

        // 60 nested fib frames in 9 samples: counted once per sample.
        let fib = t.find("fib.py", "fib").unwrap();
        assert_eq!((fib.self_samples, fib.cum_samples), (9, 9));
        let fib_i = t.position("fib.py", "fib").unwrap();
        let main_i = t.position("fib.py", "main").unwrap();
        assert_eq!(fib.callers.len(), 2);
        assert_eq!(
            fib.callers[&fib_i],
            EdgeStats {
                self_samples: 9,
                cum_samples: 9
            }
        );
        assert_eq!(
            fib.callers[&main_i],
            EdgeStats {
                self_samples: 0,
                cum_samples: 9
            }
        );

        // 日本語 runs under <unknown> (pid 100) and job.py (pid 200).
        let nihongo = t.find("/srv/my app/日本語.py", "日本語").unwrap();
        assert_eq!((nihongo.self_samples, nihongo.cum_samples), (5, 5));
        assert_eq!(nihongo.callers.len(), 2);

        // The empty stack counts in the total but for no function.
        let self_sum: u64 = t.funcs.iter().map(|f| f.self_samples).sum();
        assert_eq!(self_sum, 43);
        assert!((t.seconds(10) - 10.0 / 44.0 * 2.0).abs() < 1e-12);
        assert!((t.percent(11) - 25.0).abs() < 1e-12);

        // Ordered by (file, first line, name).
        let keys: Vec<_> = t.funcs.iter().map(|f| f.key.clone()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn empty_profile() {
        let t = FunctionTable::new(&Profile::default());
        assert!(t.funcs.is_empty());
        assert_eq!(t.seconds(5), 0.0);
        assert_eq!(t.percent(5), 0.0);
    }
}
