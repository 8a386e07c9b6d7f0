//! Fuzz smoke: every parser of untrusted bytes (`.npy` clips, checkpoints
//! as safetensors, PyTorch zip/pickle and `.npz`, PNG frames, the Wasm
//! version section) is fed thousands of seeded mutations of a valid file
//! (truncations, flipped bytes, overwritten spans, spliced duplicates) and
//! must answer `Ok` or a clear `Err`: never a panic, never a hang.

use crate::common::repo_root;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use scivid::runtime::bindings::{ClipTarget, FrameSampling, InputSpec, MediaSource, SampledClip};
use std::path::Path;

/// `n` mutated copies of `valid` (deterministic for a seed).
fn mutations(valid: &[u8], n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut b = valid.to_vec();
            match rng.random_range(0..5) {
                0 => b.truncate(rng.random_range(0..valid.len().max(1))),
                1 => {
                    for _ in 0..rng.random_range(1..9) {
                        let i = rng.random_range(0..b.len().max(1));
                        if let Some(x) = b.get_mut(i) {
                            *x ^= 1 << rng.random_range(0..8);
                        }
                    }
                }
                2 => {
                    // Overwrite a span near the start, where headers live.
                    let at = rng.random_range(0..b.len().clamp(1, 512));
                    for x in b.iter_mut().skip(at).take(rng.random_range(1..16)) {
                        *x = rng.random();
                    }
                }
                3 => {
                    let i = rng.random_range(0..b.len().max(1));
                    let j = rng.random_range(i..b.len().max(i + 1)).min(b.len());
                    let chunk = b[i..j].to_vec();
                    b.splice(i..i, chunk);
                }
                _ => {
                    // Extreme values at a random spot: lengths, counts, offsets.
                    let i = rng.random_range(0..b.len().saturating_sub(8).max(1));
                    let v: [u8; 8] = [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0];
                    for (k, x) in v.iter().enumerate() {
                        if let Some(y) = b.get_mut(i + k) {
                            *y = *x;
                        }
                    }
                }
            }
            b
        })
        .collect()
}

/// Run `parse` (true: accepted) on every mutation; a panic fails the test
/// naming the case, and so does a parser that rejects almost nothing (the
/// mutations would not be reaching its checks).
fn survive(what: &str, valid: &[u8], n: usize, parse: impl Fn(&[u8]) -> bool) {
    assert!(parse(valid), "{what}: the valid input is refused");
    let (mut panics, mut first, mut refused) = (0, None, 0);
    for (i, m) in mutations(valid, n, 0x5c1d).iter().enumerate() {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(m))) {
            Ok(true) => {}
            Ok(false) => refused += 1,
            Err(_) => {
                panics += 1;
                first.get_or_insert(i);
            }
        }
    }
    assert_eq!(
        panics, 0,
        "{what}: {panics} of {n} mutated inputs panicked (first: case {first:?})"
    );
    assert!(
        refused * 10 >= n,
        "{what}: only {refused} of {n} mutations refused"
    );
}

#[test]
fn npy_parser_survives_mutations() {
    use scivid::data::npy::{Dtype, parse, to_bytes};
    let u8s = to_bytes(Dtype::U8, &[2, 4, 4, 3], &[7u8; 96]);
    let f32s: Vec<u8> = (0..24).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let f32s = to_bytes(Dtype::F32, &[2, 3, 4], &f32s);
    for (what, valid) in [("u8 npy", u8s), ("f32 npy", f32s)] {
        survive(what, &valid, 3000, |b| {
            parse(b, "fuzz.npy").map(|a| a.as_f32().len()).is_ok()
        });
    }
}

#[test]
fn checkpoint_loaders_survive_mutations() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "videomae/weights.safetensors",
        "videomae/weights.bin",
        "dinov2/weights.npz",
    ] {
        let valid = std::fs::read(repo_root().join("tests/fixtures/backbones").join(file)).unwrap();
        let ext = Path::new(file).extension().unwrap().to_str().unwrap();
        let path = dir.path().join(format!("mutated.{ext}"));
        survive(file, &valid, 600, |b| {
            std::fs::write(&path, b).unwrap();
            scivid::backbone::weights::Weights::load(&path)
                .map(|w| w.shapes().count())
                .is_ok()
        });
    }
}

