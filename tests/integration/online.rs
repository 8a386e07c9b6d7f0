//! `online` mode: training features recomputed every step from the clips,
//! augmented as the task declares (SciVid's training protocol).

use crate::common::{quick_spec, results_json, test_plugin};
use scivid::pipeline::{Mode, PluginRef, run};

fn final_loss(r: &scivid::report::RunResults) -> f64 {
    let t = &r.tasks[0];
    assert!(t.error.is_none(), "{:?}", t.error);
    let h = &t.heads[0];
    assert!(h.error.is_none(), "{:?}", h.error);
    h.final_train_loss.expect("trained")
}

/// Without augmentation and with fixed frames, recomputing the features
/// every step gives the cached run's numbers: the online path feeds the
/// heads what extraction fed them.
#[test]
fn online_without_augmentation_trains_as_cached_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = quick_spec(&dir.path().join("cached"), &["linear"], 30);
    spec.bootstrap = 0;
    let cached = final_loss(&run(&spec).unwrap());
    spec.mode = Mode::Online;
    spec.out = dir.path().join("online");
    let online = run(&spec).unwrap();
    assert_eq!(online.mode, "online");
    let loss = final_loss(&online);
    assert!(
        (loss - cached).abs() <= 1e-5 * cached.abs().max(1.0),
        "online {loss} vs cached {cached}"
    );
    assert_eq!(results_json(&spec.out)["mode"], "online");
}

/// A task declaring augmentations (`tests/plugins/video-task`):
/// online training sees other features than cached training, and the same
/// ones again in a second run with the same seed.
#[test]
fn online_augments_training_clips_the_same_way_for_a_seed() {
    if !scivid::data::video::AVAILABLE {
        assert!(
            std::env::var("SCIVID_REQUIRE_VIDEO").as_deref() != Ok("1"),
            "SCIVID_REQUIRE_VIDEO=1 but this build has no video support"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let fixtures = crate::common::repo_root().join("tests/fixtures/video");
    std::fs::copy(fixtures.join("h264.mp4"), data.join("h264.mp4")).unwrap();
    for split in ["train", "test"] {
        let mut csv = String::from("id,file,sampling,label\n");
        for (k, (how, label)) in [
            ("start:8:1", "left"),
            ("indices:12;14;16;19", "right"),
            ("random:4:2", "left"),
            ("linspace:8", "right"),
        ]
        .iter()
        .enumerate()
        {
            csv += &format!("{split}{k},h264.mp4,{how},{label}\n");
        }
        std::fs::write(data.join(format!("{split}.csv")), csv).unwrap();
    }
    let mut spec = quick_spec(&dir.path().join("cached"), &["attention"], 12);
    spec.tasks = vec![PluginRef::File(test_plugin("video-task"))];
    spec.data = Some(data);
    spec.bootstrap = 0;
    spec.cache_dir = Some(dir.path().join("cache"));
    let cached = final_loss(&run(&spec).unwrap());
    spec.mode = Mode::Online;
    spec.out = dir.path().join("online");
    let first = final_loss(&run(&spec).unwrap());
    spec.out = dir.path().join("again");
    let again = final_loss(&run(&spec).unwrap());
    assert_eq!(first, again, "same seed, same augmented batches");
    assert!(
        (first - cached).abs() > 1e-6,
        "augmented training should differ from cached: {first} vs {cached}"
    );
}
