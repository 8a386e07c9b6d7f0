//! Zarr arrays (format v2 and v3) in a directory store: the metadata, where
//! each chunk lives, and decoding a chunk to f32 values. [`Array::plane`]
//! assembles one [height, width] plane of an array shaped
//! [time, ..., height, width] from the chunks that cover it, so a clip reads
//! only the chunks of its own frames.
//!
//! Supported: numeric data types (ints, uints, float32/64, either byte
//! order), C or F order (v2) / a full `transpose` (v3), v2 compressors and
//! v3 bytes-to-bytes codecs gzip, zlib, zstd, blosc, v3's `crc32c` checksum,
//! both v3 chunk key encodings, missing chunks as the fill value. Not
//! supported (refused by name): filters, nested sharding, variable-length
//! types. v3's `sharding_indexed` is read: the grid's chunks are shard
//! files, each holding inner chunks found through its index.
//!
//! Pure Rust: the host reads clips' frames with it, and Wasm task plugins
//! read small coordinate arrays (e.g. a store's `time` axis) with it.

mod blosc;
pub mod codecs;

use anyhow::{Context, Result, bail, ensure};
use codecs::Compressor;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A numeric element type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Float,
    Int,
    Uint,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Dtype {
    kind: Kind,
    size: usize,
    little_endian: bool,
}

impl Dtype {
    /// v2's numpy type string, e.g. `<f4`, `|u1`, `>i2`.
    fn from_v2(s: &str) -> Result<Self> {
        let b = s.as_bytes();
        ensure!(b.len() >= 3, "data type `{s}` is not a numpy type string");
        let little_endian = match b[0] {
            b'<' | b'|' => true,
            b'>' => false,
            _ => bail!("data type `{s}`: unknown byte order"),
        };
        let kind = match b[1] {
            b'f' => Kind::Float,
            b'i' => Kind::Int,
            b'u' | b'b' => Kind::Uint,
            _ => bail!("data type `{s}` is not numeric (ints, uints and floats are supported)"),
        };
        let size: usize = s[2..].parse().with_context(|| format!("data type `{s}`"))?;
        Dtype::checked(kind, size, little_endian, s)
    }

    /// v3's data type name; the byte order comes from the `bytes` codec.
    fn from_v3(s: &str) -> Result<Self> {
        let (kind, bits) = if let Some(b) = s.strip_prefix("float") {
            (Kind::Float, b)
        } else if let Some(b) = s.strip_prefix("uint") {
            (Kind::Uint, b)
        } else if let Some(b) = s.strip_prefix("int") {
            (Kind::Int, b)
        } else if s == "bool" {
            (Kind::Uint, "8")
        } else {
            bail!("data type `{s}` is not numeric (ints, uints and floats are supported)")
        };
        let bits: usize = bits.parse().with_context(|| format!("data type `{s}`"))?;
        Dtype::checked(kind, bits / 8, true, s)
    }

    fn checked(kind: Kind, size: usize, little_endian: bool, name: &str) -> Result<Self> {
        let ok = match kind {
            Kind::Float => matches!(size, 4 | 8),
            Kind::Int | Kind::Uint => matches!(size, 1 | 2 | 4 | 8),
        };
        ensure!(ok, "data type `{name}` is not supported");
        Ok(Dtype {
            kind,
            size,
            little_endian,
        })
    }

    /// Element `i` of `bytes` as f32.
    fn value(&self, bytes: &[u8], i: usize) -> f32 {
        match (self.kind, self.size) {
            (Kind::Float, 4) => f32::from_bits(self.bits(bytes, i) as u32),
            _ => self.value_f64(bytes, i) as f32,
        }
    }

    /// Element `i` of `bytes` as f64 (exact for every integer below 2^53).
    fn value_f64(&self, bytes: &[u8], i: usize) -> f64 {
        let u = self.bits(bytes, i);
        let sign_extend = |bits: u32| ((u << (64 - bits)) as i64 >> (64 - bits)) as f64;
        match (self.kind, self.size) {
            (Kind::Float, 4) => f32::from_bits(u as u32) as f64,
            (Kind::Float, _) => f64::from_bits(u),
            (Kind::Uint, _) => u as f64,
            (Kind::Int, n) => sign_extend(8 * n as u32),
        }
    }

