//! Replays every file of the checked-in fuzz corpus (fuzz/corpus/<target>/) through the same
//! entry points the cargo-fuzz targets drive (fuzz/entry.rs), on stable Rust: what a fuzz run
//! found once stays fixed. Each file runs under a time bound, so a hang (an archive reader
//! opening a FIFO, a loop) fails the replay instead of stalling it. Long runs are
//! `scripts/fuzz` (nightly, cargo-fuzz).

include!("../fuzz/entry.rs");

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// Far above any corpus file's time (milliseconds in a debug build), far below a stuck CI job.
const BOUND: Duration = Duration::from_secs(20);

/// `work` on its own thread: Ok if it returned within `bound`, Err saying whether it panicked or
/// did not finish (the thread of a hang is left behind; the test fails anyway).
fn bounded(bound: Duration, work: impl FnOnce() + Send + 'static) -> Result<(), &'static str> {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = done.send(outcome.is_ok());
    });
    match finished.recv_timeout(bound) {
        Ok(true) => Ok(()),
        Ok(false) => Err("panicked"),
        Err(_) => Err("did not finish in time (a hang)"),
    }
}

#[test]
fn every_corpus_file_runs_without_panicking_within_the_bound() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus");
    for target in entry::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| entry.expect("a readable directory entry").path())
            .collect();
        files.sort();
        assert!(
            files.len() >= 3,
            "{target}: the corpus has {} files, expected its seeds",
            files.len()
        );
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            if let Err(what) = bounded(BOUND, move || entry::run(target, &data)) {
                panic!("{target}: {} {what}", file.display());
            }
        }
    }
}

#[test]
fn the_bound_catches_a_hang_and_a_panic() {
    let hang = bounded(Duration::from_millis(100), || {
        std::thread::sleep(Duration::from_secs(3600))
    });
    assert_eq!(hang, Err("did not finish in time (a hang)"));
    assert_eq!(bounded(BOUND, || panic!("found")), Err("panicked"));
    assert_eq!(bounded(BOUND, || ()), Ok(()));
}
