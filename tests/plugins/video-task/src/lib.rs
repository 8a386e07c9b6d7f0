//! A task over video files whose frames the host samples (SDK 0.2.4's
//! `task-sampled-clips`): `/data/SPLIT.csv` lists `id,file,sampling,label`
//! with `sampling` one of `start:COUNT:STRIDE`, `middle:COUNT:STRIDE`,
//! `random:COUNT:STRIDE[:MAX_START]`, `linspace:COUNT`, `indices:I;J;...`, and the
//! label `left` or `right` (where the clip's last frame shows the square of
//! `tests/fixtures/video`). Its training clips are jittered, blurred and
//! flipped in `online` runs. The tests run it end to end on those videos.

use scivid_sdk::{
    Augmentation, ClipTarget, DATA_DIR, FrameSampling, FrameWindow, GaussianBlur, Grant, InputSpec,
    MediaSource, Metric, Metrics, Protocol, RandomWindow, Result, SampledClip, Task, TaskInfo,
    TaskKind, Tensor, UpscaleCrop, bail,
};

struct VideoTask;

fn sampling(text: &str) -> Result<FrameSampling> {
    let f: Vec<&str> = text.split(':').collect();
    let n = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| scivid_sdk::Error(format!("bad number `{s}` in `{text}`")))
    };
    let window = |c: &str, s: &str| -> Result<FrameWindow> {
        Ok(FrameWindow {
            count: n(c)?,
            stride: n(s)?,
        })
    };
    Ok(match f[..] {
        ["start", c, s] => FrameSampling::Start(window(c, s)?),
        ["middle", c, s] => FrameSampling::Middle(window(c, s)?),
        ["random", c, s] => FrameSampling::Random(RandomWindow {
            count: n(c)?,
            stride: n(s)?,
            max_start: None,
        }),
        ["random", c, s, m] => FrameSampling::Random(RandomWindow {
            count: n(c)?,
            stride: n(s)?,
            max_start: Some(n(m)?),
        }),
        ["linspace", c] => FrameSampling::Linspace(n(c)?),
        ["indices", list] => {
            FrameSampling::Indices(list.split(';').map(n).collect::<Result<Vec<_>>>()?)
        }
        _ => bail!("unknown sampling `{text}`"),
    })
}

impl Task for VideoTask {
    type Metrics = Accuracy;

    fn info() -> TaskInfo {
        TaskInfo {
            name: "video-square".into(),
            version: "0.1.0".into(),
            description: "Is the square left or right at the clip's last frame?".into(),
            kind: TaskKind::Classification,
            input: InputSpec {
                frames: 8,
                height: 32,
                width: 48,
                channels: 3,
            },
            target_shape: vec![2],
            metrics: vec!["accuracy".into()],
            primary_metric: "accuracy".into(),
            higher_is_better: true,
            protocol: Protocol {
                steps: 100,
                batch_size: 8,
                learning_rate: 3e-3,
                warmup_steps: 10,
                final_learning_rate: 1e-7,
                weight_decay: 1e-4,
                clip_norm: None,
            },
            grants: vec![Grant::DatasetRead],
        }
    }

    fn splits() -> Vec<String> {
        vec!["train".into(), "test".into()]
    }

    fn sampled_clips(split: &str) -> Result<Vec<SampledClip>> {
        let path = format!("{DATA_DIR}/{split}.csv");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        text.lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                let [id, file, how, label] = f[..] else {
                    bail!("{path}: bad line `{line}`")
                };
                let target = match label {
                    "left" => vec![1.0, 0.0],
                    "right" => vec![0.0, 1.0],
                    other => bail!("{path}: unknown label `{other}`"),
                };
                Ok(SampledClip {
                    id: id.into(),
                    source: MediaSource::Video(file.into()),
                    sampling: sampling(how)?,
                    target: ClipTarget::Values(target),
                    group: file.into(),
                    extras: vec![],
                })
            })
            .collect()
    }

    /// A jitter, a light blur on every clip and a flip (in `online` runs).
    fn augmentations() -> Vec<Augmentation> {
        vec![
            Augmentation::UpscaleCrop(UpscaleCrop {
                min_scale: 1.0,
                max_scale: 1.5,
                probability: 0.8,
            }),
            Augmentation::GaussianBlur(GaussianBlur {
                sigma_min: 0.5,
                sigma_max: 1.5,
                kernel_size: 9,
                probability: 1.0,
            }),
            Augmentation::FlipLeftRight(0.5),
        ]
    }

    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        predictions.softmax_cross_entropy(targets)
    }

    fn control_sampled(train_targets: &Tensor, clips: &[SampledClip]) -> Result<Tensor> {
        train_targets
            .mean(&[0], true)?
            .add_scalar(1e-6)
            .log()
            .expand(&[clips.len() as u32, 2])
    }
}

/// Accuracy of the argmax.
struct Accuracy {
    right: usize,
    n: usize,
}

impl Metrics for Accuracy {
    fn new(_: &str) -> Self {
        Accuracy { right: 0, n: 0 }
    }
    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
        let (p, t) = (predictions.read()?, targets.read()?);
        for (p, t) in p.chunks(2).zip(t.chunks(2)) {
            self.right += ((p[1] > p[0]) == (t[1] > t[0])) as usize;
            self.n += 1;
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<Metric>> {
        Ok(vec![Metric {
            name: "accuracy".into(),
            value: self.right as f64 / self.n.max(1) as f64,
        }])
    }
}

scivid_sdk::export_task!(VideoTask);