    /// Element `i`'s bytes, little-endian, in the low bits of a u64.
    fn bits(&self, bytes: &[u8], i: usize) -> u64 {
        let mut b = [0u8; 8];
        let raw = &bytes[i * self.size..(i + 1) * self.size];
        if self.little_endian {
            b[..self.size].copy_from_slice(raw);
        } else {
            for (k, v) in raw.iter().rev().enumerate() {
                b[k] = *v;
            }
        }
        u64::from_le_bytes(b)
    }
}

/// Where a chunk's file lives, from its grid coordinates.
#[derive(Debug, Clone, PartialEq)]
enum ChunkKey {
    /// v2 (and v3's `v2` encoding): `0.1.2`, or `0` for a 0-d array.
    V2(char),
    /// v3's `default` encoding: `c/0/1/2`.
    Default(char),
}

/// One Zarr array.
#[derive(Debug, Clone)]
pub struct Array {
    /// `STORE/ARRAY` as the clip named it, for errors.
    pub name: String,
    dir: PathBuf,
    pub shape: Vec<usize>,
    pub chunks: Vec<usize>,
    dtype: Dtype,
    fill: f32,
    /// Stored in Fortran order (v2 `order: F`, v3 a reversing `transpose`).
    fortran: bool,
    /// The compressor, if any (at most one).
    compressors: Vec<Compressor>,
    /// v3 `crc32c`: the last 4 bytes are a checksum of the rest.
    crc32c: bool,
    key: ChunkKey,
    /// v3 `sharding_indexed`: chunks (`chunks`, the inner chunks) stored
    /// together in shard files with an index.
    shard: Option<Shard>,
    /// The metadata file's bytes (they key the feature cache).
    pub metadata: Vec<u8>,
    /// User attributes (v3 `attributes`, v2 `.zattrs`), e.g. a CF time
    /// coordinate's `units`; `Null` when there are none.
    pub attributes: Value,
    /// Axis names (v3 `dimension_names`, or xarray's `_ARRAY_DIMENSIONS`
    /// attribute), when the store gives them.
    pub dimensions: Option<Vec<String>>,
}

/// How a sharded array packs its chunks into shard files.
#[derive(Debug, Clone)]
struct Shard {
    /// Inner chunks per shard along each axis.
    per_shard: Vec<usize>,
    /// The index comes first in the file (else last).
    index_at_start: bool,
    /// The index ends with a crc32c of itself.
    index_crc32c: bool,
}

impl Array {
    /// Open array `dir` (its `zarr.json`, or `.zarray` for v2); `name`
    /// names it in errors.
    pub fn open(dir: &Path, name: &str) -> Result<Self> {
        let v3 = dir.join("zarr.json");
        let v2 = dir.join(".zarray");
        let (path, bytes) = if v3.is_file() {
            (v3.clone(), std::fs::read(&v3))
        } else if v2.is_file() {
            (v2.clone(), std::fs::read(&v2))
        } else {
            bail!(
                "{name}: not a Zarr array (no zarr.json or .zarray in {})",
                dir.display()
            );
        };
        let bytes = bytes.with_context(|| format!("cannot read {}", path.display()))?;
        let mut a = Self::from_metadata(&bytes, path == v3)
            .with_context(|| format!("{}", path.display()))?;
        let attrs = dir.join(".zattrs");
        if path == v2 && attrs.is_file() {
            let text = std::fs::read(&attrs)
                .with_context(|| format!("cannot read {}", attrs.display()))?;
            a.attributes = serde_json::from_slice(&text)
                .with_context(|| format!("{}: not valid JSON", attrs.display()))?;
        }
        if a.dimensions.is_none() {
            a.dimensions = names(&a.attributes["_ARRAY_DIMENSIONS"]);
        }
        a.name = name.to_string();
        a.dir = dir.to_path_buf();
        Ok(a)
    }

