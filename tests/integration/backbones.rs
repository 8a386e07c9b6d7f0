//! Backbones against their reference implementations: Hugging Face
//! transformers' VideoMAE and DINOv2 (with and without registers) on small
//! random configurations (tests/fixtures/backbone_reference.py), loaded
//! through the same checkpoint loader users use; every hidden state must
//! match to 1e-4 relative. Plus the loader's errors and the layer/time rules.

use crate::common::repo_root;
use burn::tensor::{Device, Tensor, TensorData};
use scivid::backbone::dinov2::{Dinov2, Dinov2Config};
use scivid::backbone::fourds::{FourDs, FourDsConfig};
use scivid::backbone::siglip::{Siglip, SiglipConfig};
use scivid::backbone::videomae::{VideoMae, VideoMaeConfig};
use scivid::backbone::vjepa::{VJepa, VJepaConfig};
use scivid::backbone::{Backbone, load_weights, vit};
use scivid::data::npy;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/backbones").join(name)
}

fn array<const D: usize>(path: PathBuf) -> Tensor<D> {
    let a = npy::read(&path).unwrap();
    let shape: [usize; D] = a.shape.clone().try_into().unwrap();
    Tensor::from_data(TensorData::new(a.as_f32(), shape), &Device::flex())
}

fn config(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name).join("config.json")).unwrap())
        .unwrap()
}

/// Max |got - want| relative to max |want|, per hidden state.
fn assert_close(name: &str, got: &[Tensor<3>]) {
    assert_close_to(name, "hidden_", got)
}

/// The largest absolute value of `v`.
fn largest(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// The largest absolute difference between `a` and `b`, element by element.
fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// [`assert_close`] against the fixture's `PREFIX{i}.npy` files.
fn assert_close_to(name: &str, prefix: &str, got: &[Tensor<3>]) {
    for (i, g) in got.iter().enumerate() {
        let want: Tensor<3> = array(fixture(name).join(format!("{prefix}{i}.npy")));
        assert_eq!(g.dims(), want.dims(), "{name} hidden state {i}");
        let w = want.into_data().try_to_vec::<f32>().unwrap();
        let g = g.clone().into_data().try_to_vec::<f32>().unwrap();
        let (scale, err) = (largest(&w), largest_difference(&g, &w));
        assert!(
            err <= 1e-4 * scale,
            "{name} hidden state {i}: max error {err} vs scale {scale}"
        );
    }
    let n = std::fs::read_dir(fixture(name))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(prefix)
        })
        .count();
    assert_eq!(got.len(), n, "{name}: every layer compared");
}

fn videomae_config(c: &serde_json::Value) -> VideoMaeConfig {
    VideoMaeConfig {
        dim: c["dim"].as_u64().unwrap() as usize,
        depth: c["depth"].as_u64().unwrap() as usize,
        heads: c["heads"].as_u64().unwrap() as usize,
        mlp: c["mlp"].as_u64().unwrap() as usize,
        patch: c["patch"].as_u64().unwrap() as usize,
        tubelet: c["tubelet"].as_u64().unwrap() as usize,
        eps: c["eps"].as_f64().unwrap(),
        qkv_bias: true,
    }
}

fn dinov2_config(c: &serde_json::Value) -> Dinov2Config {
    Dinov2Config {
        dim: c["dim"].as_u64().unwrap() as usize,
        depth: c["depth"].as_u64().unwrap() as usize,
        heads: c["heads"].as_u64().unwrap() as usize,
        mlp: c["mlp"].as_u64().unwrap() as usize,
        patch: c["patch"].as_u64().unwrap() as usize,
        registers: c["registers"].as_u64().unwrap() as usize,
        swiglu: false,
        eps: c["eps"].as_f64().unwrap(),
    }
}

