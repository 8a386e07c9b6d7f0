//! `tracking`: SciVid's point-tracking readout (the STIR head). Each query
//! point (x, y) of the extra input `queries` [B, Q, 2] becomes Fourier
//! features (`bases` frequencies, sin and cos: 4 x bases values), then an
//! MLP (`embed` wide, GELU); each embedded query is tiled `tiles` times
//! with a learned tile embedding (std 0.02), and the Q x tiles queries
//! attend over the features in SciVid's cross-attention probe (width,
//! heads), whose output holds, per tile, T/tiles frames of C channels.
//! Output [B, T, Q, C] for a target shape [T, Q, C]: the first C-2
//! channels (the position) through a sigmoid, then a visibility logit and a
//! certainty logit. The task's loss decides how they are trained (SciVid:
//! Huber on positions, BCE on visibility, TAPIR's certainty BCE).
//!
//! Options: width (1024), heads (8), tiles (8), bases (16), embed (512),
//! dropout (0.0), eps (1e-6), queries (the extra's name, `queries`).

use scivid_sdk::nn::{CrossAttention, Dense, Mlp, Queries, fourier_features};
use scivid_sdk::{Config, Extras, FeatureSpec, Init, Readout, ReadoutInfo, Result, Tensor, bail};

struct Tracking {
    frames: u32,
    points: u32,
    channels: u32,
    tiles: u32,
    bases: u32,
    extra: String,
    embed: Mlp,
    tile_pos: Tensor,
    query_proj: Dense,
    probe: CrossAttention,
}

impl Readout for Tracking {
    fn info() -> ReadoutInfo {
        ReadoutInfo {
            name: "tracking".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Point tracking (SciVid STIR): Fourier-embedded query points, tiled \
                          over time, read out by cross-attention; positions, visibility and \
                          certainty per frame"
                .into(),
            options: [
                ("width", "1024"),
                ("heads", "8"),
                ("tiles", "8"),
                ("bases", "16"),
                ("embed", "512"),
                ("dropout", "0.0"),
                ("eps", "1e-6"),
                ("queries", "queries"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }

    fn init(config: &Config, f: FeatureSpec, output_shape: &[u32]) -> Result<Self> {
        config.check_known(&[
            "width", "heads", "tiles", "bases", "embed", "dropout", "eps", "queries",
        ])?;
        let width: u32 = config.parse_or("width", 1024)?;
        let heads: u32 = config.parse_or("heads", 8)?;
        let tiles: u32 = config.parse_or("tiles", 8)?;
        let bases: u32 = config.parse_or("bases", 16)?;
        let embed: u32 = config.parse_or("embed", 512)?;
        let dropout: f32 = config.parse_or("dropout", 0.0)?;
        let eps: f32 = config.parse_or("eps", 1e-6)?;
        let extra: String = config.parse_or("queries", "queries".to_string())?;
        let &[frames, points, channels] = output_shape else {
            bail!(
                "the tracking head predicts [frames, points, channels]; this task wants {output_shape:?}"
            );
        };
        if channels < 3 {
            bail!("{channels} channels: the head needs a position and two logits (>= 3)");
        }
        if tiles == 0 || !frames.is_multiple_of(tiles) {
            bail!("tiles {tiles} must divide the task's {frames} frames");
        }
        if !(1..=24).contains(&bases) || embed == 0 {
            bail!("bases must be in 1..=24 and embed >= 1");
        }
        let outputs = channels * frames / tiles;
        Ok(Tracking {
            frames,
            points,
            channels,
            tiles,
            bases,
            extra,
            embed: Mlp::new("query_mlp", 4 * bases, embed, embed)?,
            tile_pos: Tensor::param("tile_pos", &[tiles, embed], Init::Normal(0.02))?,
            query_proj: Dense::new("query_proj", embed, width, Init::LecunNormal)?,
            probe: CrossAttention::new(f, width, heads, dropout, outputs, eps, Queries::Supplied)?,
        })
    }

    fn forward(&self, _features: &Tensor, _train: bool) -> Result<Tensor> {
        bail!(
            "the tracking head needs the task's query points (extra `{}`)",
            self.extra
        )
    }

    fn forward_with(&self, features: &Tensor, extras: &Extras, train: bool) -> Result<Tensor> {
        let q = extras.get(&self.extra)?;
        let qs = q.shape();
        if qs.len() != 3 || qs[1] != self.points || qs[2] != 2 {
            bail!(
                "extra `{}` has shape {qs:?}; expected [B, {}, 2]",
                self.extra,
                self.points
            );
        }
        let (b, n, k) = (qs[0] as i64, self.points as i64, self.tiles as i64);
        let e = self.embed.apply(&fourier_features(q, self.bases)?)?; // [B, Q, E]
        // Tile each query in time: [B, Q, 1, E] + [tiles, E] -> [B, Q*tiles, E]
        let e = e.reshape(&[b, n, 1, -1])?.add(&self.tile_pos)?;
        let e = e.reshape(&[b, n * k, -1])?;
        let out = self
            .probe
            .apply(features, Some(&self.query_proj.apply(&e)?), train)?;
        // [B, Q*tiles, (T/tiles)*C] -> [B, Q, T, C] -> [B, T, Q, C]
        let c = self.channels as i64;
        let out = out
            .reshape(&[b, n, self.frames as i64, c])?
            .permute(&[0, 2, 1, 3])?;
        let position = out.slice(3, 0, self.channels - 2)?.sigmoid();
        let logits = out.slice(3, self.channels - 2, self.channels)?;
        Tensor::concat(&[&position, &logits], 3)
    }
}

scivid_sdk::export_readout!(Tracking);
