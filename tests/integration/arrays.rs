//! Clip sources that are one array of a multi-array file: a member of a
//! NumPy `.npz`, a tensor of a safetensors file (both written here by hand
//! from their documented layouts).

use scivid::data::{clips, npy};
use scivid::runtime::bindings::{
    ArrayMember, ClipTarget, FrameSampling, InputSpec, MediaSource, SampledClip, ValueMap,
};
use std::io::Write;

const T: usize = 6;
const H: usize = 4;
const W: usize = 5;

fn values() -> Vec<f32> {
    (0..T * H * W).map(|i| i as f32 * 0.5 - 3.0).collect()
}

fn write_npz(path: &std::path::Path) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let f32s: Vec<u8> = values().iter().flat_map(|v| v.to_le_bytes()).collect();
    for (name, shape) in [
        ("frames.npy", vec![T, H, W, 1]),
        ("flat.npy", vec![T, H * W]),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(&npy::to_bytes(npy::Dtype::F32, &shape, &f32s))
            .unwrap();
    }
    zip.finish().unwrap();
}

fn write_safetensors(path: &std::path::Path) {
    let f16s: Vec<u8> = values()
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect();
    let header = format!(
        r#"{{"frames":{{"dtype":"F16","shape":[{T},{H},{W},1],"data_offsets":[0,{}]}}}}"#,
        f16s.len()
    );
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(&f16s);
    std::fs::write(path, bytes).unwrap();
}

fn clip(source: MediaSource) -> SampledClip {
    SampledClip {
        id: "c".into(),
        source,
        sampling: FrameSampling::Linspace(3),
        target: ClipTarget::Values(vec![]),
        group: String::new(),
        extras: vec![],
    }
}

fn member(file: &str, name: &str) -> ArrayMember {
    ArrayMember {
        file: file.into(),
        name: name.into(),
        values: ValueMap {
            clamp: None,
            shift: vec![1.0],
            scale: vec![2.0],
        },
    }
}

/// A dataset folder with `clip.npz` and `clip.safetensors`, and the input
/// spec of 3-frame clips of them.
fn dataset() -> (tempfile::TempDir, InputSpec) {
    let dir = tempfile::tempdir().unwrap();
    write_npz(&dir.path().join("clip.npz"));
    write_safetensors(&dir.path().join("clip.safetensors"));
    let input = InputSpec {
        frames: 3,
        height: H as u32,
        width: W as u32,
        channels: 3,
    };
    (dir, input)
}

#[test]
fn npz_and_safetensors_members_decode_to_the_frames_their_sampling_picks() {
    let (dir, input) = dataset();
    let x = values();
    for source in [
        MediaSource::Npz(member("clip.npz", "frames")),
        MediaSource::Safetensors(member("clip.safetensors", "frames")),
    ] {
        let c = clip(source.clone());
        let bytes = clips::read(dir.path(), &c, &input, 0).unwrap();
        // linspace(0, 5, 3) rounded: 0, 2 (2.5 to even), 5.
        assert_eq!(bytes.picked, [0, 2, 5], "{source:?}");
        let frames = bytes.decode(&c, &input).unwrap();
        assert_eq!(frames.len(), 3 * H * W * 3);
        for (k, t) in [0usize, 2, 5].into_iter().enumerate() {
            for i in 0..H * W {
                let want = (x[t * H * W + i] - 1.0) / 2.0;
                for ch in 0..3 {
                    let got = frames[(k * H * W + i) * 3 + ch];
                    // f16 storage keeps 11 significant bits.
                    assert!(
                        (got - want).abs() <= 1e-3 * want.abs().max(1.0),
                        "{source:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_missing_member_or_a_wrong_shape_is_an_error_naming_both() {
    let (dir, input) = dataset();
    let err = |source| {
        let c = clip(source);
        let r = clips::read(dir.path(), &c, &input, 0).and_then(|b| b.decode(&c, &input));
        format!("{:#}", r.unwrap_err())
    };
    let e = err(MediaSource::Npz(member("clip.npz", "video")));
    assert!(
        e.contains("clip.npz") && e.contains("no array `video`") && e.contains("`frames`"),
        "{e}"
    );
    let e = err(MediaSource::Safetensors(member(
        "clip.safetensors",
        "video",
    )));
    assert!(
        e.contains("clip.safetensors") && e.contains("no tensor `video`") && e.contains("`frames`"),
        "{e}"
    );
    let e = err(MediaSource::Npz(member("clip.npz", "flat")));
    assert!(
        e.contains("`flat`") && e.contains("is not [T, H, W, C]"),
        "{e}"
    );
    std::fs::write(dir.path().join("bad.npz"), b"PK\x03\x04 not really").unwrap();
    let e = err(MediaSource::Npz(member("bad.npz", "frames")));
    assert!(e.contains("bad.npz") && e.contains("not an .npz"), "{e}");
}
