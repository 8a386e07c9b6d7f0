//! Backbones: frozen video encoders that run natively (burn). A backbone maps
//! video [B, T, H, W, 3] in [0, 1] to features [B, T, N, D] and declares
//! its preprocessing so runs and caches can record it. One file per
//! family (`videomae`, `vjepa`, `fourds`, `dinov2`, `siglip`, `pixel`); `vit` holds their shared parts,
//! `weights` reads checkpoints; [`by_name`] builds one from a size name.

pub mod dinov2;
pub mod fourds;
pub mod kernel_block;
pub mod native;
mod pixel;
pub mod pytorch;
pub mod siglip;
pub mod videomae;
pub mod vit;
pub mod vjepa;
pub mod weights;

pub use pixel::PixelControl;

use crate::device::ComputeDevice;
use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor};
use dinov2::{Dinov2, Dinov2Config};
use fourds::{FourDs, FourDsConfig};
use siglip::{Siglip, SiglipConfig};
use std::path::Path;
use videomae::{VideoMae, VideoMaeConfig};
use vjepa::{VJepa, VJepaConfig};
use weights::Weights;

/// A frozen feature extractor.
pub trait Backbone {
    /// Stable name, e.g. `pixel`.
    fn name(&self) -> &str;
    /// Everything that changes the features (for provenance and caching).
    fn describe(&self) -> serde_json::Value;
    /// Feature shape for clips of `frames` x `height` x `width`.
    fn feature_shape(&self, frames: usize, height: usize, width: usize) -> Result<FeatureShape>;
    /// video [B, T, H, W, 3] -> features [B, T, N, D].
    fn forward(&self, video: Tensor<5>) -> Result<Tensor<4>>;
    /// Floating-point operations (2 per multiply-add) of one clip's forward
    /// pass, counted analytically, for GFLOP/s figures.
    fn flops(&self, frames: usize, height: usize, width: usize) -> f64 {
        let _ = (frames, height, width);
        0.0
    }
    /// Where its input must be (the CPU unless built for another device).
    fn device(&self) -> Device {
        Device::flex()
    }
}

/// A backbone whose weights live on a GPU: clips are sent there.
struct OnDevice {
    inner: Box<dyn Backbone>,
    device: Device,
    label: String,
}

impl Backbone for OnDevice {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn describe(&self) -> serde_json::Value {
        let mut d = self.inner.describe();
        d["device"] = serde_json::json!(self.label);
        d
    }
    fn feature_shape(&self, frames: usize, height: usize, width: usize) -> Result<FeatureShape> {
        self.inner.feature_shape(frames, height, width)
    }
    fn forward(&self, video: Tensor<5>) -> Result<Tensor<4>> {
        self.inner.forward(video)
    }
    fn flops(&self, frames: usize, height: usize, width: usize) -> f64 {
        self.inner.flops(frames, height, width)
    }
    fn device(&self) -> Device {
        self.device.clone()
    }
}

/// The shape of a backbone's features for one clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FeatureShape {
    pub time: usize,
    pub grid_h: usize,
    pub grid_w: usize,
    pub dim: usize,
}

impl FeatureShape {
    pub fn tokens(&self) -> usize {
        self.grid_h * self.grid_w
    }
}

/// A named model size.
pub struct Named {
    pub name: String,
    pub family: &'static str,
    pub about: String,
    kind: Kind,
}

enum Kind {
    Pixel(usize),
    VideoMae(VideoMaeConfig),
    VJepa(VJepaConfig),
    FourDs(FourDsConfig),
    Dinov2(Dinov2Config),
    Siglip(SiglipConfig),
}

