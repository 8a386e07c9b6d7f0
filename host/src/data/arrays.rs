//! One named array out of a multi-array file: a NumPy `.npz` (a zip of
//! `.npy` files) or a safetensors file, as f32 values with its shape. Only
//! the named member is decoded. Also the dtype conversion of safetensors
//! views that the checkpoint loader shares.

use super::npy;
use anyhow::{Context, Result, bail};

/// A named array's shape and values.
pub struct Member {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Member `name` of the `.npz` in `bytes` (stored as `name.npy`); `source`
/// names the file in errors.
pub fn npz_member(bytes: &[u8], source: &str, name: &str) -> Result<Member> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .with_context(|| format!("{source}: not an .npz (zip) file, or truncated"))?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let entry = format!("{name}.npy");
    let Ok(mut f) = zip.by_name(&entry) else {
        bail!(
            "{source}: no array `{name}` (it holds {})",
            names
                .iter()
                .map(|n| format!("`{}`", n.trim_end_matches(".npy")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let mut buf = vec![];
    f.read_to_end(&mut buf)
        .with_context(|| format!("{source}: array `{name}`"))?;
    let a = npy::parse(&buf, &format!("{source}: array `{name}`"))?;
    Ok(Member {
        values: a.as_f32(),
        shape: a.shape,
    })
}

/// Tensor `name` of the safetensors file in `bytes`.
pub fn safetensors_member(bytes: &[u8], source: &str, name: &str) -> Result<Member> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .with_context(|| format!("{source}: not a safetensors file (or truncated)"))?;
    let view = st.tensor(name).with_context(|| {
        format!(
            "{source}: no tensor `{name}` (it holds {})",
            st.names()
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    Ok(Member {
        shape: view.shape().to_vec(),
        values: safetensors_values(&view, &format!("{source}: tensor `{name}`"))?,
    })
}

/// A safetensors view's values as f32 (f32, f16, bf16, f64 and 8-bit
/// integers; others are refused naming `what` and the dtype).
pub fn safetensors_values(
    view: &safetensors::tensor::TensorView<'_>,
    what: &str,
) -> Result<Vec<f32>> {
    use safetensors::Dtype;
    let data = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
            .collect(),
        Dtype::U8 => data.iter().map(|&b| b as f32).collect(),
        Dtype::I8 => data.iter().map(|&b| b as i8 as f32).collect(),
        other => bail!("{what}: dtype {other:?} (expected f32, f64, f16, bf16, u8 or i8)"),
    })
}
