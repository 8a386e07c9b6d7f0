//! Video files through the host's FFmpeg reader, against what PyAV (another
//! FFmpeg build) decodes from the same files: `tests/fixtures/video`, written
//! by `tests/fixtures/video_fixtures.py`.
//!
//! A build without FFmpeg's development files has no video support; these
//! tests then say so and pass, unless SCIVID_REQUIRE_VIDEO=1 (CI sets it).

use crate::common::repo_root;
use scivid::data::video::{self, VideoInfo};
use scivid::data::{clips, npy};
use scivid::runtime::bindings::{
    ClipTarget, FrameSampling, FrameWindow, InputSpec, MediaSource, RandomWindow, SampledClip,
};
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

fn video_clip(file: &str, sampling: FrameSampling) -> SampledClip {
    SampledClip {
        id: format!("{file}/{sampling:?}"),
        source: MediaSource::Video(file.into()),
        sampling,
        target: ClipTarget::Values(vec![]),
        group: file.into(),
        extras: vec![],
    }
}

/// Each sampling mode picks its frames from the video's frame count, and
/// the decoded frames are the reference's frames at those indices.
#[test]
fn video_clips_decode_the_frames_their_sampling_picks() {
    if !video_available() {
        return;
    }
    let (_, reference) = load_u8(&fixtures().join("h264.mp4.frames.npy"));
    let frame = 32 * 48 * 3;
    let input = InputSpec {
        frames: 4,
        height: 32,
        width: 48,
        channels: 3,
    };
    let window = |count, stride| FrameWindow { count, stride };
    for (sampling, want) in [
        (FrameSampling::Linspace(4), vec![0u32, 6, 13, 19]),
        (FrameSampling::Start(window(4, 3)), vec![0, 3, 6, 9]),
        (FrameSampling::Middle(window(4, 2)), vec![6, 8, 11, 14]),
        // Past the last frame: the last frame; 40 picks resampled to 4.
        (FrameSampling::Start(window(40, 10)), vec![0, 19, 19, 19]),
        (FrameSampling::Indices(vec![19, 2, 2, 7]), vec![19, 2, 2, 7]),
    ] {
        let clip = video_clip("h264.mp4", sampling.clone());
        let bytes = clips::read(&fixtures(), &clip, &input, 0).unwrap();
        let frames = bytes.decode(&clip, &input).unwrap();
        for (k, &i) in want.iter().enumerate() {
            let i = i as usize;
            let expected: Vec<f32> = reference[i * frame..(i + 1) * frame]
                .iter()
                .map(|&v| v as f32 / 255.0)
                .collect();
            assert_eq!(
                frames[k * frame..(k + 1) * frame],
                expected[..],
                "{sampling:?}: frame {k} should be video frame {i}"
            );
        }
    }

    // A random window: the same for the same seed and clip, starting below
    // 20 - 4 * 2, `stride` apart; other seeds draw other windows.
    let random = |count, stride, max_start| {
        FrameSampling::Random(RandomWindow {
            count,
            stride,
            max_start,
        })
    };
    let clip = video_clip("h264.mp4", random(4, 2, None));
    let picked = |seed| {
        clips::read(&fixtures(), &clip, &input, seed)
            .unwrap()
            .picked
    };
    let first = picked(1);
    assert_eq!(first, picked(1));
    let starts: std::collections::BTreeSet<u32> = (0..40).map(|s| picked(s)[0]).collect();
    for s in 0..40 {
        let p = picked(s);
        assert_eq!(p.len(), 4);
        assert!(p.windows(2).all(|w| w[1] == w[0] + 2) && p[0] < 12, "{p:?}");
    }
    assert!(starts.len() >= 8, "40 seeds drew only starts {starts:?}");
    // With `max-start` 3, the first frame is one of the first three.
    let clip = video_clip("h264.mp4", random(4, 1, Some(3)));
    let starts: std::collections::BTreeSet<u32> = (0..40)
        .map(|s| clips::read(&fixtures(), &clip, &input, s).unwrap().picked[0])
        .collect();
    assert_eq!(starts, [0, 1, 2].into());
}

/// A third-party task (`tests/plugins/video-task`, built with the SDK)
/// gives clips of video files with host-side sampling; the host decodes,
/// extracts, trains, scores and caches them; a second run reads every clip's
/// features from the cache (keyed by the frames drawn).
#[test]
fn a_task_over_video_files_runs_end_to_end_and_caches_by_frames_drawn() {
    if !video_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for case in cases() {
        std::fs::copy(fixtures().join(&case.file), data.join(&case.file)).unwrap();
    }
    // The square's centre passes the middle of the frame after frame 9.
    let side = |last: u32| if last <= 9 { "left" } else { "right" };
    for (split, files) in [
        ("train", ["h264.mp4", "mpeg4.avi"]),
        ("test", ["ffv1.mkv", "h264.mp4"]),
    ] {
        let mut csv = String::from("id,file,sampling,label\n");
        for (n, file) in files.iter().enumerate() {
            for (k, (how, last)) in [
                ("start:8:1", 7),
                ("start:6:2", 10),
                ("middle:4:1", 11),
                ("linspace:8", 19),
                ("indices:0;4;8", 8),
                ("indices:12;16;19", 19),
            ]
            .iter()
            .enumerate()
            {
                csv += &format!("{split}{n}-{k},{file},{how},{}\n", side(*last));
            }
            csv += &format!("{split}{n}-r,{file},random:4:3,left\n");
        }
        std::fs::write(data.join(format!("{split}.csv")), csv).unwrap();
    }
    let mut spec = crate::common::quick_spec(&dir.path().join("out"), &["linear", "attention"], 30);
    spec.tasks = vec![scivid::pipeline::PluginRef::File(
        crate::common::test_plugin("video-task"),
    )];
    spec.data = Some(data.clone());
    spec.cache_dir = Some(dir.path().join("cache"));
    spec.bootstrap = 0;
    let r = scivid::pipeline::run(&spec).unwrap();
    let t = &r.tasks[0];
    assert!(t.error.is_none(), "{:?}", t.error);
    for head in &t.heads {
        assert!(head.error.is_none(), "{}: {:?}", head.head, head.error);
        assert_eq!(head.steps, 30);
    }
    // 28 clips; the six fixed-frame h264 clips of the test split show the
    // same frames as six of the train split: content-addressed, read back.
    let f = &t.features;
    assert_eq!(
        (f["computed"].as_u64(), f["cached"].as_u64()),
        (Some(22), Some(6)),
        "{f}"
    );

    spec.out = dir.path().join("again");
    let again = scivid::pipeline::run(&spec).unwrap();
    let f = &again.tasks[0].features;
    assert_eq!(
        (f["computed"].as_u64(), f["cached"].as_u64()),
        (Some(0), Some(28)),
        "{f}"
    );

    // Another seed draws other random windows: those clips miss the cache.
    spec.out = dir.path().join("seed1");
    spec.seed = 1;
    let other = scivid::pipeline::run(&spec).unwrap();
    let f = &other.tasks[0].features;
    let computed = f["computed"].as_u64().unwrap();
    assert!((1..=4).contains(&computed), "{f}");
}