    /// An array from its metadata file's bytes (`zarr.json` if `v3`, else
    /// `.zarray`), not yet tied to a directory.
    pub fn from_metadata(bytes: &[u8], v3: bool) -> Result<Self> {
        let meta: Value = serde_json::from_slice(bytes).context("not valid JSON")?;
        let mut a = if v3 {
            Self::parse_v3(&meta)?
        } else {
            Self::parse_v2(&meta)?
        };
        a.metadata = bytes.to_vec();
        if v3 {
            a.attributes = meta["attributes"].clone();
            a.dimensions = names(&meta["dimension_names"]);
        }
        Ok(a)
    }

    fn blank(
        shape: Vec<usize>,
        chunks: Vec<usize>,
        dtype: Dtype,
        fill: f32,
        key: ChunkKey,
    ) -> Self {
        Array {
            name: String::new(),
            dir: PathBuf::new(),
            shape,
            chunks,
            dtype,
            fill,
            fortran: false,
            compressors: vec![],
            crc32c: false,
            key,
            shard: None,
            metadata: vec![],
            attributes: Value::Null,
            dimensions: None,
        }
    }

    fn parse_v2(m: &Value) -> Result<Self> {
        ensure!(
            m["zarr_format"] == 2,
            "zarr_format is {}, expected 2",
            m["zarr_format"]
        );
        let shape = dims(&m["shape"], "shape")?;
        let chunks = dims(&m["chunks"], "chunks")?;
        let dtype = Dtype::from_v2(m["dtype"].as_str().context("`dtype` is not a string")?)?;
        let sep = separator(&m["dimension_separator"], '.')?;
        let mut a = Self::blank(
            shape,
            chunks,
            dtype,
            fill_value(&m["fill_value"])?,
            ChunkKey::V2(sep),
        );
        a.fortran = match m["order"].as_str() {
            Some("C") | None => false,
            Some("F") => true,
            Some(o) => bail!("order `{o}` (C or F)"),
        };
        if !(m["filters"].is_null() || m["filters"].as_array().is_some_and(|f| f.is_empty())) {
            bail!("filters {} are not supported", m["filters"]);
        }
        if !m["compressor"].is_null() {
            let id = m["compressor"]["id"]
                .as_str()
                .context("compressor without an `id`")?;
            a.compressors.push(Compressor::named(id)?);
        }
        a.check()?;
        Ok(a)
    }

    fn parse_v3(m: &Value) -> Result<Self> {
        ensure!(
            m["zarr_format"] == 3,
            "zarr_format is {}, expected 3",
            m["zarr_format"]
        );
        ensure!(
            m["node_type"] == "array",
            "node_type is {}, not an array",
            m["node_type"]
        );
        let shape = dims(&m["shape"], "shape")?;
        let grid = &m["chunk_grid"];
        ensure!(
            grid["name"] == "regular",
            "chunk grid {} (only `regular`)",
            grid["name"]
        );
        let chunks = dims(&grid["configuration"]["chunk_shape"], "chunk_shape")?;
        let mut dtype = Dtype::from_v3(
            m["data_type"]
                .as_str()
                .context("`data_type` is not a string")?,
        )?;
        let enc = &m["chunk_key_encoding"];
        let key = match enc["name"].as_str() {
            Some("default") => {
                ChunkKey::Default(separator(&enc["configuration"]["separator"], '/')?)
            }
            Some("v2") => ChunkKey::V2(separator(&enc["configuration"]["separator"], '.')?),
            _ => bail!("chunk key encoding {} (default or v2)", enc["name"]),
        };
        let mut a = Self::blank(shape, chunks, dtype, fill_value(&m["fill_value"])?, key);
        a.codec_chain(&m["codecs"], &mut dtype, true)?;
        a.dtype = dtype;
        a.check()?;
        Ok(a)
    }

