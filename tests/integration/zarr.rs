//! The Zarr reader against stores zarr-python wrote
//! (`tests/fixtures/zarr_fixtures.py`): every codec, layout and format the
//! reader claims, read back plane by plane; and corrupt or hostile stores.

use crate::common::repo_root;
use scivid::data::{npy, zarr::Array};

fn fixtures() -> std::path::PathBuf {
    repo_root().join("tests/fixtures/zarr")
}

#[test]
fn stores_written_by_zarr_python_read_back_exactly() {
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("cases.json")).unwrap()).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 16, "every case of the fixture script");
    for case in cases {
        let name = case.as_str().unwrap();
        let dir = fixtures().join(name);
        let a = Array::open(&dir.join("a"), name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let expected = npy::parse(&std::fs::read(dir.join("expected.npy")).unwrap(), name).unwrap();
        assert_eq!(a.shape, expected.shape, "{name}");
        let want = expected.as_f32();
        let (h, w) = (a.shape[2], a.shape[3]);
        for t in 0..a.shape[0] {
            for l in 0..a.shape[1] {
                let got = a
                    .read_plane(&[t, l])
                    .unwrap_or_else(|e| panic!("{name} [{t}, {l}]: {e:#}"));
                let at = (t * a.shape[1] + l) * h * w;
                for (i, (g, e)) in got.iter().zip(&want[at..at + h * w]).enumerate() {
                    assert!(
                        g == e || (g.is_nan() && e.is_nan()),
                        "{name} [{t}, {l}] element {i}: read {g}, zarr-python {e}"
                    );
                }
            }
        }
    }
}

/// Copy fixture `name` to a scratch directory, to damage it there.
fn scratch_copy(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(name);
    copy_dir(&fixtures().join(name), &dst);
    (tmp, dst)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_corrupt_or_truncated_chunk_is_an_error_naming_the_chunk() {
    for (name, chunk) in [
        ("v2_blosc_lz4_shuffle", "a/0.0.0.0"),
        ("v3_zstd", "a/c/0/0/0/0"),
        ("v2_zlib_fortran", "a/0.0.0.0"),
        ("v3_gzip_crc32c", "a/c/0/0/0/0"),
        // Shards: the index at the end (crc32c-checked), at the start.
        ("v3_sharded_zstd", "a/c/0/0/0/0"),
        ("v3_sharded_index_start_nan", "a/c/0/0/0/0"),
    ] {
        for damage in ["truncate", "flip"] {
            let (_tmp, dir) = scratch_copy(name);
            let path = dir.join(chunk);
            let mut bytes = std::fs::read(&path).unwrap();
            match damage {
                "truncate" => bytes.truncate(bytes.len() * 2 / 3),
                _ => {
                    let n = bytes.len();
                    for b in &mut bytes[n / 2..] {
                        *b ^= 0x5a;
                    }
                }
            }
            std::fs::write(&path, &bytes).unwrap();
            let a = Array::open(&dir.join("a"), name).unwrap();
            match a.read_plane(&[0, 0]) {
                Err(e) => {
                    let e = format!("{e:#}");
                    assert!(
                        e.contains(chunk.trim_start_matches("a/")),
                        "{name} {damage}: {e}"
                    );
                }
                // Flipped bits that still decode must at least change nothing
                // silently: zlib and gzip carry checksums, blosc and zstd
                // may not, so a clean decode is allowed only for those.
                Ok(_) => assert!(
                    damage == "flip" && (name.contains("blosc") || name.contains("zstd")),
                    "{name} {damage}: read without an error"
                ),
            }
        }
    }
}

#[test]
fn bad_metadata_is_refused_naming_the_file_and_the_field() {
    let (_tmp, dir) = scratch_copy("v2_zstd_u1");
    let meta = dir.join("a/.zarray");
    let text = std::fs::read_to_string(&meta).unwrap();
    let cases = [
        (text.replace("\"|u1\"", "\"<U8\""), "data type `<U8`"),
        (text.replace("\"zstd\"", "\"lzma\""), "compressor `lzma`"),
        (
            text.replace(
                "[\n    2,\n    1,\n    4,\n    5\n  ]",
                "[\n    2,\n    1\n  ]",
            ),
            "differ in rank",
        ),
        ("{ not json".to_string(), "not valid JSON"),
    ];
    for (bad, want) in cases {
        assert_ne!(bad, text, "the edit for `{want}` must apply");
        std::fs::write(&meta, &bad).unwrap();
        let e = format!(
            "{:#}",
            Array::open(&dir.join("a"), "v2_zstd_u1").unwrap_err()
        );
        assert!(e.contains(want) && e.contains(".zarray"), "{want}: {e}");
    }
}

/// The `zarr_chunk` fuzz seeds (numcodecs-encoded, `tests/fuzz/seeds_zarr.py`)
/// decode cleanly with the layout their first byte names, so fuzzing starts
/// deep inside every codec path.
#[test]
fn the_zarr_chunk_fuzz_seeds_decode() {
    let dir = repo_root().join("tests/fuzz/seeds/zarr_chunk");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let layouts = scivid::fuzzing::ZARR_CHUNK_LAYOUTS;
        let (meta, v3) = layouts[bytes[0] as usize % layouts.len()];
        let a = Array::from_metadata(meta.as_bytes(), v3).unwrap();
        let values = a.decode_chunk(Some(&bytes[1..]));
        assert!(
            values.is_ok(),
            "{}: {:#}",
            path.display(),
            values.unwrap_err()
        );
        n += 1;
    }
    assert!(n >= 10, "{n} seeds");
}

