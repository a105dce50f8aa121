//! Issue #14, deep stacks: two different 500-deep call chains of the same
//! depth (`a0 … a499` and `b0 … b499`, every function its own code object)
//! alternate every 3 ms. No sample may mix frames of the two chains (a
//! walker that kept a stale frame of one chain in a sample of the other
//! would show a stack that never existed), and ≥ 99% of the samples in
//! the leaf must hold the whole chain, in order.

use tachyon_e2e::*;

const DEPTH: usize = 500;

fn two_chains_for(label: &'static str) {
    let depth = DEPTH.to_string();
    let Some(p) = profile_workload(
        label,
        "two_chains.py",
        &["30", &depth, "3"],
        &["--duration", "3", "--mode", "cpu"],
    ) else {
        return;
    };
    let (mut leaf, mut complete) = (0u64, 0u64);
    let mut per_chain = [0u64; 2];
    for s in &p.stacks {
        let names: Vec<String> = s
            .frames
            .iter()
            .filter_map(|f| parse_frame(f))
            .map(|f| f.name)
            .collect();
        // The chain frames: `a<i>` / `b<i>`.
        let chain: Vec<(char, usize)> = names
            .iter()
            .filter_map(|n| {
                let mut c = n.chars();
                let letter = c.next().filter(|l| *l == 'a' || *l == 'b')?;
                Some((letter, c.as_str().parse().ok()?))
            })
            .collect();
        if let Some(&(first, _)) = chain.first() {
            assert!(
                chain.iter().all(|&(l, _)| l == first),
                "{label}: a sample mixes the two chains: {:?}",
                s.frames
            );
        }
        if names.last().map(String::as_str) != Some("spin") {
            continue;
        }
        leaf += s.count;
        // <module>, main, then the whole chain in order, then spin.
        let whole = chain.len() == DEPTH
            && chain.iter().enumerate().all(|(i, &(_, k))| k == i)
            && names.len() == DEPTH + 3
            && names[0] == "<module>"
            && names[1] == "main";
        if whole {
            complete += s.count;
            per_chain[(chain[0].0 == 'b') as usize] += s.count;
        }
    }
    assert!(
        leaf >= 300,
        "{label}: too few leaf samples: {leaf}\n{}",
        p.stderr
    );
    let ratio = complete as f64 / leaf as f64;
    assert!(
        ratio >= 0.99,
        "{label}: only {complete}/{leaf} leaf samples hold a whole chain\n{}",
        p.stderr
    );
    // Both chains ran about as long: each has a fair part of the samples.
    for (i, n) in per_chain.iter().enumerate() {
        assert!(
            *n * 4 >= complete,
            "{label}: chain {} has {n} of {complete} samples",
            ["a", "b"][i]
        );
    }
    let summary = parse_summary(&p.stderr);
    for counter in [
        "samples lost",
        "stacks truncated",
        "stacks with read errors",
        "frames unsymbolized",
    ] {
        assert_eq!(summary[counter], 0.0, "{label}: {counter}\n{}", p.stderr);
    }
}

for_every_interpreter!(two_chains_for);
