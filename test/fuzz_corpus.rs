//! Replays every file of the checked-in fuzz corpus (fuzz/corpus/<target>/) through the same
//! entry points the cargo-fuzz targets drive (fuzz/entry.rs), on stable Rust: what a fuzz run
//! found once stays fixed. Long runs are `scripts/fuzz` (nightly, cargo-fuzz).

include!("../fuzz/entry.rs");

use std::path::Path;

#[test]
fn every_corpus_file_runs_without_panicking() {
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
            let replayed = std::panic::catch_unwind(|| entry::run(target, &data));
            assert!(replayed.is_ok(), "{target}: {} panicked", file.display());
        }
    }
}