#[test]
fn png_frames_survive_mutations() {
    let dir = tempfile::tempdir().unwrap();
    let mut png = vec![];
    let img = image::RgbImage::from_fn(12, 10, |x, y| image::Rgb([x as u8 * 20, y as u8 * 25, 99]));
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let clip = SampledClip {
        id: "c".into(),
        source: MediaSource::ImageFiles(vec!["f.png".into()]),
        sampling: FrameSampling::Indices(vec![0, 0]),
        target: ClipTarget::Values(vec![]),
        group: "g".into(),
        extras: vec![],
    };
    let input = InputSpec {
        frames: 2,
        height: 8,
        width: 8,
        channels: 3,
    };
    survive("png frame", &png, 1000, |b| {
        std::fs::write(dir.path().join("f.png"), b).unwrap();
        scivid::data::clips::decode(dir.path(), &clip, &input, 0).is_ok()
    });
}

#[test]
fn wasm_version_section_reader_survives_mutations() {
    use scivid::runtime::sdk_version::{read_sdk_version, wasm_kind};
    let valid = scivid::runtime::builtin::get("linear").unwrap();
    survive("wasm version section", valid, 1000, |b| {
        let _ = wasm_kind(b);
        matches!(read_sdk_version(b), Ok(Some(_)))
    });
    // Whole mutated components through the loader (validation, then compile).
    let rt = scivid::runtime::Runtime::new(None).unwrap();
    survive("component", valid, 60, |b| {
        rt.load_bytes("fuzz.wasm", b).is_ok()
    });
}

/// The cargo-fuzz targets' seeds and committed corpora (`tests/fuzz`),
/// replayed through the same entry points (`scivid::fuzzing`): every input
/// that fuzzing kept, including any that once found a bug, still passes.
#[test]
fn fuzz_corpora_replay_cleanly() {
    let fuzz = repo_root().join("tests/fuzz");
    for (name, target) in scivid::fuzzing::TARGETS {
        assert!(
            fuzz.join(format!("fuzz_targets/{name}.rs")).exists(),
            "`{name}` has no cargo-fuzz target"
        );
        let mut inputs = 0;
        for dir in ["seeds", "corpus"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&bytes));
                assert!(outcome.is_ok(), "{name}: {} panics", path.display());
                inputs += 1;
            }
        }
        assert!(inputs > 0, "{name}: no seeds or corpus");
    }
}

/// Found by the `frame` fuzzer: a 671-byte JPEG whose header claims
/// 4608 x 32774 pixels made the host allocate over 2 GB before resizing.
/// The frame reader now reads the size first and refuses it.
#[test]
fn a_frame_claiming_a_huge_size_is_refused_before_decoding() {
    let path = repo_root().join("tests/fuzz/corpus/frame/oom-huge-jpeg-header");
    let bytes = std::fs::read(&path).unwrap();
    let err = scivid::data::clips::decode_frame(&bytes, "huge.jpg", 8, 8).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("huge.jpg") && msg.contains("4608 x 32774") && msg.contains("16 megapixels"),
        "{msg}"
    );
}

/// Found by the `zarr_metadata` fuzzer: `.zarray` metadata with a shape of
/// 555555555092 x 9 in chunks of 4 x 5 made the plane's chunk list ask for
/// 139 billion entries. Such an array is refused when opened.
#[test]
fn a_zarr_array_whose_plane_spans_billions_of_chunks_is_refused() {
    let path = repo_root().join("tests/fuzz/corpus/zarr_metadata/oom-huge-plane");
    let bytes = std::fs::read(&path).unwrap();
    let e = scivid::data::zarr::Array::from_metadata(&bytes[1..], false).unwrap_err();
    let e = format!("{e:#}");
    assert!(e.contains("555555555092 x 9"), "{e}");
}