/// Every backbone selectable by name. `*-tiny` models run with seeded
/// random weights when no checkpoint is given (for tests and demos).
pub fn catalogue() -> Vec<Named> {
    let vm = |dim, depth, heads| Kind::VideoMae(VideoMaeConfig::sized(dim, depth, heads));
    let vj = |dim, depth, heads| Kind::VJepa(VJepaConfig::sized(dim, depth, heads));
    let dn = |dim, depth, heads, reg| Kind::Dinov2(Dinov2Config::sized(dim, depth, heads, reg));
    let mut out = vec![
        Named {
            name: "pixel".into(),
            family: "pixel",
            about: "patch-averaged pixels, 16x16 patches (the control)".into(),
            kind: Kind::Pixel(16),
        },
        Named {
            name: "pixel8".into(),
            family: "pixel",
            about: "patch-averaged pixels, 8x8 patches".into(),
            kind: Kind::Pixel(8),
        },
        Named {
            name: "videomae-tiny".into(),
            family: "videomae",
            about: "VideoMAE, width 64, 4 blocks (random weights unless given)".into(),
            kind: vm(64, 4, 4),
        },
        Named {
            name: "videomae-s".into(),
            family: "videomae",
            about: "VideoMAE ViT-S/16, tubelet 2 (MCG-NJU/videomae-small-*)".into(),
            kind: vm(384, 12, 6),
        },
        Named {
            name: "videomae-b".into(),
            family: "videomae",
            about: "VideoMAE ViT-B/16, tubelet 2 (MCG-NJU/videomae-base)".into(),
            kind: vm(768, 12, 12),
        },
        Named {
            name: "videomae-l".into(),
            family: "videomae",
            about: "VideoMAE ViT-L/16, tubelet 2 (MCG-NJU/videomae-large)".into(),
            kind: vm(1024, 24, 16),
        },
        Named {
            name: "vjepa-tiny".into(),
            family: "vjepa",
            about: "V-JEPA, width 64, 4 blocks (random weights unless given)".into(),
            kind: vj(64, 4, 4),
        },
        Named {
            name: "vjepa-l".into(),
            family: "vjepa",
            about: "V-JEPA ViT-L/16, tubelet 2, 3-D sin-cos positions (jepa vitl16.pth.tar)".into(),
            kind: vj(1024, 24, 16),
        },
        Named {
            name: "vjepa-h".into(),
            family: "vjepa",
            about: "V-JEPA ViT-H/16, tubelet 2, 3-D sin-cos positions (jepa vith16.pth.tar)".into(),
            kind: vj(1280, 32, 16),
        },
        Named {
            name: "4ds-tiny".into(),
            family: "4ds",
            about: "4DS, width 64, 4 blocks (random weights unless given)".into(),
            kind: Kind::FourDs(FourDsConfig::sized(64, 4, 4)),
        },
        Named {
            name: "4ds-b".into(),
            family: "4ds",
            about:
                "4DS ViT-B, patch 2x16x16, learned positions (scaling4d_dist_b.npz, 4DS-B-dist-e)"
                    .into(),
            kind: Kind::FourDs(FourDsConfig::sized(768, 12, 12)),
        },
        Named {
            name: "dinov2-tiny".into(),
            family: "dinov2",
            about: "DINOv2, width 64, 4 blocks (random weights unless given)".into(),
            kind: dn(64, 4, 4, 0),
        },
    ];
    for (size, dim, depth, heads) in [
        ("s", 384, 12, 6),
        ("b", 768, 12, 12),
        ("l", 1024, 24, 16),
        ("g", 1536, 40, 24),
    ] {
        out.push(Named {
            name: format!("dinov2-{size}"),
            family: "dinov2",
            about: format!(
                "DINOv2 ViT-{}/14 per frame (facebook/dinov2-*)",
                size.to_uppercase()
            ),
            kind: dn(dim, depth, heads, 0),
        });
        out.push(Named {
            name: format!("dinov2-{size}-reg"),
            family: "dinov2",
            about: format!(
                "DINOv2 ViT-{}/14 with 4 registers (facebook/dinov2-with-registers-*)",
                size.to_uppercase()
            ),
            kind: dn(dim, depth, heads, 4),
        });
    }
    // (name, width, depth, heads, MLP, patch, image side of the table)
    for (size, dim, depth, heads, mlp, patch, image, about) in [
        (
            "tiny",
            64,
            4,
            4,
            256,
            16,
            224,
            "SigLIP, width 64, 4 blocks (random weights unless given)",
        ),
        (
            "b",
            768,
            12,
            12,
            3072,
            16,
            224,
            "SigLIP ViT-B/16 per frame (google/siglip-base-patch16-224)",
        ),
        (
            "l",
            1024,
            24,
            16,
            4096,
            16,
            256,
            "SigLIP ViT-L/16 per frame (google/siglip-large-patch16-256)",
        ),
        (
            "so400m",
            1152,
            27,
            16,
            4304,
            14,
            384,
            "SigLIP So400m/14 per frame (google/siglip-so400m-patch14-384)",
        ),
    ] {
        out.push(Named {
            name: format!("siglip-{size}"),
            family: "siglip",
            about: about.into(),
            kind: Kind::Siglip(SiglipConfig {
                dim,
                depth,
                heads,
                mlp,
                patch,
                image,
                eps: 1e-6,
            }),
        });
    }
    out
}

