//! Readout heads against independent reference implementations: the
//! fixture's weights are loaded into the Wasm plugin by parameter name, and
//! its forward pass must match the reference output.

use crate::common::repo_root;
use scivid::data::npy;
use scivid::runtime::bindings::FeatureSpec;
use scivid::runtime::{Budgets, ReadoutPlugin, Runtime};
use scivid::tensor::{DynTensor, default_device};

fn load(path: &std::path::Path) -> DynTensor {
    let a = npy::read(path).unwrap();
    DynTensor::from_vec(a.as_f32(), &a.shape, &default_device()).unwrap()
}

/// Load fixture `dir`'s weights into built-in head `plugin`, run its
/// forward pass on the fixture's features (and `extras`, each read from
/// `NAME.npy`) and compare with the reference output; returns the head.
fn matches_reference(plugin: &str, dir: &std::path::Path, extras: &[&str]) -> ReadoutPlugin {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let config: Vec<(String, String)> = meta["config"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    let f = &meta["features"];
    let (time, tokens, dim) = (
        f["time"].as_u64().unwrap() as u32,
        f["tokens"].as_u64().unwrap() as u32,
        f["dim"].as_u64().unwrap() as u32,
    );
    let outputs: Vec<u32> = meta["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();

    let rt = Runtime::new(None).unwrap();
    let c = scivid::pipeline::PluginRef::Builtin(plugin.into())
        .load(&rt)
        .unwrap();
    let mut head = rt.instantiate_readout(&c, 0, &Budgets::default()).unwrap();
    let grid = |key: &str, default: u32| f[key].as_u64().map_or(default, |v| v as u32);
    let spec = FeatureSpec {
        time,
        tokens,
        dim,
        grid_h: grid("grid_h", 1),
        grid_w: grid("grid_w", tokens),
    };
    head.init(&config, spec, &outputs).unwrap();

    let mut loaded = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(name) = file
            .strip_prefix("param.")
            .and_then(|n| n.strip_suffix(".npy"))
        {
            head.set_param(name, load(&path)).unwrap();
            loaded += 1;
        }
    }
    assert_eq!(
        loaded,
        head.params().len(),
        "every parameter of `{plugin}` comes from the fixture"
    );

    let extras: Vec<(String, DynTensor)> = extras
        .iter()
        .map(|n| (n.to_string(), load(&dir.join(format!("{n}.npy")))))
        .collect();
    let got = head
        .forward(&load(&dir.join("features.npy")), &extras, false)
        .unwrap();
    let want = load(&dir.join("expected.npy"));
    assert_eq!(got.shape(), want.shape());
    let (got, want) = (got.to_vec(), want.to_vec());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(scale * 1e-1),
            "{plugin} output {got:?}\nreference {want:?}"
        );
    }
    head
}

#[test]
fn attention_forward_matches_the_numpy_reference() {
    let dir = repo_root().join("tests/fixtures/attention");
    let mut head = matches_reference("attention", &dir, &[]);

    // A wrong name or shape is refused with the parameter named.
    let e = head
        .set_param("nope", load(&dir.join("param.query.npy")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no parameter `nope`"), "{e}");
    let e = head
        .set_param("query", load(&dir.join("param.head.bias.npy")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("parameter `query` has shape"), "{e}");
}

#[test]
fn attention_head_trains_jointly_with_linear_and_dropout_is_seeded() {
    let run = |seed: u64| {
        let out = tempfile::tempdir().unwrap();
        let mut spec = crate::common::quick_spec(
            out.path(),
            &[
                "attention=attention:width=32,heads=4,dropout=0.5",
                "flat=linear:pool=flatten",
            ],
            30,
        );
        spec.seed = seed;
        let r = scivid::pipeline::run(&spec).unwrap();
        let t = &r.tasks[0];
        assert!(
            t.heads.iter().all(|h| h.error.is_none() && h.steps == 30),
            "{:?}",
            t.heads
        );
        t.heads[0].final_train_loss.unwrap()
    };
    assert_eq!(run(1), run(1), "same seed, same dropout masks, same loss");
}

#[test]
fn tracking_forward_matches_the_numpy_reference() {
    let dir = repo_root().join("tests/fixtures/tracking");
    let mut head = matches_reference("tracking", &dir, &["queries"]);
    // Without the query points the head says what it needs.
    let e = head
        .forward(&load(&dir.join("features.npy")), &[], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("queries"), "{e}");
}

#[test]
fn dpt_forward_matches_the_jax_reference() {
    let dir = repo_root().join("tests/fixtures/dpt");
    let mut head = matches_reference("dpt", &dir, &[]);
    // A token grid the decoder cannot halve and double back is refused at init.
    let spec = FeatureSpec {
        time: 3,
        tokens: 15,
        dim: 8,
        grid_h: 3,
        grid_w: 5,
    };
    let e = head.init(&[], spec, &[2, 3, 7, 9]).unwrap_err().to_string();
    assert!(e.contains("even token grid") && e.contains("3 x 5"), "{e}");
}

/// `scivid bench readout` compares like with like: the native twin computes
/// exactly what the Wasm attention plugin computes, on both of the probe's
/// ways to attend (few queries: folded into the key weights; many: keys
/// and values formed), and both train.
#[test]
fn the_native_twin_of_the_attention_head_matches_the_plugin() {
    for preset in ["flyvsfly", "many-queries"] {
        let r = scivid::bench::readout::readout(&scivid::bench::readout::ReadoutBench {
            head: "attention".into(),
            preset: preset.into(),
            batch: 2,
            steps: 1,
            warmup: 0,
        })
        .unwrap();
        // The same ops in the same order: the same bits.
        assert_eq!(r.max_abs_diff, 0.0, "{preset}");
        assert!(r.wasm_steps_per_s > 0.0 && r.native_steps_per_s > 0.0);
    }
}