#[test]
fn videomae_matches_transformers_at_every_layer() {
    let cfg = videomae_config(&config("videomae"));
    let video: Tensor<5> = array(fixture("videomae").join("video.npy"));
    // The same weights as safetensors and as a torch.save checkpoint (one
    // tensor stored with non-contiguous strides).
    for file in ["weights.safetensors", "weights.bin"] {
        let w = load_weights(&fixture("videomae").join(file)).unwrap();
        let m = VideoMae::load("videomae-test", cfg, w, cfg.depth).unwrap();
        assert_close("videomae", &m.hidden_states(video.clone()).unwrap());
    }
    let w = load_weights(&fixture("videomae").join("weights.bin")).unwrap();
    let m = VideoMae::load("videomae-test", cfg, w, cfg.depth).unwrap();
    // Features: T/2 tubelet steps resampled back to T frames, from the
    // last hidden state (the forward pass keeps one buffer through the
    // blocks on the CPU kernels: the same arithmetic, so the same bits).
    let last = m.hidden_states(video.clone()).unwrap().pop().unwrap();
    let f = m.forward(video).unwrap();
    assert_eq!(f.dims(), [2, 4, 4, cfg.dim]);
    assert_features_of_last_state("videomae", f, last, cfg.tubelet);
}

/// A forward pass's features equal its last hidden state's, bit for bit.
fn assert_features_of_last_state(name: &str, f: Tensor<4>, last: Tensor<3>, tubelet: usize) {
    let want = vit::tubelet_features(last, f.dims()[1], tubelet, vit::resample_time);
    assert_eq!(
        f.into_data().try_to_vec::<f32>().unwrap(),
        want.into_data().try_to_vec::<f32>().unwrap(),
        "{name}: forward against the last hidden state"
    );
}

fn vjepa_config(c: &serde_json::Value) -> VJepaConfig {
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    VJepaConfig {
        dim: u("dim"),
        depth: u("depth"),
        heads: u("heads"),
        mlp: u("mlp"),
        patch: u("patch"),
        tubelet: u("tubelet"),
        eps: c["eps"].as_f64().unwrap(),
        frames: u("frames"),
        image: u("image"),
    }
}

/// V-JEPA against the official facebookresearch/jepa encoder
/// (tests/fixtures/vjepa_reference.py), loaded from a training checkpoint
/// laid out as the released ones: the target encoder is taken, the 3-D
/// sin-cos table is the stored one, and at another clip size it is
/// interpolated trilinearly as the official code does.
#[test]
fn vjepa_matches_the_official_encoder_at_every_layer() {
    let cfg = vjepa_config(&config("vjepa"));
    let path = fixture("vjepa").join("weights.pth.tar");
    let load = || VJepa::load("vjepa-test", cfg, load_weights(&path).unwrap(), cfg.depth).unwrap();
    let m = load();
    let video: Tensor<5> = array(fixture("vjepa").join("video.npy"));
    assert_close("vjepa", &m.hidden_states(video.clone()).unwrap());
    let resized: Tensor<5> = array(fixture("vjepa").join("video_resized.npy"));
    assert_close_to(
        "vjepa",
        "resized_hidden_",
        &m.hidden_states(resized).unwrap(),
    );
    let last = m.hidden_states(video.clone()).unwrap().pop().unwrap();
    let f = m.forward(video).unwrap();
    assert_eq!(f.dims(), [2, 4, 4, cfg.dim]);
    assert_features_of_last_state("vjepa", f, last, cfg.tubelet);

    // Without a stored table the official formula gives the same one.
    let table = scivid::backbone::vjepa::sincos_3d(cfg.dim, 2, 2, &Device::flex());
    let stored: Vec<f32> = {
        let w = load_weights(&path).unwrap();
        let mut w = w;
        w.use_prefix_if_present("pos_embed", &["target_encoder.module.backbone."]);
        w.take::<3>("pos_embed", [1, 8, cfg.dim])
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap()
    };
    let computed: Vec<f32> = table.into_data().try_to_vec().unwrap();
    for (a, b) in computed.iter().zip(&stored) {
        assert!((a - b).abs() < 1e-6, "sin-cos table: {a} vs {b}");
    }

    // A checkpoint of another size names the tensor and both shapes.
    let mut wrong = cfg;
    wrong.mlp = 64;
    let e = VJepa::load("vjepa-test", wrong, load_weights(&path).unwrap(), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("target_encoder.module.backbone.blocks.0.mlp.fc1.weight")
            && e.contains("[128, 32]")
            && e.contains("[64, 32]"),
        "{e}"
    );
}