fn zarr_clip(store: &str, frames: Vec<u32>) -> scivid::runtime::bindings::SampledClip {
    use scivid::runtime::bindings::*;
    let ch = |level: u32| ZarrChannel {
        array: "a".into(),
        index: vec![level],
    };
    SampledClip {
        id: "w0".into(),
        source: MediaSource::Zarr(ZarrFrames {
            store: store.into(),
            channels: vec![ch(0), ch(1), ch(0)],
            values: ValueMap {
                clamp: None,
                shift: vec![1.0],
                scale: vec![2.0, 4.0, 8.0],
            },
        }),
        sampling: FrameSampling::Indices(frames),
        target: ClipTarget::Frames(TargetFrames {
            frames: vec![3, 4],
            minus_frame: Some(2),
            scale: vec![0.5],
        }),
        group: "w0".into(),
        extras: vec![],
    }
}

/// A clip from a Zarr store: frames [T, H, W, 3] with one array plane per
/// channel, mapped per channel; the target read by the host as residuals
/// on a frame. Checked against zarr-python's values.
#[test]
fn a_zarr_clip_decodes_its_channels_and_its_host_read_target() {
    for store in ["v3_zstd", "v3_sharded_zstd"] {
        zarr_clip_decodes(store);
    }
}

fn zarr_clip_decodes(store: &str) {
    use scivid::runtime::bindings::InputSpec;
    let root = fixtures();
    let x = npy::parse(
        &std::fs::read(root.join(store).join("expected.npy")).unwrap(),
        "x",
    )
    .unwrap();
    let x = x.as_f32();
    let at = |t: usize, l: usize, y: usize, w: usize| x[((t * 2 + l) * 7 + y) * 9 + w];
    let clip = zarr_clip(store, vec![1, 2]);
    let input = InputSpec {
        frames: 2,
        height: 7,
        width: 9,
        channels: 3,
    };
    let frames = scivid::data::clips::decode(&root, &clip, &input, 0).unwrap();
    assert_eq!(frames.len(), 2 * 7 * 9 * 3);
    for (k, t) in [1usize, 2].into_iter().enumerate() {
        for y in 0..7 {
            for w in 0..9 {
                let got = &frames[((k * 7 + y) * 9 + w) * 3..][..3];
                let want = [
                    (at(t, 0, y, w) - 1.0) / 2.0,
                    (at(t, 1, y, w) - 1.0) / 4.0,
                    (at(t, 0, y, w) - 1.0) / 8.0,
                ];
                for c in 0..3 {
                    assert!(
                        (got[c] - want[c]).abs() < 1e-5,
                        "{store}: t {t} ({y}, {w}) channel {c}"
                    );
                }
            }
        }
    }
    let target = scivid::data::clips::read_target(&root, &clip).unwrap();
    assert_eq!(target.len(), 2 * 3 * 7 * 9, "[frame, channel, h, w]");
    for (k, t) in [3usize, 4].into_iter().enumerate() {
        for (c, l) in [0usize, 1, 0].into_iter().enumerate() {
            for i in 0..63 {
                let (y, w) = (i / 9, i % 9);
                let want = (at(t, l, y, w) - at(2, l, y, w)) / 0.5;
                let got = target[((k * 3 + c) * 7 + y) * 9 + w];
                assert!(
                    (got - want).abs() < 1e-3,
                    "{store}: target t {t} channel {c} at {i}"
                );
            }
        }
    }
}

/// A Zarr clip may not leave the dataset directory: not by its store path,
/// not through a chunk that is a symlink pointing out.
#[test]
fn a_zarr_clip_cannot_read_outside_the_dataset_directory() {
    use scivid::runtime::bindings::InputSpec;
    let input = InputSpec {
        frames: 2,
        height: 7,
        width: 9,
        channels: 3,
    };
    let (tmp, store) = scratch_copy("v3_zstd");
    let root = tmp.path().join("dataset");
    std::fs::create_dir(&root).unwrap();
    std::fs::rename(&store, root.join("v3_zstd")).unwrap();
    let e = scivid::data::clips::decode(&root, &zarr_clip("../v3_zstd", vec![0, 1]), &input, 0);
    let e = format!("{:#}", e.unwrap_err());
    assert!(e.contains("without `..`"), "{e}");

    let secret = tmp.path().join("secret");
    std::fs::write(&secret, b"not yours").unwrap();
    let chunk = root.join("v3_zstd/a/c/0/0/0/0");
    std::fs::remove_file(&chunk).unwrap();
    std::os::unix::fs::symlink(&secret, &chunk).unwrap();
    let e = scivid::data::clips::decode(&root, &zarr_clip("v3_zstd", vec![0, 1]), &input, 0);
    let e = format!("{:#}", e.unwrap_err());
    assert!(e.contains("leads outside the dataset directory"), "{e}");
}
