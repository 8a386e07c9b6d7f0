//! `dpt`: SciVid's dense readout for forecasting (WeatherBench 2), a Dense
//! Prediction Transformer decoder. The last frame of the features, as a
//! token grid [B, h, w, D], feeds four reassemble blocks (a 1x1 conv to
//! `dims`, then a 3x3 conv: transposed x4, transposed x2, x1, stride 2);
//! four fusion blocks (residual conv units, x2 bilinear upsampling, a 1x1
//! conv) merge them from the coarsest up to 8h x 8w; a 3x3 conv to
//! `intermediate` channels, a bilinear resize to the target grid and a
//! zero-initialised 1x1 conv give every lead and channel at once.
//! Output [B, T, C, H, W] for a target shape [T, C, H, W] (SciVid's
//! `'b h w (t c) -> b t h w c'`, channels before the grid as the task lays
//! its targets out). SciVid's WB2 head: dims 1024, intermediate 512.
//!
//! Options: dims (1024), intermediate (512).

use scivid_sdk::nn::Conv;
use scivid_sdk::{Config, FeatureSpec, Init, Readout, ReadoutInfo, Result, Tensor, bail};

/// Reassemble: the token grid to one scale of the feature pyramid.
struct Reassemble {
    project: Conv,
    resample: Conv,
}

impl Reassemble {
    /// `scale` is the block's resolution relative to the token grid, in
    /// quarters: 4 = x4 (transposed), 2 = x2 (transposed), 1 = x1, 0 = /2.
    fn new(name: &str, dim: u32, dims: u32, scale: u32) -> Result<Self> {
        let project = Conv::new(&format!("{name}.conv_resample_0"), dim, dims, 1, 1)?;
        let resample_name = format!("{name}.conv_resample_1");
        let resample = match scale {
            4 | 2 => Conv::transposed(&resample_name, dims, dims, 3, scale)?,
            1 => Conv::new(&resample_name, dims, dims, 3, 1)?,
            _ => Conv::new(&resample_name, dims, dims, 3, 2)?,
        };
        Ok(Reassemble { project, resample })
    }

    fn apply(&self, grid: &Tensor) -> Result<Tensor> {
        self.resample.apply(&self.project.apply(grid)?)
    }
}

/// Two 3x3 convs with ReLU before each, plus the input.
struct ResidualUnit(Conv, Conv);

impl ResidualUnit {
    fn new(name: &str, first: &str, dims: u32) -> Result<Self> {
        Ok(ResidualUnit(
            Conv::new(&format!("{name}.conv_fusion_{first}_0"), dims, dims, 3, 1)?,
            Conv::new(&format!("{name}.conv_fusion_{first}_1"), dims, dims, 3, 1)?,
        ))
    }

    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.0.apply(&x.relu())?;
        self.1.apply(&y.relu())?.add(x)
    }
}

/// Fusion: add the reassembled scale (through a residual unit), refine,
/// upsample x2, project.
struct Fusion {
    skip: Option<ResidualUnit>,
    refine: ResidualUnit,
    out: Conv,
}

impl Fusion {
    fn new(name: &str, dims: u32, with_skip: bool) -> Result<Self> {
        Ok(Fusion {
            skip: with_skip
                .then(|| ResidualUnit::new(name, "0", dims))
                .transpose()?,
            refine: ResidualUnit::new(name, "1", dims)?,
            out: Conv::new(&format!("{name}.conv_fusion_out"), dims, dims, 1, 1)?,
        })
    }

    fn apply(&self, x: &Tensor, reassembled: Option<&Tensor>) -> Result<Tensor> {
        let summed;
        let x = match (&self.skip, reassembled) {
            (Some(unit), Some(r)) => {
                summed = x.add(&unit.apply(r)?)?;
                &summed
            }
            _ => x,
        };
        let x = self.refine.apply(x)?;
        let s = x.shape();
        self.out.apply(&x.resize_bilinear(2 * s[1], 2 * s[2])?)
    }
}

struct Dpt {
    grid: (u32, u32),
    /// Target [T, C, H, W].
    target: [u32; 4],
    reassemble: [Reassemble; 4],
    fusion: [Fusion; 4],
    head: Conv,
    last: Conv,
}

impl Readout for Dpt {
    fn info() -> ReadoutInfo {
        ReadoutInfo {
            name: "dpt".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Dense prediction transformer decoder (SciVid's WeatherBench 2 head): \
                          the last frame's token grid to every lead and channel of a target grid"
                .into(),
            options: [("dims", "1024"), ("intermediate", "512")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn init(config: &Config, f: FeatureSpec, output_shape: &[u32]) -> Result<Self> {
        config.check_known(&["dims", "intermediate"])?;
        let dims: u32 = config.parse_or("dims", 1024)?;
        let intermediate: u32 = config.parse_or("intermediate", 512)?;
        let &[t, c, h, w] = output_shape else {
            bail!(
                "the dpt head predicts grids [leads, channels, lat, lon]; this task wants {output_shape:?}"
            );
        };
        let (gh, gw) = (f.grid_h, f.grid_w);
        if gh * gw != f.tokens || gh % 2 != 0 || gw % 2 != 0 {
            bail!(
                "the dpt head needs an even token grid (h x w = tokens); the backbone gives {gh} x {gw} for {} tokens",
                f.tokens
            );
        }
        if dims == 0 || intermediate == 0 {
            bail!("dims and intermediate must be positive");
        }
        let d = f.dim;
        Ok(Dpt {
            grid: (gh, gw),
            target: [t, c, h, w],
            // Finest first: x4, x2, x1, /2 (SciVid's ReassembleBlock4..32).
            reassemble: [
                Reassemble::new("reassemble4", d, dims, 4)?,
                Reassemble::new("reassemble8", d, dims, 2)?,
                Reassemble::new("reassemble16", d, dims, 1)?,
                Reassemble::new("reassemble32", d, dims, 0)?,
            ],
            fusion: [
                Fusion::new("fusion4", dims, true)?,
                Fusion::new("fusion8", dims, true)?,
                Fusion::new("fusion16", dims, true)?,
                Fusion::new("fusion32", dims, false)?,
            ],
            head: Conv::new("conv_head_0", dims, intermediate, 3, 1)?,
            last: Conv::with_init("conv_head_2", intermediate, t * c, 1, 1, Init::Zeros)?,
        })
    }

    fn forward(&self, features: &Tensor, _train: bool) -> Result<Tensor> {
        let s = features.shape();
        let (b, time) = (s[0] as i64, s[1]);
        let (gh, gw) = (self.grid.0 as i64, self.grid.1 as i64);
        // The last frame's tokens as an image [B, h, w, D].
        let grid = features
            .slice(1, time - 1, time)?
            .reshape(&[b, gh, gw, -1])?;
        let [r4, r8, r16, r32] = &self.reassemble;
        let [u4, u8, u16, u32] = &self.fusion;
        let x = u32.apply(&r32.apply(&grid)?, None)?;
        let x = u16.apply(&x, Some(&r16.apply(&grid)?))?;
        let x = u8.apply(&x, Some(&r8.apply(&grid)?))?;
        let x = u4.apply(&x, Some(&r4.apply(&grid)?))?;
        let [t, c, h, w] = self.target.map(|v| v as i64);
        let x = self.head.apply(&x)?.resize_bilinear(h as u32, w as u32)?;
        // [B, H, W, (T C)] -> [B, T, C, H, W]
        self.last
            .apply(&x)?
            .reshape(&[b, h, w, t, c])?
            .permute(&[0, 3, 4, 1, 2])
    }
}

scivid_sdk::export_readout!(Dpt);