/// 4DS against google-deepmind/representations4d's own encoder
/// (tests/fixtures/fourds_reference.py), loaded from a `.npz` laid out as
/// the released checkpoint; the features SciVid reads (depth 0.95, time
/// resized with jax's cubic kernel) match too.
#[test]
fn fourds_matches_the_official_encoder_and_scivid_readout_input() {
    let c = config("fourds");
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    let cfg = FourDsConfig {
        dim: u("dim"),
        depth: u("depth"),
        heads: u("heads"),
        mlp: u("mlp"),
        patch: u("patch"),
        tubelet: u("tubelet"),
        eps: c["eps"].as_f64().unwrap(),
        frames: u("frames"),
        image: u("size"),
    };
    let path = fixture("fourds").join("weights.npz");
    let video: Tensor<5> = array(fixture("fourds").join("video.npy"));
    let m = FourDs::load("4ds-test", cfg, load_weights(&path).unwrap(), cfg.depth).unwrap();
    assert_close("fourds", &m.hidden_states(video.clone()).unwrap());

    // SciVid's layer at 0.95 of 3 blocks, resized from 2 steps to 4 frames.
    let layer = vit::layer_for_fraction(cfg.depth, 0.95).unwrap();
    let m = FourDs::load("4ds-test", cfg, load_weights(&path).unwrap(), layer).unwrap();
    let got = m.forward(video).unwrap();
    let want: Tensor<4> = array(fixture("fourds").join("features.npy"));
    assert_eq!(got.dims(), want.dims());
    let (g, w) = (
        got.into_data().try_to_vec::<f32>().unwrap(),
        want.into_data().try_to_vec::<f32>().unwrap(),
    );
    let scale = largest(&w);
    for (a, b) in g.iter().zip(&w) {
        assert!((a - b).abs() <= 1e-4 * scale, "features: {a} vs {b}");
    }

    // The learned table fits one clip size; another is refused, naming both.
    let other: Tensor<5> = Tensor::zeros([1, 4, 48, 32, 3], &Device::flex());
    let e = m.hidden_states(other).err().unwrap().to_string();
    assert!(e.contains("2x3x2 token grid") && e.contains("2x2x2"), "{e}");
}

/// SigLIP's vision tower per frame against transformers'
/// `SiglipVisionModel` (tests/fixtures/siglip_reference.py), from a file
/// laid out as the Hub's full SigLIP checkpoints (text tower ignored), at
/// the table's size and at another (bicubic table resize).
#[test]
fn siglip_matches_transformers_per_frame_with_a_resized_position_table() {
    let c = config("siglip");
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    let cfg = SiglipConfig {
        dim: u("dim"),
        depth: u("depth"),
        heads: u("heads"),
        mlp: u("mlp"),
        patch: u("patch"),
        image: u("image"),
        eps: c["eps"].as_f64().unwrap(),
    };
    let path = fixture("siglip").join("weights.safetensors");
    let m = Siglip::load("siglip-test", cfg, load_weights(&path).unwrap(), cfg.depth).unwrap();
    let frames = |file: &str| {
        let v: Tensor<5> = array(fixture("siglip").join(file));
        let [b, t, h, w, c] = v.dims();
        (v.clone(), v.reshape([b * t, h, w, c]))
    };
    let (video, f) = frames("video.npy");
    assert_close("siglip", &m.hidden_states(f).unwrap());
    let (_, f) = frames("video_resized.npy");
    assert_close_to("siglip", "resized_hidden_", &m.hidden_states(f).unwrap());
    assert_eq!(m.forward(video).unwrap().dims(), [1, 2, 4, cfg.dim]);
}

