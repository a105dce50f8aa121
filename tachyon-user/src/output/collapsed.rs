//! Brendan Gregg's folded ("collapsed") stacks.
//!
//! One line per distinct stack, frames root first separated by `;`, then a
//! space and the value:
//!
//! ```text
//! python3.12 (pid 4242);thread (tid 4243);main (app.py:10);work (app.py:20) 42
//! ```
//!
//! The root is the process label, then (with [`WriteOptions::threads`]) the
//! thread label, then the frame labels. Without `threads`, identical stacks of
//! different threads of one process are merged into one line.
//!
//! The value is the number of samples, except for `wall` profiles, where it is
//! the summed sample weight in microseconds (rounded; see
//! [`super::value_unit`]). Lines are ordered by pid, tid, then frame labels.
//! Labels never contain `;` or newlines (see [`super::sanitize_label`]).

use std::io::Write;

use super::stacks::{fold, folded_line};
use super::{OutputError, ProfileWriter, WriteOptions};
use crate::profile::Profile;

/// Writes folded stacks.
#[derive(Clone, Debug, Default)]
pub struct CollapsedWriter {
    options: WriteOptions,
}

impl CollapsedWriter {
    pub fn new(options: WriteOptions) -> Self {
        Self { options }
    }
}

impl ProfileWriter for CollapsedWriter {
    /// An empty profile gives an empty output.
    fn write(&self, profile: &Profile, out: &mut dyn Write) -> Result<(), OutputError> {
        for (labels, value) in fold(profile, self.options.roots()) {
            writeln!(out, "{}", folded_line(&labels, value))?;
        }
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{assert_golden, fixture_profile, opcodes_profile, small_profile};
    use crate::output::writer_for;
    use crate::output::OutputFormat;

    fn render_with(profile: &Profile, opts: &WriteOptions) -> String {
        let mut out = Vec::new();
        writer_for(OutputFormat::Collapsed, opts)
            .write(profile, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn render(profile: &Profile, threads: bool) -> String {
        let opts = WriteOptions {
            threads,
            ..Default::default()
        };
        render_with(profile, &opts)
    }

    #[test]
    fn golden_fixture() {
        let p = fixture_profile();
        assert_golden("fixture.collapsed", render(&p, false).as_bytes());
    }

    #[test]
    fn golden_opcodes() {
        let text = render(&opcodes_profile(), false);
        assert!(text.contains(
            "python3.12 (pid 300);<module> (/srv/loop.py:10:0) [CALL];\
             main (/srv/loop.py:9:8) [CALL_PY_EXACT_ARGS];\
             hot (/srv/loop.py:5:16) [BINARY_OP_ADD_INT] 17\n"
        ));
        // No column before 3.11; no instruction where the bytecode was unread.
        assert!(text.contains("work (old.py:2) [BINARY_ADD];<GC> 1\n"));
        assert!(text.contains(";hot (/srv/loop.py:4:13) 1\n"));
        assert_golden("fixture.opcodes.collapsed", text.as_bytes());
    }

    #[test]
    fn golden_fixture_threads() {
        let p = fixture_profile();
        assert_golden("fixture.threads.collapsed", render(&p, true).as_bytes());
    }

    #[test]
    fn totals_are_preserved() {
        let p = fixture_profile();
        for threads in [false, true] {
            let text = render(&p, threads);
            let total: u64 = text
                .lines()
                .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
                .sum();
            assert_eq!(total, p.total_samples());
        }
    }

    #[test]
    fn threads_merge_without_thread_frames() {
        let p = small_profile("cpu");
        assert_eq!(
            render(&p, false),
            "python3.12 (pid 4242);main (app.py:10);work (app.py:20) 3\n"
        );
        assert_eq!(
            render(&p, true),
            "python3.12 (pid 4242);thread (tid 4242);main (app.py:10);work (app.py:20) 2\n\
             python3.12 (pid 4242);thread worker (tid 4243);main (app.py:10);work (app.py:20) 1\n"
        );
    }

    #[test]
    fn wall_mode_uses_microseconds() {
        // small_profile gives each sample 1.5 ms = 1500 µs.
        let p = small_profile("wall");
        assert_eq!(
            render(&p, false),
            "python3.12 (pid 4242);main (app.py:10);work (app.py:20) 4500\n"
        );
    }

    #[test]
    fn empty_profile_gives_empty_output() {
        let p = Profile::default();
        assert_eq!(render(&p, true), "");
    }

    #[test]
    fn output_is_accepted_by_inferno() {
        let p = fixture_profile();
        for threads in [false, true] {
            let text = render(&p, threads);
            let mut svg = Vec::new();
            let mut opt = inferno::flamegraph::Options::default();
            opt.deterministic = true;
            inferno::flamegraph::from_lines(&mut opt, text.lines(), &mut svg).unwrap();
            let svg = String::from_utf8(svg).unwrap();
            let want = format!("total_samples=\"{}\"", p.total_samples());
            assert!(svg.contains(&want), "missing {want}");
            let all = format!("<title>all ({} samples, 100%)</title>", p.total_samples());
            assert!(svg.contains(&all), "missing {all}");
        }
    }

    fn render_grouped(profile: &Profile, group_by: crate::output::GroupBy) -> String {
        let opts = WriteOptions {
            group_by,
            ..Default::default()
        };
        render_with(profile, &opts)
    }

    #[test]
    fn container_frames_root_the_stacks_of_processes_in_containers() {
        use crate::output::GroupBy;
        use crate::profile::ProcessPlace;
        let mut p = fixture_profile();
        let proc = p.processes.get_mut(&100).expect("pid 100");
        proc.place = ProcessPlace {
            cgroup: format!("/docker/{}", "0123456789ab".repeat(5) + "cdef"),
            container_id: "0123456789ab".repeat(5) + "cdef",
            container_name: "web".into(),
            ns_pid: 1,
            ..Default::default()
        };
        let auto = render_grouped(&p, GroupBy::Auto);
        assert_eq!(auto, render_grouped(&p, GroupBy::Container));
        for line in auto.lines() {
            if line.contains("(pid 100)") {
                assert!(
                    line.starts_with("container web (0123456789ab);python3.12 (pid 100);"),
                    "{line}"
                );
            } else {
                assert!(line.starts_with("python3.8 (pid 200)"), "{line}");
            }
        }
        // `process` keeps today's roots; without a container, auto does too.
        let plain = render(&fixture_profile(), false);
        assert_eq!(render_grouped(&fixture_profile(), GroupBy::Auto), plain);
        assert_eq!(render_grouped(&p, GroupBy::Process), plain);
        // `none` merges the processes: no line names a process, and the
        // total is unchanged.
        let none = render_grouped(&p, GroupBy::None);
        assert!(none.lines().all(|l| !l.contains("(pid ")), "{none}");
        let total = |t: &str| -> u64 {
            t.lines()
                .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
                .sum()
        };
        assert_eq!(total(&none), total(&plain));
    }
}
