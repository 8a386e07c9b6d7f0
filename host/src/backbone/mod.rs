//! Backbones: frozen video encoders that run natively (burn). A backbone maps
//! video [B, T, H, W, 3] in [0, 1] to features [B, T, N, D] and declares
//! its preprocessing so runs and caches can record it.

mod pixel;

pub use pixel::PixelControl;

use anyhow::{Result, bail};
use burn::tensor::Tensor;

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

/// Backbones selectable by name.
pub fn by_name(name: &str) -> Result<Box<dyn Backbone>> {
    match name {
        // Patch 16: the token grid of a ViT-B/16 (14x14 at 224^2).
        "pixel" => Ok(Box::new(PixelControl::new(16))),
        "pixel8" => Ok(Box::new(PixelControl::new(8))),
        other => bail!("unknown backbone `{other}` (available: pixel, pixel8)"),
    }
}
