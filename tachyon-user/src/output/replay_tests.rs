//! `tachyon-bpf replay` must write exactly what the run would have written:
//! for every registered format, profile → format X equals profile →
//! recording → read → format X, byte for byte.

use super::fixture::{fixture_profile, small_profile, TestDir};
use super::{
    read_recording, write_atomically, writer_for, OutputError, OutputFormat, WriteOptions,
};
use crate::profile::Profile;

fn write(profile: &Profile, format: OutputFormat, options: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    writer_for(format, options)
        .write(profile, &mut out)
        .unwrap();
    out
}

fn replayed(profile: &Profile, dir: &TestDir) -> Profile {
    let path = dir.path().join("run.tbr");
    write_atomically(&path, |out| {
        writer_for(OutputFormat::Recording, &WriteOptions::default()).write(profile, out)
    })
    .unwrap();
    read_recording(&path).unwrap()
}

#[test]
fn replay_is_byte_identical_for_every_format() {
    let dir = TestDir::new("replay-identical");
    for (name, profile) in [
        ("fixture", fixture_profile()),
        ("wall", small_profile("wall")),
    ] {
        let back = replayed(&profile, &dir);
        for &format in OutputFormat::ALL {
            for threads in [false, true] {
                let options = WriteOptions {
                    threads,
                    ..Default::default()
                };
                let direct = write(&profile, format, &options);
                assert!(!direct.is_empty(), "{name}: {format} wrote nothing");
                assert!(
                    direct == write(&back, format, &options),
                    "{name}: {format} (threads: {threads}) differs after replay"
                );
            }
        }
    }
}

#[test]
fn replay_of_an_empty_profile_behaves_like_the_run() {
    let dir = TestDir::new("replay-empty");
    let profile = Profile::default();
    let back = replayed(&profile, &dir);
    for &format in OutputFormat::ALL {
        let options = WriteOptions::default();
        let mut a = Vec::new();
        let mut b = Vec::new();
        let ra = writer_for(format, &options).write(&profile, &mut a);
        let rb = writer_for(format, &options).write(&back, &mut b);
        match (ra, rb) {
            (Ok(()), Ok(())) => assert_eq!(a, b, "{format}"),
            (Err(OutputError::Empty), Err(OutputError::Empty)) => {}
            (ra, rb) => panic!("{format}: run {ra:?}, replay {rb:?}"),
        }
    }
}
