//! Video files through the host's FFmpeg reader, against what PyAV (another
//! FFmpeg build) decodes from the same files: `tests/fixtures/video`, written
//! by `tests/fixtures/video_fixtures.py`.
//!
//! A build without FFmpeg's development files has no video support; these
//! tests then say so and pass, unless SCIVID_REQUIRE_VIDEO=1 (CI sets it).

use crate::common::repo_root;
use scivid::data::npy;
use scivid::data::video::{self, VideoInfo};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/video")
}

/// Whether this build decodes video; fails when CI requires it.
fn video_available() -> bool {
    if !video::AVAILABLE {
        assert!(
            std::env::var("SCIVID_REQUIRE_VIDEO").as_deref() != Ok("1"),
            "SCIVID_REQUIRE_VIDEO=1 but this build has no video support (FFmpeg's development files missing?)"
        );
        eprintln!("skipped: this build has no video support");
    }
    video::AVAILABLE
}

fn load_u8(path: &std::path::Path) -> (Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let a = npy::parse(&bytes, &path.display().to_string()).unwrap();
    let v = a.as_f32().iter().map(|&x| x as u8).collect();
    (a.shape, v)
}

struct Case {
    file: String,
    lossless: bool,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            file: c["file"].as_str().unwrap().into(),
            lossless: c["lossless"].as_bool().unwrap(),
        })
        .collect()
}

/// The largest |a - b| over two byte slices, and the mean.
fn diff(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let max = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    let sum: u64 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    (max, sum as f64 / a.len() as f64)
}

#[test]
fn videos_written_by_ffmpeg_decode_as_pyav_decodes_them() {
    if !video_available() {
        return;
    }
    let cases = cases();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let path = fixtures().join(&case.file);
        let info = video::probe(&path).unwrap();
        assert_eq!(
            info,
            VideoInfo {
                width: 48,
                height: 32,
                frames: 20
            },
            "{}",
            case.file
        );
        let (shape, reference) = load_u8(&fixtures().join(format!("{}.frames.npy", case.file)));
        assert_eq!(shape, [20, 32, 48, 3]);
        let frame = 32 * 48 * 3;
        let all: Vec<u32> = (0..20).collect();
        let decoded = video::decode(&path, &info, &all).unwrap();
        let (max, mean) = diff(&decoded, &reference);
        eprintln!("{}: max |scivid - PyAV| {max}, mean {mean:.4}", case.file);
        // Lossless: bit-exact. Lossy: the same decoded YUV; only the RGB
        // conversion of two FFmpeg versions may round differently.
        if case.lossless {
            assert_eq!(max, 0, "{}", case.file);
        } else {
            assert!(
                max <= 2 && mean < 0.5,
                "{}: max {max} mean {mean}",
                case.file
            );
        }
        // A late clip (seeks to the keyframe before it), out of order and
        // with repeats, gives the same frames as decoding everything.
        let picks = [17u32, 13, 14, 19, 13];
        let late = video::decode(&path, &info, &picks).unwrap();
        for (k, &i) in picks.iter().enumerate() {
            let i = i as usize;
            assert_eq!(
                late[k * frame..(k + 1) * frame],
                decoded[i * frame..(i + 1) * frame],
                "{}: frame {i} decoded alone differs",
                case.file
            );
        }
    }
}

#[test]
fn broken_videos_are_errors_naming_the_file() {
    if !video_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = fixtures().join("h264.mp4");
    let info = video::probe(&good).unwrap();

    let e = video::decode(&good, &info, &[20]).unwrap_err().to_string();
    assert!(
        e.contains("h264.mp4") && e.contains("frame index 20 out of range (20 frames)"),
        "{e}"
    );

    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = video::probe(&truncated)
        .and_then(|i| video::decode(&truncated, &i, &(0..20).collect::<Vec<_>>()))
        .unwrap_err();
    let e = format!("{e:#}");
    assert!(e.contains("truncated.mp4"), "{e}");

    let not_video = dir.path().join("notes.mp4");
    std::fs::write(&not_video, b"these are not the frames you are looking for").unwrap();
    let e = format!("{:#}", video::probe(&not_video).unwrap_err());
    assert!(
        e.contains("notes.mp4") && e.contains("cannot open as a video"),
        "{e}"
    );

    let e = format!(
        "{:#}",
        video::probe(&dir.path().join("absent.mp4")).unwrap_err()
    );
    assert!(e.contains("absent.mp4"), "{e}");
}