    /// Apply a v3 codec list (`outer`: the array's own, where sharding may
    /// stand; else a shard's inner chunks').
    fn codec_chain(&mut self, codecs: &Value, dtype: &mut Dtype, outer: bool) -> Result<()> {
        let codecs = codecs.as_array().context("`codecs` is not a list")?;
        let mut seen_bytes = false;
        for c in codecs {
            let name = c["name"].as_str().context("a codec without a `name`")?;
            let conf = &c["configuration"];
            match name {
                "transpose" => {
                    let order = dims(&conf["order"], "transpose order")?;
                    let rank = self.shape.len();
                    if order.iter().copied().eq(0..rank) {
                    } else if order.iter().copied().eq((0..rank).rev()) {
                        self.fortran = true;
                    } else {
                        bail!("transpose order {order:?} (only the identity or a full reversal)");
                    }
                }
                "bytes" => {
                    seen_bytes = true;
                    dtype.little_endian = match conf["endian"].as_str() {
                        Some("little") | None => true,
                        Some("big") => false,
                        Some(e) => bail!("bytes codec endian `{e}`"),
                    };
                }
                "crc32c" => self.crc32c = true,
                "sharding_indexed" => {
                    ensure!(
                        outer && codecs.len() == 1,
                        "`sharding_indexed` must be the array's only codec (nested sharding is not supported)"
                    );
                    self.shard_by(conf, dtype)?;
                    return Ok(());
                }
                other => {
                    ensure!(seen_bytes, "codec `{other}` before the `bytes` codec");
                    ensure!(!self.crc32c, "codec `{other}` after `crc32c`");
                    self.compressors.push(Compressor::named(other)?);
                }
            }
        }
        ensure!(seen_bytes, "no `bytes` codec (the array-to-bytes step)");
        ensure!(
            self.compressors.len() <= 1,
            "more than one compressor is not supported"
        );
        Ok(())
    }

    /// `sharding_indexed`: the grid's chunks are shards of inner chunks
    /// (`chunk_shape`), each coded by the inner `codecs`, located by an
    /// index of (offset, length) pairs coded by `index_codecs`.
    fn shard_by(&mut self, conf: &Value, dtype: &mut Dtype) -> Result<()> {
        let inner = dims(&conf["chunk_shape"], "sharding chunk_shape")?;
        ensure!(
            inner.len() == self.chunks.len()
                && self
                    .chunks
                    .iter()
                    .zip(&inner)
                    .all(|(&s, &c)| c > 0 && s % c == 0),
            "shards of {:?} are not whole numbers of inner chunks of {inner:?}",
            self.chunks
        );
        let per_shard: Vec<usize> = self.chunks.iter().zip(&inner).map(|(s, c)| s / c).collect();
        let n = per_shard.iter().try_fold(1usize, |n, &c| n.checked_mul(c));
        ensure!(
            n.is_some_and(|n| n <= MAX_SHARD_CHUNKS),
            "shards of {per_shard:?} inner chunks hold more than {MAX_SHARD_CHUNKS}"
        );
        let index = conf["index_codecs"]
            .as_array()
            .context("`index_codecs` is not a list")?;
        let names: Vec<&str> = index.iter().filter_map(|c| c["name"].as_str()).collect();
        let little = index.first().is_some_and(|c| {
            matches!(c["configuration"]["endian"].as_str(), Some("little") | None)
        });
        let index_crc32c = match names[..] {
            ["bytes"] if little => false,
            ["bytes", "crc32c"] if little => true,
            _ => bail!(
                "shard index codecs {names:?} (little-endian `bytes`, then optionally `crc32c`)"
            ),
        };
        let index_at_start = match conf["index_location"].as_str() {
            Some("start") => true,
            Some("end") | None => false,
            Some(other) => bail!("shard index location `{other}`"),
        };
        self.shard = Some(Shard {
            per_shard,
            index_at_start,
            index_crc32c,
        });
        self.chunks = inner;
        self.codec_chain(&conf["codecs"], dtype, false)
    }