#[test]
fn dinov2_matches_transformers_with_a_resized_position_table() {
    for (name, file) in [
        ("dinov2", "weights.safetensors"),
        ("dinov2", "weights.npz"),
        ("dinov2_reg", "weights.safetensors"),
    ] {
        let cfg = dinov2_config(&config(name));
        let w = load_weights(&fixture(name).join(file)).unwrap();
        let m = Dinov2::load(name, cfg, w, cfg.depth).unwrap();
        let frames: Tensor<4> = array(fixture(name).join("video.npy"));
        assert_close(name, &m.hidden_states(frames.clone()).unwrap());
        // Features drop the class and register tokens, frame by frame.
        let [f, h, w, c] = frames.dims();
        let feats = m.forward(frames.reshape([1, f, h, w, c])).unwrap();
        assert_eq!(feats.dims(), [1, f, (h / 14) * (w / 14), cfg.dim]);
    }
}

#[test]
fn checkpoint_errors_name_the_tensor_and_both_shapes() {
    let path = fixture("videomae").join("weights.safetensors");
    let mut cfg = videomae_config(&config("videomae"));
    cfg.dim = 48;
    let e = VideoMae::load("v", cfg, load_weights(&path).unwrap(), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("embeddings.patch_embeddings.projection.weight")
            && e.contains("[32, 3, 2, 16, 16]")
            && e.contains("[48, 3, 2, 16, 16]"),
        "{e}"
    );
    // A checkpoint of another family.
    let dcfg = dinov2_config(&config("dinov2"));
    let e = Dinov2::load("d", dcfg, load_weights(&path).unwrap(), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("embeddings.patch_embeddings.projection.weight")
            && e.contains("[32, 3, 14, 14]"),
        "{e}"
    );
    // A tensor the configuration needs and the file lacks.
    let dpath = fixture("dinov2").join("weights.safetensors");
    let with_registers = Dinov2Config {
        registers: 4,
        ..dcfg
    };
    let e = Dinov2::load("d", with_registers, load_weights(&dpath).unwrap(), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("missing tensor `embeddings.register_tokens`") && e.contains("[1, 4, 32]"),
        "{e}"
    );
    // A truncated file.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = format!("{:#}", load_weights(&cut).err().unwrap());
    assert!(
        e.contains("cut.safetensors") && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn layer_choice_and_time_resampling_follow_scivid() {
    // all_features[int(L * fraction) - 1], embedded tokens first.
    assert_eq!(vit::layer_for_fraction(12, 0.95).unwrap(), 10);
    assert_eq!(vit::layer_for_fraction(12, 0.1).unwrap(), 0);
    assert_eq!(vit::layer_for_fraction(24, 0.95).unwrap(), 21);
    assert!(vit::layer_for_fraction(12, 0.0).is_err());
    // Linear with half-pixel centres: [0, 1] over 2 steps -> 4 frames.
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![0.0f32, 1.0], [1, 2, 1, 1]),
        &Device::flex(),
    );
    let y = vit::resample_time(x, 4)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(y, vec![0.0, 0.25, 0.75, 1.0]);
    // ViT-B/16 on 16x224x224 (1568 tokens): 360.7 GFLOP per clip, the
    // figure the reference benchmarks use.
    let g = vit::flops(1, 1568, 768, 3072, 12, 3 * 2 * 16 * 16) / 1e9;
    assert!((g - 360.7).abs() < 0.5, "{g}");
}

