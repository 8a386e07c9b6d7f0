//! The ArrayRecord / SequenceExample reader (`sdk/records`) against shards
//! Google's writer produced (`tests/fixtures/array_record_fixtures.py`,
//! the PyPI `array-record` package): every compression and chunking the
//! writer offers, read back record by record; truncated and corrupt shards.

use crate::common::repo_root;
use scivid_records::{ArrayRecord, SequenceExample};
use sha2::{Digest, Sha256};

fn codecs() -> std::path::PathBuf {
    repo_root().join("tests/fixtures/array-record/codecs")
}

#[test]
fn shards_written_by_array_record_read_back_exactly() {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(codecs().join("expected.json")).unwrap()).unwrap();
    let records = expected["records"].as_array().unwrap();
    let options = expected["options"].as_object().unwrap();
    assert_eq!(options.len(), 5);
    for name in options.keys() {
        let path = codecs().join(format!("{name}.array_record"));
        let mut shard = ArrayRecord::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(shard.len(), records.len() as u64, "{name}");
        // Out of order on purpose: random access through the index.
        for i in (0..records.len()).rev() {
            let want = &records[i];
            let bytes = shard
                .get(i as u64)
                .unwrap_or_else(|e| panic!("{name} {i}: {e}"));
            let ex = SequenceExample::parse(&bytes).unwrap();
            let labels: Vec<i64> = want["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(
                ex.context("clip/label/index").unwrap().ints().unwrap(),
                labels
            );
            let floats: Vec<f32> = want["floats"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(ex.context("pressure").unwrap().floats().unwrap(), floats);
            let id = &ex.context("clip/id").unwrap().bytes().unwrap()[0];
            assert_eq!(id, want["id"].as_str().unwrap().as_bytes());
            let frames = ex.list("image/encoded").unwrap();
            let want_frames = want["frames"].as_array().unwrap();
            assert_eq!(frames.len(), want_frames.len(), "{name} {i}");
            for (f, w) in frames.iter().zip(want_frames) {
                let b = &f.bytes().unwrap()[0];
                assert_eq!(b.len() as u64, w[0].as_u64().unwrap());
                assert_eq!(
                    scivid::files::hex(&Sha256::digest(b)),
                    w[1].as_str().unwrap()
                );
            }
        }
        assert!(shard.get(records.len() as u64).is_err());
    }
}

#[test]
fn a_truncated_or_corrupt_shard_is_an_error_not_a_panic() {
    let bytes = std::fs::read(codecs().join("zstd_group7.array_record")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shard.array_record");
    // Truncated anywhere: refused when opened (the index is at the end).
    for cut in [0, 100, 65_536, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let e = ArrayRecord::open(&path).err().map(|e| e.0);
        assert!(e.is_some(), "cut at {cut} opened");
    }
    // A flipped byte in a record's chunk: an error naming the record.
    let mut bad = bytes.clone();
    bad[70_000] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    let mut shard = ArrayRecord::open(&path).unwrap();
    let errors: Vec<String> = (0..shard.len())
        .filter_map(|i| shard.get(i).err().map(|e| e.0))
        .collect();
    assert!(!errors.is_empty(), "the corruption went unnoticed");
    assert!(
        errors
            .iter()
            .all(|e| e.starts_with("record ") && e.contains("hash mismatch")),
        "{errors:?}"
    );
}