    fn check(&self) -> Result<()> {
        ensure!(
            self.shape.len() == self.chunks.len(),
            "shape {:?} and chunks {:?} differ in rank",
            self.shape,
            self.chunks
        );
        ensure!(
            !self.chunks.contains(&0),
            "a chunk dimension of 0 in {:?}",
            self.chunks
        );
        let elems = self
            .chunks
            .iter()
            .try_fold(1usize, |n, &c| n.checked_mul(c));
        ensure!(
            elems.is_some_and(|n| n <= MAX_CHUNK_ELEMENTS),
            "chunks {:?} hold more than {MAX_CHUNK_ELEMENTS} elements",
            self.chunks
        );
        if let [.., h, w] = self.shape[..] {
            let (ch, cw) = (
                self.chunks[self.chunks.len() - 2],
                self.chunks[self.chunks.len() - 1],
            );
            ensure!(
                h.checked_mul(w).is_some_and(|n| n <= MAX_PLANE_ELEMENTS),
                "planes of {h} x {w} values, more than a frame may have ({MAX_PLANE_ELEMENTS})"
            );
            ensure!(
                h.div_ceil(ch) * w.div_ceil(cw) <= MAX_PLANE_CHUNKS,
                "a {h} x {w} plane in chunks of {ch} x {cw} spans more than {MAX_PLANE_CHUNKS} chunks"
            );
        }
        Ok(())
    }

    fn chunk_elements(&self) -> usize {
        self.chunks.iter().product()
    }

    /// The file of the chunk at grid coordinates `coords` (for a sharded
    /// array, the shard holding it).
    pub fn chunk_path(&self, coords: &[usize]) -> PathBuf {
        let parts: Vec<String> = match &self.shard {
            Some(s) => coords
                .iter()
                .zip(&s.per_shard)
                .map(|(c, p)| (c / p).to_string())
                .collect(),
            None => coords.iter().map(|c| c.to_string()).collect(),
        };
        let key = match self.key {
            ChunkKey::V2(_) if parts.is_empty() => "0".to_string(),
            ChunkKey::V2(sep) => parts.join(&sep.to_string()),
            ChunkKey::Default(sep) => std::iter::once("c".to_string())
                .chain(parts)
                .collect::<Vec<_>>()
                .join(&sep.to_string()),
        };
        self.dir.join(key)
    }

    /// Whether chunks live inside shard files (v3 `sharding_indexed`).
    pub fn is_sharded(&self) -> bool {
        self.shard.is_some()
    }