#[test]
fn cli_lists_backbones_inspects_a_checkpoint_and_runs_a_tiny_model() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = crate::common::scivid(&["backbones", "list"], dir.path());
    assert_eq!(code, 0, "{err}");
    for name in [
        "pixel",
        "videomae-b",
        "videomae-l",
        "dinov2-s",
        "dinov2-g",
        "dinov2-b-reg",
        "videomae-tiny",
        "vjepa-l",
        "vjepa-h",
        "4ds-b",
        "siglip-b",
        "siglip-so400m",
    ] {
        assert!(out.contains(&format!("| {name} |")), "{out}");
    }
    // Each family's checkpoint format is recognised.
    for (family, file, expect) in [
        (
            "vjepa",
            "weights.pth.tar",
            "family      vjepa (tubelet 2 x 16 x 16)",
        ),
        (
            "fourds",
            "weights.npz",
            "family      4ds (patch 2 x 16 x 16)",
        ),
        (
            "siglip",
            "weights.safetensors",
            "family      siglip (patch 16 x 16)",
        ),
    ] {
        let path = fixture(family).join(file);
        let (code, out, err) = crate::common::scivid(
            &["backbones", "inspect", path.to_str().unwrap()],
            dir.path(),
        );
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(expect) && out.contains("blocks      3"),
            "{out}"
        );
    }
    // A GPU device this build lacks is refused, naming the feature.
    let (code, _, err) = crate::common::scivid(
        &["run", "--backbone", "videomae-tiny", "--device", "cuda"],
        dir.path(),
    );
    if !cfg!(feature = "cuda") {
        assert_ne!(code, 0);
        assert!(err.contains("--features cuda"), "{err}");
    }
    let weights = fixture("videomae").join("weights.safetensors");
    let (code, out, err) = crate::common::scivid(
        &["backbones", "inspect", weights.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("family      videomae (tubelet 2 x 16 x 16)")
            && out.contains("width       32")
            && out.contains("blocks      3"),
        "{out}"
    );
    let (code, out, err) = crate::common::scivid(
        &[
            "bench",
            "backbone",
            "--model",
            "videomae-tiny",
            "--frames",
            "4",
            "--size",
            "32",
            "--reps",
            "1",
            "--warmup",
            "0",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("| videomae-tiny | 1 | 4x32x32 |"), "{out}");
    // The extraction pipeline's bench: PNG clips written, decoded, run and cached.
    let (code, out, err) = crate::common::scivid(
        &[
            "bench",
            "extract",
            "--model",
            "videomae-tiny",
            "--clips",
            "18",
            "--frames",
            "2",
            "--size",
            "32",
            "--stored",
            "40",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("| videomae-tiny | 18 |"), "{out}");
    // A real size needs its checkpoint; the message says how to give it.
    let (code, _, err) = crate::common::scivid(&["run", "--backbone", "videomae-b"], dir.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("videomae-b") && err.contains("--weights"),
        "{err}"
    );

    let mut spec = crate::common::quick_spec(&dir.path().join("out"), &["linear"], 5);
    spec.backbone = "videomae-tiny".into();
    spec.bootstrap = 0;
    let results = scivid::pipeline::run(&spec).unwrap();
    let t = &results.tasks[0];
    assert!(t.error.is_none() && t.heads[0].error.is_none(), "{t:?}");
    assert_eq!(results.backbone["family"], "videomae");
    assert_eq!(results.backbone["layer"], 2, "int(4 * 0.95) - 1 = block 2");
}

/// The ViT blocks use burn's fused attention, which at 1568 tokens (a
/// ViT-B/16 video clip) takes its tiled online-softmax path, never the
/// small-config path the parity fixtures exercise: check that path against
/// softmax(q k^T / sqrt(d)) v formed in full.
#[test]
fn fused_attention_matches_the_full_softmax_at_clip_length() {
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{Distribution, activation, module};
    let device = Device::flex();
    let shape = [1, 2, 1568, 64];
    let r = || Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let (q, k, v) = (r(), r(), r());
    let fused = module::attention(
        q.clone(),
        k.clone(),
        v.clone(),
        None,
        None,
        AttentionModuleOptions::default(),
    );
    let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / 8.0);
    let full = activation::softmax(scores, 3).matmul(v);
    let (a, b) = (
        fused.into_data().try_to_vec::<f32>().unwrap(),
        full.into_data().try_to_vec::<f32>().unwrap(),
    );
    let worst = largest_difference(&a, &b);
    assert!(worst < 1e-5, "largest difference {worst}");
}

/// A pre-norm block's random weights (d wide, an MLP `mlp` wide) under
/// short names: VideoMAE's q/v biases without a k bias, or a bias on each
/// layer; DINOv2's layer scale or none.
fn block_weights(
    d: usize,
    mlp: usize,
    qv_bias: bool,
    layer_scale: bool,
) -> (
    scivid::backbone::weights::Weights,
    scivid::backbone::vit::BlockNames,
) {
    use scivid::backbone::vit::BlockNames;
    use scivid::backbone::weights::{Stored, Weights};
    let mut seed = 7u64;
    let mut tensor = |shape: Vec<usize>, centre: f32, spread: f32| {
        let values = (0..shape.iter().product::<usize>())
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                centre + spread * ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.46
            })
            .collect();
        Stored { shape, values }
    };
    let mut map = std::collections::BTreeMap::new();
    for n in ["n1", "n2"] {
        map.insert(format!("{n}.weight"), tensor(vec![d], 1.0, 0.2));
        map.insert(format!("{n}.bias"), tensor(vec![d], 0.0, 0.2));
    }
    for (n, out, inp) in [
        ("q", d, d),
        ("k", d, d),
        ("v", d, d),
        ("o", d, d),
        ("f1", mlp, d),
        ("f2", d, mlp),
    ] {
        map.insert(format!("{n}.weight"), tensor(vec![out, inp], 0.0, 0.1));
        let bias = if qv_bias && n == "q" {
            "qb".into()
        } else if qv_bias && n == "v" {
            "vb".into()
        } else {
            format!("{n}.bias")
        };
        if !(qv_bias && n == "k") {
            map.insert(bias, tensor(vec![out], 0.0, 0.3));
        }
    }
    if layer_scale {
        map.insert("s1".into(), tensor(vec![d], 0.0, 0.5));
        map.insert("s2".into(), tensor(vec![d], 0.0, 0.5));
    }
    let names = BlockNames {
        norm1: "n1".into(),
        query: "q".into(),
        key: "k".into(),
        value: "v".into(),
        proj: "o".into(),
        norm2: "n2".into(),
        fc1: "f1".into(),
        fc2: "f2".into(),
        qv_bias: qv_bias.then(|| ("qb".into(), "vb".into())),
        layer_scale: layer_scale.then(|| ("s1".into(), "s2".into())),
        swiglu: None,
    };
    (Weights::from_map("test".into(), map), names)
}

