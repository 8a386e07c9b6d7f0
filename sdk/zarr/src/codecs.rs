//! The compressors a Zarr chunk may pass through (v2 `compressor`, v3
//! bytes-to-bytes codecs): gzip, zlib, Zstandard, Blosc. Each decodes into
//! exactly the size the chunk needs, never more: a chunk that claims to
//! inflate past it is an error, not an allocation.

use anyhow::{Result, anyhow, bail, ensure};
use std::io::Read;

/// One compressor, parsed from the array's metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum Compressor {
    Gzip,
    Zlib,
    Zstd,
    Blosc,
}

impl Compressor {
    /// The compressor named `id` (v2's `compressor.id`, v3's codec name).
    pub fn named(id: &str) -> Result<Self> {
        Ok(match id {
            "gzip" => Compressor::Gzip,
            "zlib" => Compressor::Zlib,
            "zstd" => Compressor::Zstd,
            "blosc" => Compressor::Blosc,
            other => bail!("compressor `{other}` is not supported (gzip, zlib, zstd, blosc are)"),
        })
    }

    /// Decompress `src` into `expected` bytes.
    pub fn decompress(&self, src: &[u8], expected: usize) -> Result<Vec<u8>> {
        if *self == Compressor::Blosc {
            return super::blosc::decompress(src, expected);
        }
        let mut out = vec![0u8; expected];
        let n = match self {
            Compressor::Gzip => inflate_into(flate2::read::MultiGzDecoder::new(src), &mut out)
                .map_err(|e| anyhow!("gzip: {e}"))?,
            Compressor::Zlib => inflate_into(flate2::read::ZlibDecoder::new(src), &mut out)
                .map_err(|e| anyhow!("zlib: {e}"))?,
            Compressor::Zstd => zstd_into(src, &mut out)?,
            Compressor::Blosc => unreachable!("handled above"),
        };
        ensure!(
            n == expected,
            "decompressed to {n} bytes, the chunk needs {expected}"
        );
        Ok(out)
    }
}

/// Read a decoder into `dst`; an error if it has more than `dst` holds.
pub fn inflate_into(mut r: impl Read, dst: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < dst.len() {
        match r.read(&mut dst[n..])? {
            0 => return Ok(n),
            k => n += k,
        }
    }
    let mut probe = [0u8; 1];
    if r.read(&mut probe)? != 0 {
        return Err(std::io::Error::other(format!(
            "inflates to more than the {} bytes expected",
            dst.len()
        )));
    }
    Ok(n)
}

/// Zstandard frames into `dst` (at most its size).
pub fn zstd_into(src: &[u8], dst: &mut [u8]) -> Result<usize> {
    ruzstd::decoding::FrameDecoder::new()
        .decode_all(src, dst)
        .map_err(|e| anyhow!("zstd: {e}"))
}

/// Zstandard-compress `data` (the synthetic stores' codec).
pub fn zstd_compress(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn each_compressor_round_trips_and_refuses_the_wrong_size() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let mut zl = flate2::write::ZlibEncoder::new(vec![], flate2::Compression::fast());
        zl.write_all(&data).unwrap();
        let cases = [
            (Compressor::Gzip, gz.finish().unwrap()),
            (Compressor::Zlib, zl.finish().unwrap()),
            (Compressor::Zstd, zstd_compress(&data)),
        ];
        for (c, bytes) in cases {
            assert_eq!(c.decompress(&bytes, data.len()).unwrap(), data, "{c:?}");
            assert!(
                c.decompress(&bytes, data.len() - 1).is_err(),
                "{c:?} too big"
            );
            assert!(
                c.decompress(&bytes, data.len() + 1).is_err(),
                "{c:?} too small"
            );
            assert!(
                c.decompress(&bytes[..bytes.len() / 2], data.len()).is_err(),
                "{c:?} cut"
            );
        }
    }
}
