//! Augmentation ops against TensorFlow's (SciVid's transforms are TF ops):
//! `tests/fixtures/augment`, written by `tests/fixtures/augment_reference.py`;
//! and the random draws: SciVid's ranges, deterministic for a seed.

use crate::common::repo_root;
use rand::SeedableRng;
use scivid::data::augment::{self, Dims, Drawn};
use scivid::data::npy;
use scivid::runtime::bindings::{Augmentation, GaussianBlur, UpscaleCrop};

fn load(name: &str) -> Vec<f32> {
    let path = repo_root().join("tests/fixtures/augment").join(name);
    let bytes = std::fs::read(&path).unwrap();
    npy::parse(&bytes, name).unwrap().as_f32()
}

#[test]
fn upscale_crop_blur_and_flip_match_tensorflow() {
    let dims = Dims { t: 3, h: 12, w: 10 };
    let input = load("input.npy");
    let text =
        std::fs::read_to_string(repo_root().join("tests/fixtures/augment/cases.json")).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.as_array().unwrap().len(), 7);
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let f = |k: &str| case[k].as_f64().unwrap();
        let got = match case["op"].as_str().unwrap() {
            "upscale_crop" => augment::upscale_crop(
                &input,
                dims,
                f("scale") as f32,
                f("top") as usize,
                f("left") as usize,
            ),
            "blur" => {
                let size = 2 * (f("kernel_size") as usize / 2) + 1;
                augment::blur(&input, dims, f("sigma") as f32, size)
            }
            "flip" => augment::flip(&input, dims),
            other => panic!("{other}"),
        };
        let want = load(&format!("{name}.npy"));
        assert_eq!(got.len(), want.len(), "{name}");
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{name}: max |scivid - tf| = {worst}");
    }
}

#[test]
fn draws_stay_in_scivids_ranges_and_repeat_for_a_seed() {
    // CalMS21's training transforms.
    let calms21 = [
        Augmentation::UpscaleCrop(UpscaleCrop {
            min_scale: 1.0,
            max_scale: 2.0,
            probability: 1.0,
        }),
        Augmentation::GaussianBlur(GaussianBlur {
            sigma_min: 0.1,
            sigma_max: 2.0,
            kernel_size: 36,
            probability: 0.5,
        }),
        Augmentation::FlipLeftRight(0.5),
    ];
    augment::validate(&calms21).unwrap();
    let dims = Dims {
        t: 16,
        h: 224,
        w: 224,
    };
    let (mut blurred, mut flipped) = (0, 0);
    for seed in 0..400u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let drawn = augment::draw(&calms21, dims, &mut rng);
        let mut again = rand::rngs::StdRng::seed_from_u64(seed);
        assert_eq!(drawn, augment::draw(&calms21, dims, &mut again));
        let Drawn::UpscaleCrop { scale, top, left } = drawn[0] else {
            panic!("probability 1: always upscaled, {drawn:?}");
        };
        assert!((1.0..2.0).contains(&scale));
        let slack = (scale * 224.0) as usize - 224;
        assert!(top < slack.max(1) && left < slack.max(1), "{drawn:?}");
        for d in &drawn[1..] {
            match d {
                Drawn::Blur { sigma, size } => {
                    assert!((0.1..2.0).contains(sigma) && *size == 37, "{d:?}");
                    blurred += 1;
                }
                Drawn::Flip => flipped += 1,
                other => panic!("{other:?}"),
            }
        }
    }
    // Each of probability 0.5 over 400 clips.
    assert!((140..260).contains(&blurred), "{blurred}");
    assert!((140..260).contains(&flipped), "{flipped}");

    // Applied: the clip keeps its size; a flip twice is the identity.
    let frames: Vec<f32> = (0..2 * 8 * 6 * 3).map(|i| i as f32).collect();
    let d = Dims { t: 2, h: 8, w: 6 };
    let mut f = frames.clone();
    augment::apply(&mut f, d, &[Drawn::Flip, Drawn::Flip]);
    assert_eq!(f, frames);
    augment::apply(
        &mut f,
        d,
        &[Drawn::UpscaleCrop {
            scale: 1.5,
            top: 3,
            left: 2,
        }],
    );
    assert_eq!(f.len(), frames.len());
}

#[test]
fn impossible_augmentations_are_refused_by_name() {
    for (a, says) in [
        (
            Augmentation::UpscaleCrop(UpscaleCrop {
                min_scale: 0.5,
                max_scale: 1.2,
                probability: 1.0,
            }),
            "upscale-crop",
        ),
        (
            Augmentation::GaussianBlur(GaussianBlur {
                sigma_min: 0.0,
                sigma_max: 2.0,
                kernel_size: 9,
                probability: 0.5,
            }),
            "gaussian-blur",
        ),
        (
            Augmentation::FlipLeftRight(1.5),
            "flip-left-right: probability 1.5",
        ),
    ] {
        let e = augment::validate(&[a]).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
}