    /// The bytes of the chunk at `coords` out of its file's bytes (`None`:
    /// no file): the file itself, or for a sharded array the inner chunk
    /// the shard's index points at (`None` where it marks it empty).
    pub fn chunk_in_file<'a>(
        &self,
        coords: &[usize],
        file: Option<&'a [u8]>,
    ) -> Result<Option<&'a [u8]>> {
        let (Some(shard), Some(file)) = (&self.shard, file) else {
            return Ok(file);
        };
        let n: usize = shard.per_shard.iter().product();
        let index_len = n * 16 + if shard.index_crc32c { 4 } else { 0 };
        ensure!(
            file.len() >= index_len,
            "a shard of {} bytes cannot hold its index of {index_len}",
            file.len()
        );
        let index = if shard.index_at_start {
            &file[..index_len]
        } else {
            &file[file.len() - index_len..]
        };
        if shard.index_crc32c {
            let (entries, sum) = index.split_at(n * 16);
            ensure!(
                crc32c(entries) == u32::from_le_bytes(sum.try_into().unwrap()),
                "shard index crc32c checksum mismatch (corrupt shard)"
            );
        }
        // The inner chunk's place in its shard, C order.
        let local = coords
            .iter()
            .zip(&shard.per_shard)
            .fold(0, |k, (c, p)| k * p + c % p);
        let entry = |i: usize| u64::from_le_bytes(index[i..i + 8].try_into().unwrap());
        let (offset, len) = (entry(local * 16), entry(local * 16 + 8));
        if offset == u64::MAX && len == u64::MAX {
            return Ok(None);
        }
        let end = offset.checked_add(len).filter(|&e| e <= file.len() as u64);
        let Some(end) = end else {
            bail!(
                "shard index points at bytes {offset}..+{len}, past the shard's {} bytes",
                file.len()
            );
        };
        Ok(Some(&file[offset as usize..end as usize]))
    }

    /// A chunk's values in C order; `None` (no file) is the fill value.
    pub fn decode_chunk(&self, bytes: Option<&[u8]>) -> Result<Vec<f32>> {
        let n = self.chunk_elements();
        let Some(bytes) = bytes else {
            return Ok(vec![self.fill; n]);
        };
        let raw = self.chunk_bytes(bytes)?;
        let values: Vec<f32> = (0..n).map(|i| self.dtype.value(&raw, i)).collect();
        Ok(if self.fortran {
            to_c_order(&values, &self.chunks)
        } else {
            values
        })
    }

    /// Every value of a one-dimensional array (a coordinate such as
    /// `time`), in double precision: hours since 1959 or seconds since
    /// 1970 stay exact. Refused past 2^26 values.
    pub fn read_f64(&self) -> Result<Vec<f64>> {
        ensure!(
            self.shape.len() == 1,
            "{}: shape {:?}, not a one-dimensional coordinate",
            self.name,
            self.shape
        );
        let (len, chunk) = (self.shape[0], self.chunks[0]);
        ensure!(len <= 1 << 26, "{}: {len} values is too many", self.name);
        let mut out = Vec::with_capacity(len);
        for c in 0..len.div_ceil(chunk) {
            let path = self.chunk_path(&[c]);
            let file = match std::fs::read(&path) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => bail!("cannot read {}: {e}", path.display()),
            };
            let bytes = self
                .chunk_in_file(&[c], file.as_deref())
                .with_context(|| format!("{}", path.display()))?;
            match bytes {
                None => out.extend(std::iter::repeat_n(self.fill as f64, chunk)),
                Some(b) => {
                    let raw = self
                        .chunk_bytes(b)
                        .with_context(|| format!("{}", path.display()))?;
                    out.extend((0..chunk).map(|i| self.dtype.value_f64(&raw, i)));
                }
            }
        }
        out.truncate(len);
        Ok(out)
    }

    /// A stored chunk's raw element bytes: checksum checked, decompressed,
    /// its length checked.
    fn chunk_bytes<'a>(&self, mut bytes: &'a [u8]) -> Result<Cow<'a, [u8]>> {
        let n = self.chunk_elements();
        if self.crc32c {
            ensure!(bytes.len() >= 4, "shorter than its crc32c checksum");
            let (data, sum) = bytes.split_at(bytes.len() - 4);
            let want = u32::from_le_bytes(sum.try_into().unwrap());
            ensure!(
                crc32c(data) == want,
                "crc32c checksum mismatch (corrupt chunk)"
            );
            bytes = data;
        }
        let raw: Cow<[u8]> = match self.compressors.first() {
            Some(c) => Cow::Owned(c.decompress(bytes, n * self.dtype.size)?),
            None => Cow::Borrowed(bytes),
        };
        ensure!(
            raw.len() == n * self.dtype.size,
            "{} bytes, the chunk needs {} ({} elements of {} bytes)",
            raw.len(),
            n * self.dtype.size,
            n,
            self.dtype.size
        );
        Ok(raw)
    }

    /// The grid coordinates of the chunks covering plane `lead` (the
    /// indices of every axis but the last two).
    pub fn plane_chunks(&self, lead: &[usize]) -> Result<Vec<Vec<usize>>> {
        let rank = self.shape.len();
        ensure!(
            rank >= 2 && lead.len() == rank - 2,
            "{}: shape {:?}: a plane needs {} leading indices, got {lead:?}",
            self.name,
            self.shape,
            rank.saturating_sub(2)
        );
        for (axis, (&i, &n)) in lead.iter().zip(&self.shape).enumerate() {
            ensure!(
                i < n,
                "{}: index {i} out of range for axis {axis} (size {n})",
                self.name
            );
        }
        let base: Vec<usize> = lead.iter().zip(&self.chunks).map(|(i, c)| i / c).collect();
        let (gh, gw) = (
            self.shape[rank - 2].div_ceil(self.chunks[rank - 2]),
            self.shape[rank - 1].div_ceil(self.chunks[rank - 1]),
        );
        let mut out = vec![];
        for y in 0..gh {
            for x in 0..gw {
                let mut c = base.clone();
                c.extend([y, x]);
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Plane `lead` as f32 [height, width], from decoded chunks by grid
    /// coordinates (as [`Array::plane_chunks`] lists them).
    pub fn plane(
        &self,
        lead: &[usize],
        chunks: &HashMap<Vec<usize>, Vec<f32>>,
    ) -> Result<Vec<f32>> {
        let rank = self.shape.len();
        let (h, w) = (self.shape[rank - 2], self.shape[rank - 1]);
        let (ch, cw) = (self.chunks[rank - 2], self.chunks[rank - 1]);
        // Offset of the plane inside each chunk (C order).
        let strides: Vec<usize> = (0..rank)
            .map(|a| self.chunks[a + 1..].iter().product())
            .collect();
        let base: usize = lead
            .iter()
            .enumerate()
            .map(|(a, &i)| (i % self.chunks[a]) * strides[a])
            .sum();
        let mut out = vec![0f32; h * w];
        for coords in self.plane_chunks(lead)? {
            let values = chunks
                .get(&coords)
                .with_context(|| format!("{}: chunk {coords:?} was not read", self.name))?;
            let (y0, x0) = (coords[rank - 2] * ch, coords[rank - 1] * cw);
            for y in y0..(y0 + ch).min(h) {
                let row = base + (y - y0) * cw;
                let n = (x0 + cw).min(w) - x0;
                out[y * w + x0..y * w + x0 + n].copy_from_slice(&values[row..row + n]);
            }
        }
        Ok(out)
    }
}

impl Array {
    /// Plane `lead`, decoding each chunk it spans once (kept in `decoded`
    /// for the next plane); `fetch` gives a chunk's bytes by grid
    /// coordinates (None: absent, the fill value).
    pub fn plane_with<'a>(
        &self,
        lead: &[usize],
        decoded: &mut HashMap<Vec<usize>, Vec<f32>>,
        mut fetch: impl FnMut(&[usize]) -> Result<Option<Cow<'a, [u8]>>>,
    ) -> Result<Vec<f32>> {
        for coords in self.plane_chunks(lead)? {
            if decoded.contains_key(&coords) {
                continue;
            }
            let bytes = fetch(&coords)?;
            let values = self.decode_chunk(bytes.as_deref()).with_context(|| {
                format!(
                    "{}: chunk {}",
                    self.name,
                    self.chunk_path(&coords).display()
                )
            })?;
            decoded.insert(coords, values);
        }
        self.plane(lead, decoded)
    }

    /// Plane `lead` read straight from the store's files (missing chunks
    /// are the fill value). Clips read through `data::clips`, which also
    /// keeps every file inside the dataset directory.
    pub fn read_plane(&self, lead: &[usize]) -> Result<Vec<f32>> {
        let mut files: HashMap<PathBuf, Option<Vec<u8>>> = HashMap::new();
        self.plane_with(lead, &mut HashMap::new(), |coords| {
            let path = self.chunk_path(coords);
            if !files.contains_key(&path) {
                let file = match std::fs::read(&path) {
                    Ok(b) => Some(b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot read {}", path.display()));
                    }
                };
                files.insert(path.clone(), file);
            }
            let inner = self
                .chunk_in_file(coords, files[&path].as_deref())
                .with_context(|| format!("{}", path.display()))?;
            Ok(inner.map(|b| Cow::Owned(b.to_vec())))
        })
    }
}

/// The largest chunk decoded, in elements (a hostile `chunks` entry could
/// otherwise ask for any allocation).
pub const MAX_CHUNK_ELEMENTS: usize = 1 << 26;
/// The largest plane (the last two axes) read as a frame, in elements:
/// ERA5 at 0.25 degrees is about 1 M.
pub const MAX_PLANE_ELEMENTS: usize = 1 << 26;
/// The most inner chunks a shard may hold (its index is 16 bytes each).
pub const MAX_SHARD_CHUNKS: usize = 1 << 20;
/// The most chunks one plane may span (found by fuzzing: a shape of
/// 555555555092 x 9 in chunks of 4 x 5 asked for 139 billion).
pub const MAX_PLANE_CHUNKS: usize = 1 << 16;

/// A JSON list of axis names, if it is one.
fn names(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|n| n.as_str().map(String::from))
        .collect()
}

