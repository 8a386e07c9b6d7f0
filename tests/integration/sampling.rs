//! Frame sampling (`clips::sample`) against SciVid's own reader code:
//! `tests/fixtures/sampling/expected.json`, written by
//! `tests/fixtures/sampling_reference.py` running SciVid's `process_idx`
//! (TensorFlow) over a grid of video lengths, clip lengths and strides.

use crate::common::repo_root;
use scivid::data::clips;
use scivid::runtime::bindings::{
    ClipTarget, FrameSampling, FrameWindow, MediaSource, RandomWindow, SampledClip,
};
use std::collections::BTreeSet;

fn clip(sampling: FrameSampling) -> SampledClip {
    SampledClip {
        id: "c".into(),
        source: MediaSource::Video("v.mp4".into()),
        sampling,
        target: ClipTarget::Values(vec![]),
        group: String::new(),
        extras: vec![],
    }
}

fn expected() -> serde_json::Value {
    let path = repo_root().join("tests/fixtures/sampling/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn u32_of(v: &serde_json::Value) -> u32 {
    v.as_u64().unwrap() as u32
}

#[test]
fn start_middle_and_linspace_pick_what_scivids_reader_picks() {
    let e = expected();
    let fixed = e["fixed"].as_array().unwrap();
    assert!(fixed.len() > 400);
    for case in fixed {
        let (len, count, stride) = (
            case["vid_len"].as_u64().unwrap() as usize,
            u32_of(&case["num_frames"]),
            u32_of(&case["stride"]),
        );
        let window = FrameWindow { count, stride };
        let sampling = match case["sampling"].as_str().unwrap() {
            "clip" => FrameSampling::Start(window),
            "middle_clip" => FrameSampling::Middle(window),
            "linspace_clip" => FrameSampling::Linspace(count),
            other => panic!("{other}"),
        };
        let want: Vec<u32> = case["indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(u32_of)
            .collect();
        let got = clips::sample(&clip(sampling.clone()), || Ok(len), 0).unwrap();
        assert_eq!(got, want, "{sampling:?} of a {len}-frame source");
    }
}

#[test]
fn random_windows_start_where_scivids_reader_starts_them() {
    let e = expected();
    for case in e["random"].as_array().unwrap() {
        let len = case["vid_len"].as_u64().unwrap() as usize;
        let window = RandomWindow {
            count: u32_of(&case["num_frames"]),
            stride: u32_of(&case["stride"]),
            max_start: case["max_start"].as_u64().map(|m| m as u32),
        };
        let want: BTreeSet<u32> = case["starts"]
            .as_array()
            .unwrap()
            .iter()
            .map(u32_of)
            .collect();
        let c = clip(FrameSampling::Random(window));
        let mut starts = BTreeSet::new();
        for seed in 0..3000 {
            let picked = clips::sample(&c, || Ok(len), seed).unwrap();
            assert_eq!(picked.len(), window.count as usize);
            starts.insert(picked[0]);
        }
        assert_eq!(starts, want, "{window:?} of a {len}-frame source");
    }
    // Deterministic: a clip's draw depends on the seed and its id only.
    let c = clip(FrameSampling::Random(RandomWindow {
        count: 4,
        stride: 1,
        max_start: None,
    }));
    let draw = |seed| clips::sample(&c, || Ok(1000), seed).unwrap();
    assert_eq!(draw(7), draw(7));
    assert!((0..10).any(|s| draw(s) != draw(7)));
}

#[test]
fn own_indices_are_taken_as_given_without_asking_the_length() {
    let got = clips::sample(
        &clip(FrameSampling::Indices(vec![5, 1, 1])),
        || panic!("the length is not needed"),
        0,
    )
    .unwrap();
    assert_eq!(got, [5, 1, 1]);
}

#[test]
fn impossible_samplings_are_errors_naming_the_clip() {
    let window = |count, stride| FrameWindow { count, stride };
    for (sampling, len, says) in [
        (
            FrameSampling::Start(window(0, 1)),
            10,
            "a frame window of 0 frames",
        ),
        (FrameSampling::Middle(window(4, 0)), 10, "stride 0"),
        (FrameSampling::Linspace(0), 10, "a linspace of 0 frames"),
        // A hostile window size is refused before anything is allocated.
        (
            FrameSampling::Start(window(u32::MAX, 1)),
            10,
            "a frame window of 4294967295 frames",
        ),
        (
            FrameSampling::Linspace(u32::MAX),
            10,
            "a linspace of 4294967295 frames",
        ),
        (FrameSampling::Linspace(4), 0, "its source has no frames"),
        (FrameSampling::Indices(vec![]), 10, "no frame indices"),
    ] {
        let e = clips::sample(&clip(sampling.clone()), || Ok(len), 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("clip `c`") && e.contains(says),
            "{sampling:?}: {e}"
        );
    }
}