/// On an AVX-512 CPU the ViT blocks run on scivid-kernels (fused GEMMs,
/// attention a block of queries at a time). At clip length (1568 tokens),
/// in each block variant (VideoMAE's q/v biases with exact GELU, DINOv2's
/// layer scale, flax's tanh GELU), a block must update its input as burn's
/// ops do. Weights are large enough (std 0.1) that attention is peaked and
/// the GELUs are far from linear: the two GELUs differ by 1e-3 there.
#[test]
fn cpu_kernel_blocks_match_burns_ops_at_clip_length() {
    use burn::tensor::Distribution;
    use scivid::backbone::vit::Block;
    if !scivid::backbone::kernel_block::enabled() {
        eprintln!("skipped: this CPU has no AVX-512F (or SCIVID_CPU_KERNELS=0)");
        return;
    }
    let (d, mlp, heads, tokens) = (128, 256, 2, 1568);
    let weights = |qv_bias: bool, layer_scale: bool| block_weights(d, mlp, qv_bias, layer_scale);
    let x = Tensor::<3>::random(
        [2, tokens, d],
        Distribution::Normal(0.0, 1.0),
        &Device::flex(),
    );
    let input = x.clone().into_data().try_to_vec::<f32>().unwrap();
    for (qv, scale, tanh) in [
        (true, false, false),
        (false, true, false),
        (false, false, true),
    ] {
        let load = || {
            let (mut w, names) = weights(qv, scale);
            let b = Block::load(&mut w, &names, d, mlp, heads, 1e-6).unwrap();
            if tanh { b.with_tanh_gelu() } else { b }
        };
        let (fast, slow) = (load(), load().without_kernels());
        let update = |b: &Block| -> Vec<f32> {
            let out = b
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            out.iter().zip(&input).map(|(o, i)| o - i).collect()
        };
        let (a, b) = (update(&fast), update(&slow));
        let (size, worst) = (largest(&b), largest_difference(&a, &b));
        assert!(
            worst <= 1e-5 * size,
            "q/v bias {qv}, layer scale {scale}, tanh {tanh}: largest difference {worst} in updates up to {size}"
        );
    }
}