/// Number of blocks of the named backbone (0 for the pixel control).
pub fn depth_of(name: &str) -> Result<usize> {
    match catalogue()
        .into_iter()
        .find(|n| n.name == name)
        .map(|n| n.kind)
    {
        Some(Kind::VideoMae(c)) => Ok(c.depth),
        Some(Kind::VJepa(c)) => Ok(c.depth),
        Some(Kind::FourDs(c)) => Ok(c.depth),
        Some(Kind::Siglip(c)) => Ok(c.depth),
        Some(Kind::Dinov2(c)) => Ok(c.depth),
        Some(Kind::Pixel(_)) => Ok(0),
        None => bail!("unknown backbone `{name}` (`scivid backbones list`)"),
    }
}

/// Which backbone a run uses.
#[derive(Debug, Clone, PartialEq)]
pub struct BackboneSpec {
    pub name: String,
    /// Checkpoint (safetensors, Hugging Face names); required by real sizes.
    pub weights: Option<std::path::PathBuf>,
    /// SciVid's `readout_depth_fraction` (0.95 by default).
    pub depth_fraction: f64,
    /// Run exactly this many blocks instead (benchmarks run them all).
    pub layer: Option<usize>,
    /// Seeded random weights when no checkpoint is given (benchmarks:
    /// speed does not depend on the values).
    pub random_weights: bool,
    /// A trusted native backbone library (`--backbone-lib`), used instead of `name`.
    pub library: Option<std::path::PathBuf>,
    /// Where a built-in backbone runs (`--device`).
    pub device: ComputeDevice,
}

/// Build the backbone `name`, loading `weights` when given.
pub fn by_name(name: &str) -> Result<Box<dyn Backbone>> {
    build(&BackboneSpec {
        name: name.to_string(),
        weights: None,
        depth_fraction: DEFAULT_DEPTH_FRACTION,
        layer: None,
        random_weights: false,
        library: None,
        device: ComputeDevice::Cpu,
    })
}

pub const DEFAULT_DEPTH_FRACTION: f64 = 0.95;

pub fn build(spec: &BackboneSpec) -> Result<Box<dyn Backbone>> {
    if let Some(lib) = &spec.library {
        if spec.device != ComputeDevice::Cpu {
            bail!(
                "--device {} applies to built-in backbones; a native backbone library runs its own code on raw buffers",
                spec.device
            );
        }
        return Ok(Box::new(native::load(lib)?));
    }
    let device = spec.device.burn()?;
    let inner = build_on(spec, device.clone())?;
    Ok(match spec.device {
        ComputeDevice::Cpu => inner,
        other => Box::new(OnDevice {
            inner,
            device,
            label: other.to_string(),
        }),
    })
}

