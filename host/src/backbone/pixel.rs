//! The pixel control (upstream `mock_model`): patch-averaged pixels, no
//! learned weights. A readout on it measures what raw pixels already give.

use super::{Backbone, FeatureShape};
use anyhow::{Result, bail};
use burn::tensor::Tensor;

pub struct PixelControl {
    patch: usize,
}

impl PixelControl {
    pub fn new(patch: usize) -> Self {
        PixelControl { patch }
    }
}

impl Backbone for PixelControl {
    fn name(&self) -> &str {
        "pixel"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({"backbone": "pixel", "patch": self.patch, "preprocessing": "pixels in [0,1], no normalisation"})
    }

    fn feature_shape(&self, frames: usize, height: usize, width: usize) -> Result<FeatureShape> {
        let p = self.patch;
        if !height.is_multiple_of(p) || !width.is_multiple_of(p) {
            bail!(
                "pixel backbone: frame size {height}x{width} is not a multiple of its patch size {p}"
            );
        }
        Ok(FeatureShape {
            time: frames,
            grid_h: height / p,
            grid_w: width / p,
            dim: 3,
        })
    }

    fn forward(&self, video: Tensor<5>) -> Result<Tensor<4>> {
        let [b, t, h, w, c] = video.dims();
        let s = self.feature_shape(t, h, w)?;
        let p = self.patch;
        let patches: Tensor<7> = video.reshape([b * t, s.grid_h, p, s.grid_w, p, c, 1]);
        let pooled = patches.mean_dim(2).mean_dim(4);
        Ok(pooled.reshape([b, t, s.tokens(), c]))
    }
}