/// In a build with `--features wgpu`: the same tiny backbones on burn's
/// wgpu backend (any Vulkan/Metal/DX12 adapter, a software one included,
/// e.g. Mesa's lavapipe) give the CPU's features.
#[cfg(feature = "wgpu")]
#[test]
fn backbones_on_wgpu_match_the_cpu() {
    use burn::tensor::Distribution;
    use scivid::backbone::{BackboneSpec, DEFAULT_DEPTH_FRACTION, build};
    use scivid::device::ComputeDevice;
    for (name, size) in [("videomae-tiny", 32), ("dinov2-tiny", 28)] {
        let on = |device| {
            build(&BackboneSpec {
                name: name.into(),
                weights: None,
                depth_fraction: DEFAULT_DEPTH_FRACTION,
                layer: None,
                random_weights: true,
                library: None,
                device,
            })
            .unwrap()
        };
        let (cpu, gpu) = (on(ComputeDevice::Cpu), on(ComputeDevice::Wgpu));
        let video = Tensor::<5>::random(
            [2, 4, size, size, 3],
            Distribution::Uniform(0.0, 1.0),
            &Device::flex(),
        );
        let values = video.clone().into_data();
        let a = cpu
            .forward(video)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let on_gpu = Tensor::<5>::from_data(values, &gpu.device());
        let b = gpu
            .forward(on_gpu)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let (size, worst) = (largest(&a), largest_difference(&a, &b));
        eprintln!(
            "{name}: cpu vs wgpu ({:?}): largest difference {worst} in values up to {size}",
            gpu.device()
        );
        assert!(worst <= 1e-4 * size.max(1.0), "{name}: {worst}");
    }
}

/// The CPU kernels run a batch's clips side by side (a clip per share of
/// the threads, then a lone clip on all of them when the batch does not
/// divide evenly): every clip's output must be the bits it gets alone.
#[test]
fn clips_side_by_side_give_each_clip_its_own_output() {
    use burn::tensor::Distribution;
    use scivid::backbone::vit::{self, Block};
    if !scivid::backbone::kernel_block::enabled() {
        eprintln!("skipped: this CPU has no AVX-512F (or SCIVID_CPU_KERNELS=0)");
        return;
    }
    let (d, mlp, heads, tokens, clips) = (64, 128, 2, 300, 5);
    let blocks: Vec<Block> = (0..2)
        .map(|_| {
            let (mut w, names) = block_weights(d, mlp, false, false);
            Block::load(&mut w, &names, d, mlp, heads, 1e-6).unwrap()
        })
        .collect();
    let x = Tensor::<3>::random(
        [clips, tokens, d],
        Distribution::Normal(0.0, 1.0),
        &Device::flex(),
    );
    let run = |x: Tensor<3>| -> Vec<f32> {
        let out = vit::run_blocks(&blocks, x, false).pop().unwrap();
        out.into_data().try_to_vec::<f32>().unwrap()
    };
    let together = run(x.clone());
    for clip in 0..clips {
        let alone = run(x.clone().narrow(0, clip, 1));
        assert_eq!(
            together[clip * tokens * d..(clip + 1) * tokens * d],
            alone[..],
            "clip {clip} of {clips}"
        );
    }
}