fn build_on(spec: &BackboneSpec, device: Device) -> Result<Box<dyn Backbone>> {
    let all = catalogue();
    let Some(n) = all.iter().find(|n| n.name == spec.name) else {
        bail!(
            "unknown backbone `{}` (available: {}; `scivid backbones list` describes them)",
            spec.name,
            all.iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let weights = |what: &str| -> Result<Weights> {
        match &spec.weights {
            Some(p) => Ok(load_weights(p)?.on(device.clone())),
            None if n.name.ends_with("-tiny") || spec.random_weights => {
                Ok(Weights::random(0).on(device.clone()))
            }
            None => bail!(
                "backbone `{}` needs its checkpoint: --weights FILE ({what})",
                n.name
            ),
        }
    };
    let layer = |depth: usize| match spec.layer {
        Some(l) if l > depth => bail!("backbone `{}` has {depth} blocks, not {l}", n.name),
        Some(l) => Ok(l),
        None => vit::layer_for_fraction(depth, spec.depth_fraction),
    };
    Ok(match &n.kind {
        Kind::Pixel(p) => {
            if spec.weights.is_some() {
                bail!("backbone `{}` has no weights", n.name);
            }
            Box::new(PixelControl::new(*p))
        }
        Kind::VideoMae(cfg) => {
            let layer = layer(cfg.depth)?;
            Box::new(VideoMae::load(
                &n.name,
                *cfg,
                weights("Hugging Face safetensors or PyTorch .bin of VideoMAE")?,
                layer,
            )?)
        }
        Kind::VJepa(cfg) => {
            let layer = layer(cfg.depth)?;
            Box::new(VJepa::load(
                &n.name,
                *cfg,
                weights("the official V-JEPA .pth.tar, or safetensors with its names")?,
                layer,
            )?)
        }
        Kind::FourDs(cfg) => {
            let layer = layer(cfg.depth)?;
            Box::new(FourDs::load(
                &n.name,
                *cfg,
                weights("the released 4DS .npz")?,
                layer,
            )?)
        }
        Kind::Siglip(cfg) => {
            let layer = layer(cfg.depth)?;
            Box::new(Siglip::load(
                &n.name,
                *cfg,
                weights("Hugging Face safetensors of SigLIP (the full model or its vision tower)")?,
                layer,
            )?)
        }
        Kind::Dinov2(cfg) => {
            let layer = layer(cfg.depth)?;
            Box::new(Dinov2::load(
                &n.name,
                *cfg,
                weights("Hugging Face safetensors or PyTorch .bin of DINOv2")?,
                layer,
            )?)
        }
    })
}

/// A checkpoint: safetensors, PyTorch zip (`.bin`, `.pt`, `.pth`) or `.npz`.
pub fn load_weights(path: &Path) -> Result<Weights> {
    Weights::load(path).with_context(|| format!("loading backbone weights {}", path.display()))
}

/// `scivid backbones inspect FILE`: which family and size a checkpoint is,
/// and whether the named backbone of that size loads from it.
pub fn inspect(path: &Path) -> Result<String> {
    let w = load_weights(path)?;
    let shapes: Vec<(String, Vec<usize>)> = w
        .shapes()
        .map(|(n, s)| (n.to_string(), s.to_vec()))
        .collect();
    let params: usize = shapes
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    let find = |suffix: &str| {
        shapes
            .iter()
            .find(|(n, _)| n.ends_with(suffix))
            .map(|(_, s)| s.clone())
    };
    // Blocks are `encoder.layer.N.` (Hugging Face), `encoder.layers.N.`
    // (SigLIP's vision tower; not its text tower), `blocks.N.` (V-JEPA) or
    // `processor/layers_N/` (4DS).
    let depth = shapes
        .iter()
        .filter(|(n, _)| !n.starts_with("text_model."))
        .filter_map(|(n, _)| {
            [
                "encoder.layer.",
                "encoder.layers.",
                "blocks.",
                "processor/layers_",
            ]
            .iter()
            .find_map(|marker| {
                let rest = n.split(marker).nth(1)?;
                rest.split(['.', '/']).next()?.parse::<usize>().ok()
            })
        })
        .max()
        .map(|d| d + 1)
        .unwrap_or(0);
    let mut out = format!(
        "file        {}\nsha256      {}\ntensors     {}\nparameters  {params}\n",
        path.display(),
        w.provenance()["sha256"].as_str().unwrap_or("-"),
        shapes.len()
    );
    let proj = find("embeddings.patch_embeddings.projection.weight");
    let (family, dim, registers) = match (&proj, find("embeddings.cls_token")) {
        (Some(p), None) if p.len() == 5 => {
            out.push_str(&format!(
                "family      videomae (tubelet {} x {} x {})\n",
                p[2], p[3], p[4]
            ));
            ("videomae", p[0], 0)
        }
        (Some(p), Some(_)) if p.len() == 4 => {
            let reg = find("embeddings.register_tokens")
                .map(|s| s[1])
                .unwrap_or(0);
            out.push_str(&format!(
                "family      dinov2 (patch {} x {}, {reg} registers)\n",
                p[2], p[3]
            ));
            ("dinov2", p[0], reg)
        }
        _ if find("embeddings.patch_embedding.weight").is_some_and(|p| p.len() == 4) => {
            let p = find("embeddings.patch_embedding.weight").unwrap_or_default();
            out.push_str(&format!("family      siglip (patch {} x {})\n", p[2], p[3]));
            ("siglip", p[0], 0)
        }
        _ if find("encoder/patch_embedding/Conv_0/kernel").is_some_and(|p| p.len() == 5) => {
            let p = find("encoder/patch_embedding/Conv_0/kernel").unwrap_or_default();
            out.push_str(&format!(
                "family      4ds (patch {} x {} x {})\n",
                p[0], p[1], p[2]
            ));
            ("4ds", p[4], 0)
        }
        _ if find("patch_embed.proj.weight").is_some_and(|p| p.len() == 5) => {
            let p = find("patch_embed.proj.weight").unwrap_or_default();
            out.push_str(&format!(
                "family      vjepa (tubelet {} x {} x {})\n",
                p[2], p[3], p[4]
            ));
            ("vjepa", p[0], 0)
        }
        _ => {
            out.push_str(
                "family      unknown (no VideoMAE, V-JEPA or DINOv2 patch embedding found)\n",
            );
            return Ok(out);
        }
    };
    out.push_str(&format!("width       {dim}\nblocks      {depth}\n"));
    let candidates: Vec<Named> = catalogue()
        .into_iter()
        .filter(|n| match &n.kind {
            Kind::VideoMae(c) => family == "videomae" && c.dim == dim && c.depth == depth,
            Kind::VJepa(c) => family == "vjepa" && c.dim == dim && c.depth == depth,
            Kind::FourDs(c) => family == "4ds" && c.dim == dim && c.depth == depth,
            Kind::Siglip(c) => family == "siglip" && c.dim == dim && c.depth == depth,
            Kind::Dinov2(c) => {
                family == "dinov2" && c.dim == dim && c.depth == depth && c.registers == registers
            }
            Kind::Pixel(_) => false,
        })
        .collect();
    if candidates.is_empty() {
        out.push_str("named size  none matches (width and depth)\n");
    }
    for n in candidates {
        let spec = BackboneSpec {
            name: n.name.clone(),
            weights: Some(path.to_path_buf()),
            depth_fraction: DEFAULT_DEPTH_FRACTION,
            layer: None,
            random_weights: false,
            library: None,
            device: ComputeDevice::Cpu,
        };
        let verdict = match build(&spec) {
            Ok(_) => "loads".to_string(),
            Err(e) => format!("does not load: {e:#}"),
        };
        out.push_str(&format!("named size  {}: {verdict}\n", n.name));
    }
    Ok(out)
}
