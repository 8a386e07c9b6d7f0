//! `motion-energy`: a native backbone that needs no weights. For each 8x8
//! patch of each frame: the mean colour (3 values) and the mean absolute
//! change from the previous frame (3 values), so a linear readout on it can
//! see where things move. Build with `cargo build --release` here, then
//! `scivid run --backbone-lib target/release/libmotion_energy.so ...`.

use scivid_backbone_abi::NativeBackbone;

const PATCH: u32 = 8;

struct MotionEnergy;

impl NativeBackbone for MotionEnergy {
    fn name() -> &'static str {
        "motion-energy"
    }

    fn describe() -> String {
        format!(r#"{{"patch": {PATCH}, "features": "patch mean colour, mean |frame change|"}}"#)
    }

    fn feature_shape(frames: u32, height: u32, width: u32) -> Result<[u32; 4], String> {
        if !height.is_multiple_of(PATCH) || !width.is_multiple_of(PATCH) {
            return Err(format!(
                "frames of {height}x{width} are not a multiple of {PATCH}"
            ));
        }
        Ok([frames, height / PATCH, width / PATCH, 6])
    }

    fn forward(video: &[f32], dims: [u32; 5], out: &mut [f32]) -> Result<(), String> {
        let [b, t, h, w, c] = dims.map(|d| d as usize);
        if c != 3 || video.len() != b * t * h * w * c {
            return Err(format!(
                "video of {} values does not match {dims:?}",
                video.len()
            ));
        }
        let p = PATCH as usize;
        let (gh, gw) = (h / p, w / p);
        if out.len() != b * t * gh * gw * 6 {
            return Err(format!("output buffer of {} values", out.len()));
        }
        let at = |bi: usize, ti: usize, y: usize, x: usize, ch: usize| {
            video[(((bi * t + ti) * h + y) * w + x) * c + ch]
        };
        let norm = (p * p) as f32;
        for bi in 0..b {
            for ti in 0..t {
                for gy in 0..gh {
                    for gx in 0..gw {
                        let o = (((bi * t + ti) * gh + gy) * gw + gx) * 6;
                        for ch in 0..3 {
                            let (mut mean, mut change) = (0.0, 0.0);
                            for y in gy * p..(gy + 1) * p {
                                for x in gx * p..(gx + 1) * p {
                                    let v = at(bi, ti, y, x, ch);
                                    mean += v;
                                    if ti > 0 {
                                        change += (v - at(bi, ti - 1, y, x, ch)).abs();
                                    }
                                }
                            }
                            out[o + ch] = mean / norm;
                            out[o + 3 + ch] = change / norm;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(not(feature = "wrong-abi"))]
scivid_backbone_abi::export_backbone!(MotionEnergy);
#[cfg(feature = "wrong-abi")]
scivid_backbone_abi::__export_backbone_with_version!(MotionEnergy, b"2.0.0\0");
