//! Writing Zarr v3 stores (the synthetic datasets' format): a group with
//! arrays in C order, `bytes` (little endian) then `zstd`, default chunk
//! keys (`c/0/1/...`). zarr-python opens what this writes.

use super::codecs::zstd_compress;
use anyhow::{Result, ensure};
use serde_json::json;
use std::path::Path;

/// Element types the writer knows.
#[derive(Debug, Clone, Copy)]
pub enum Elem {
    F32,
    I64,
}

/// Make `store` a Zarr v3 group (its `zarr.json`).
pub fn group(store: &Path) -> Result<()> {
    let meta = json!({"zarr_format": 3, "node_type": "group", "attributes": {}});
    crate::files::write_atomic(&store.join("zarr.json"), meta.to_string().as_bytes())
}

/// Write array `name` of `store`: `values` (as f64, cast to `elem`) in C
/// order with shape `shape`, cut into chunks of `chunks`.
pub fn array(
    store: &Path,
    name: &str,
    shape: &[usize],
    chunks: &[usize],
    elem: Elem,
    values: &[f64],
) -> Result<()> {
    ensure!(
        shape.len() == chunks.len(),
        "{name}: shape and chunks differ in rank"
    );
    ensure!(
        values.len() == shape.iter().product::<usize>(),
        "{name}: {} values for shape {shape:?}",
        values.len()
    );
    let dir = store.join(name);
    let data_type = match elem {
        Elem::F32 => "float32",
        Elem::I64 => "int64",
    };
    let meta = json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [
            {"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "zstd", "configuration": {"level": 1, "checksum": false}},
        ],
        "attributes": {},
    });
    let rank = shape.len();
    let grid: Vec<usize> = shape
        .iter()
        .zip(chunks)
        .map(|(s, c)| s.div_ceil(*c))
        .collect();
    let strides: Vec<usize> = (0..rank).map(|a| shape[a + 1..].iter().product()).collect();
    let per_chunk: usize = chunks.iter().product();
    let mut coords = vec![0usize; rank];
    for _ in 0..grid.iter().product::<usize>() {
        // One chunk, padded with the fill value past the array's edge.
        let mut bytes = Vec::with_capacity(per_chunk * 8);
        let mut inner = vec![0usize; rank];
        for _ in 0..per_chunk {
            let mut at = Some(0usize);
            for a in 0..rank {
                let i = coords[a] * chunks[a] + inner[a];
                at = at.filter(|_| i < shape[a]).map(|at| at + i * strides[a]);
            }
            let v = at.map_or(0.0, |at| values[at]);
            match elem {
                Elem::F32 => bytes.extend((v as f32).to_le_bytes()),
                Elem::I64 => bytes.extend((v as i64).to_le_bytes()),
            }
            increment(&mut inner, chunks);
        }
        let key: Vec<String> = coords.iter().map(|c| c.to_string()).collect();
        let path = dir.join("c").join(key.join("/"));
        crate::files::write_atomic(&path, &zstd_compress(&bytes))?;
        increment(&mut coords, &grid);
    }
    crate::files::write_atomic(&dir.join("zarr.json"), meta.to_string().as_bytes())
}

/// The next index of a C-order walk over `bounds`.
fn increment(idx: &mut [usize], bounds: &[usize]) {
    for a in (0..idx.len()).rev() {
        idx[a] += 1;
        if idx[a] < bounds[a] {
            return;
        }
        idx[a] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        group(dir.path()).unwrap();
        let shape = [3, 2, 5, 7];
        let values: Vec<f64> = (0..210).map(|i| i as f64 * 0.5 - 20.0).collect();
        array(dir.path(), "x", &shape, &[2, 1, 3, 4], Elem::F32, &values).unwrap();
        let a = super::super::Array::open(&dir.path().join("x"), "x").unwrap();
        for t in 0..3 {
            for l in 0..2 {
                let got = a.read_plane(&[t, l]).unwrap();
                let at = (t * 2 + l) * 35;
                let want: Vec<f32> = values[at..at + 35].iter().map(|&v| v as f32).collect();
                assert_eq!(got, want, "[{t}, {l}]");
            }
        }
    }
}