fn dims(v: &Value, what: &str) -> Result<Vec<usize>> {
    let list = v
        .as_array()
        .with_context(|| format!("`{what}` is not a list"))?;
    list.iter()
        .map(|d| {
            d.as_u64()
                .map(|d| d as usize)
                .with_context(|| format!("`{what}` holds {d}, not a size"))
        })
        .collect()
}

fn separator(v: &Value, default: char) -> Result<char> {
    match v.as_str() {
        None => Ok(default),
        Some("/") => Ok('/'),
        Some(".") => Ok('.'),
        Some(s) => bail!("dimension separator `{s}` (`.` or `/`)"),
    }
}

fn fill_value(v: &Value) -> Result<f32> {
    Ok(match v {
        Value::Null => 0.0,
        Value::Bool(b) => *b as u8 as f32,
        Value::Number(n) => n.as_f64().context("fill value")? as f32,
        Value::String(s) => match s.as_str() {
            "NaN" => f32::NAN,
            "Infinity" => f32::INFINITY,
            "-Infinity" => f32::NEG_INFINITY,
            other => bail!("fill value `{other}`"),
        },
        other => bail!("fill value {other}"),
    })
}

/// Fortran-order `values` of a chunk shaped `shape`, in C order.
fn to_c_order(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let rank = shape.len();
    let f_strides: Vec<usize> = (0..rank).map(|a| shape[..a].iter().product()).collect();
    let mut out = Vec::with_capacity(values.len());
    let mut idx = vec![0usize; rank];
    for _ in 0..values.len() {
        let at: usize = idx.iter().zip(&f_strides).map(|(i, s)| i * s).sum();
        out.push(values[at]);
        for a in (0..rank).rev() {
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// CRC-32C (Castagnoli), as Zarr v3's `crc32c` codec stores it.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_rfc_3720_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn fortran_chunks_come_back_in_c_order() {
        // [2, 3] in C order is 0..6; in F order it is stored column-major.
        let f = [0.0, 3.0, 1.0, 4.0, 2.0, 5.0];
        assert_eq!(to_c_order(&f, &[2, 3]), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn chunk_keys_follow_each_encoding() {
        let d = Dtype::from_v2("<f4").unwrap();
        let mut a = Array::blank(vec![4, 4], vec![2, 2], d, 0.0, ChunkKey::V2('.'));
        assert_eq!(a.chunk_path(&[1, 0]), PathBuf::from("1.0"));
        a.key = ChunkKey::Default('/');
        assert_eq!(a.chunk_path(&[1, 0]), PathBuf::from("c/1/0"));
        a.key = ChunkKey::V2('/');
        assert_eq!(a.chunk_path(&[1, 0]), PathBuf::from("1/0"));
    }

    #[test]
    fn data_types_decode_in_both_byte_orders() {
        let be = Dtype::from_v2(">i2").unwrap();
        assert_eq!(be.value(&[0xFF, 0xFE], 0), -2.0);
        let le = Dtype::from_v2("<u2").unwrap();
        assert_eq!(le.value(&[0x01, 0x02], 0), 513.0);
        let f8 = Dtype::from_v3("float64").unwrap();
        assert_eq!(f8.value(&1.5f64.to_le_bytes(), 0), 1.5);
        assert!(Dtype::from_v2("<U8").is_err());
        assert!(Dtype::from_v3("complex64").is_err());
    }
}
