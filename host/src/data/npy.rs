//! A small reader and writer for NumPy `.npy` files (format 1.0-3.0,
//! C order, little-endian `u1` and `f4`), enough for video clips and arrays.
//! Every error names the file and what was wrong.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// Element types this reader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    U8,
    F32,
}

impl Dtype {
    fn descr(self) -> &'static str {
        match self {
            Dtype::U8 => "|u1",
            Dtype::F32 => "<f4",
        }
    }
    fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
        }
    }
}

/// An array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Raw little-endian element bytes, row-major.
    pub data: Vec<u8>,
}

impl NpyArray {
    pub fn as_f32(&self) -> Vec<f32> {
        match self.dtype {
            Dtype::U8 => self.data.iter().map(|&b| b as f32).collect(),
            Dtype::F32 => self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        }
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parse `.npy` bytes; `what` names the source in errors.
pub fn parse(bytes: &[u8], what: &str) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        bail!("{what}: not a .npy file (bad magic)");
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                bail!("{what}: truncated .npy header");
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => bail!("{what}: unsupported .npy format version {v}"),
    };
    let header = bytes
        .get(start..start + header_len)
        .with_context(|| format!("{what}: truncated .npy header"))?;
    let header =
        std::str::from_utf8(header).with_context(|| format!("{what}: .npy header is not text"))?;
    let descr =
        dict_value(header, "descr").with_context(|| format!("{what}: .npy header has no descr"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = match descr {
        "|u1" | "<u1" | "u1" => Dtype::U8,
        "<f4" | "f4" => Dtype::F32,
        other => {
            bail!("{what}: dtype {other} is not supported (expected uint8 |u1 or float32 <f4)")
        }
    };
    let fortran = dict_value(header, "fortran_order")
        .with_context(|| format!("{what}: .npy header has no fortran_order"))?;
    if fortran.trim() != "False" {
        bail!("{what}: Fortran-ordered arrays are not supported");
    }
    let shape_text =
        dict_value(header, "shape").with_context(|| format!("{what}: .npy header has no shape"))?;
    let shape: Vec<usize> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .with_context(|| format!("{what}: bad shape entry `{s}`"))
        })
        .collect::<Result<_>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .with_context(|| format!("{what}: shape overflows"))?;
    let need = count
        .checked_mul(dtype.size())
        .with_context(|| format!("{what}: shape overflows"))?;
    let data = &bytes[start + header_len..];
    if data.len() != need {
        bail!(
            "{what}: holds {} data bytes, but shape {shape:?} of {descr} needs {need} (truncated or corrupt)",
            data.len()
        );
    }
    Ok(NpyArray {
        dtype,
        shape,
        data: data.to_vec(),
    })
}

/// The text of `key`'s value in the header's Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(&rest[..end])
}

pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&bytes, &path.display().to_string())
}

/// Serialise as `.npy` version 1.0.
pub fn to_bytes(dtype: Dtype, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_text = match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}",
        dtype.descr()
    );
    // Pad so the data starts on a 64-byte boundary, as numpy does.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

pub fn write_u8(path: &Path, shape: &[usize], data: &[u8]) -> Result<()> {
    std::fs::write(path, to_bytes(Dtype::U8, shape, data))
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, to_bytes(Dtype::F32, shape, &bytes))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let data: Vec<u8> = (0..24).collect();
        let bytes = to_bytes(Dtype::U8, &[2, 3, 4], &data);
        assert_eq!(
            (bytes.len() - data.len()) % 64,
            0,
            "data starts on a 64-byte boundary"
        );
        let a = parse(&bytes, "x.npy").unwrap();
        assert_eq!(a.shape, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        let err = parse(&bytes[..bytes.len() - 1], "x.npy")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.npy") && err.contains("truncated"), "{err}");
        let f = to_bytes(Dtype::F32, &[1], &1.5f32.to_le_bytes());
        assert_eq!(parse(&f, "f").unwrap().as_f32(), vec![1.5]);
    }
}
