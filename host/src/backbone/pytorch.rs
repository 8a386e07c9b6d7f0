//! PyTorch checkpoints (`torch.save`, the zip format of PyTorch >= 1.6:
//! `.bin`, `.pt`, `.pth`, `.pth.tar`) read without Python: a small
//! unpickler for what state dicts use (dicts, tuples, strings, numbers,
//! `OrderedDict`, `_rebuild_tensor_v2`, `_rebuild_parameter`, persistent
//! storage ids) and the raw storages beside the pickle. Nested dicts are
//! flattened with dots (`encoder.blocks.0...`); anything else is skipped.

use super::weights::Stored;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Debug, Clone)]
enum Val {
    None,
    /// A bool or a float: never needed by value.
    Scalar,
    Int(i64),
    Str(String),
    Tuple(Vec<Val>),
    List(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    Global(String),
    Storage {
        key: String,
        dtype: String,
    },
    Tensor(TensorRef),
    /// Something a state dict does not need (kept opaque).
    Opaque,
    Mark,
}

#[derive(Debug, Clone)]
struct TensorRef {
    key: String,
    dtype: String,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// Every tensor of a torch zip checkpoint, by dotted name.
pub fn load(bytes: &[u8], source: &str) -> Result<BTreeMap<String, Stored>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).with_context(|| {
        format!("{source}: not a PyTorch zip checkpoint (files from torch < 1.6 are not supported; re-save with a current torch)")
    })?;
    let pkl_name = (0..zip.len())
        .filter_map(|i| zip.by_index(i).ok().map(|f| f.name().to_string()))
        .find(|n| n.ends_with("data.pkl"))
        .with_context(|| format!("{source}: no data.pkl in the archive"))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut pkl = vec![];
    zip.by_name(&pkl_name)?.read_to_end(&mut pkl)?;
    let root = unpickle(&pkl).with_context(|| format!("{source}: {pkl_name}"))?;
    let mut refs = vec![];
    flatten("", &root, &mut refs);
    if refs.is_empty() {
        bail!("{source}: no tensors found in the checkpoint");
    }
    let mut storages: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (name, t) in refs {
        if !storages.contains_key(&t.key) {
            let mut buf = vec![];
            zip.by_name(&format!("{prefix}data/{}", t.key))
                .with_context(|| format!("{source}: storage {} of `{name}` missing", t.key))?
                .read_to_end(&mut buf)?;
            storages.insert(t.key.clone(), buf);
        }
        let values =
            gather(&storages[&t.key], &t).with_context(|| format!("{source}: tensor `{name}`"))?;
        out.insert(
            name,
            Stored {
                shape: t.size.clone(),
                values,
            },
        );
    }
    // Common wrappers around the state dict itself.
    for wrapper in ["state_dict.", "model."] {
        if out.keys().all(|k| k.starts_with(wrapper)) {
            out = out
                .into_iter()
                .map(|(k, v)| (k[wrapper.len()..].to_string(), v))
                .collect();
        }
    }
    Ok(out)
}

fn flatten(path: &str, v: &Val, out: &mut Vec<(String, TensorRef)>) {
    match v {
        Val::Tensor(t) => out.push((path.to_string(), t.clone())),
        Val::Dict(items) => {
            for (k, v) in items {
                let key = match k {
                    Val::Str(s) => s.clone(),
                    Val::Int(i) => i.to_string(),
                    _ => continue,
                };
                let p = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                flatten(&p, v, out);
            }
        }
        _ => {}
    }
}

/// The tensor's values as f32, following its offset, size and stride.
fn gather(storage: &[u8], t: &TensorRef) -> Result<Vec<f32>> {
    let (width, read): (usize, fn(&[u8]) -> f32) = match t.dtype.as_str() {
        "FloatStorage" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "HalfStorage" => (2, |b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
        "BFloat16Storage" => (2, |b| {
            f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)
        }),
        "DoubleStorage" => (8, |b| {
            f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
        }),
        other => bail!("storage type {other} is not a float type"),
    };
    let n: usize = t.size.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; t.size.len()];
    for _ in 0..n {
        let e = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        let b = storage
            .get(e * width..(e + 1) * width)
            .with_context(|| format!("element {e} is past the end of its storage"))?;
        out.push(read(b));
        // Next index, row-major.
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < t.size[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

fn unpickle(data: &[u8]) -> Result<Val> {
    let mut stack: Vec<Val> = vec![];
    let mut memo: BTreeMap<u32, Val> = BTreeMap::new();
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<&[u8]> {
        let s = data.get(*pos..*pos + n).context("truncated pickle")?;
        *pos += n;
        Ok(s)
    };
    let pop_mark = |stack: &mut Vec<Val>| -> Result<Vec<Val>> {
        let at = stack
            .iter()
            .rposition(|v| matches!(v, Val::Mark))
            .context("pickle: no mark")?;
        let items = stack.split_off(at + 1);
        stack.pop();
        Ok(items)
    };
    loop {
        let op = *take(&mut pos, 1)?.first().expect("one byte");
        match op {
            0x80 => {
                take(&mut pos, 1)?; // PROTO
            }
            0x95 => {
                take(&mut pos, 8)?; // FRAME
            }
            b'.' => return stack.pop().context("pickle: empty stack at STOP"),
            b'(' => stack.push(Val::Mark),
            b'}' => stack.push(Val::Dict(vec![])),
            b']' => stack.push(Val::List(vec![])),
            b')' => stack.push(Val::Tuple(vec![])),
            b'N' => stack.push(Val::None),
            0x88 | 0x89 => stack.push(Val::Scalar),
            b'J' => {
                let b = take(&mut pos, 4)?;
                stack.push(Val::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64));
            }
            b'K' => stack.push(Val::Int(take(&mut pos, 1)?[0] as i64)),
            b'M' => {
                let b = take(&mut pos, 2)?;
                stack.push(Val::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
            }
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = take(&mut pos, 1)?[0] as usize;
                let b = take(&mut pos, n)?;
                let mut v: i64 = 0;
                for (i, byte) in b.iter().enumerate().take(8) {
                    v |= (*byte as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Val::Int(v));
            }
            b'G' => {
                take(&mut pos, 8)?;
                stack.push(Val::Scalar);
            }
            b'X' | 0x8c | b'B' | b'C' => {
                let n = match op {
                    b'X' | b'B' => {
                        let b = take(&mut pos, 4)?;
                        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
                    }
                    _ => take(&mut pos, 1)?[0] as usize,
                };
                let s = take(&mut pos, n)?;
                stack.push(match op {
                    b'X' | 0x8c => Val::Str(String::from_utf8_lossy(s).into_owned()),
                    _ => Val::Opaque, // bytes
                });
            }
            b'c' => {
                // GLOBAL: "module\nname\n".
                let line = |pos: &mut usize| -> Result<String> {
                    let end = data[*pos..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .context("truncated GLOBAL")?;
                    let s = String::from_utf8_lossy(&data[*pos..*pos + end]).into_owned();
                    *pos += end + 1;
                    Ok(s)
                };
                let module = line(&mut pos)?;
                let name = line(&mut pos)?;
                stack.push(Val::Global(format!("{module}.{name}")));
            }
            0x93 => {
                // STACK_GLOBAL
                let name = stack.pop();
                let module = stack.pop();
                match (module, name) {
                    (Some(Val::Str(m)), Some(Val::Str(n))) => {
                        stack.push(Val::Global(format!("{m}.{n}")))
                    }
                    _ => bail!("pickle: bad STACK_GLOBAL"),
                }
            }
            b'q' => {
                let i = take(&mut pos, 1)?[0] as u32;
                memo.insert(i, stack.last().cloned().context("pickle: empty stack")?);
            }
            b'r' => {
                let b = take(&mut pos, 4)?;
                memo.insert(
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                    stack.last().cloned().context("pickle: empty stack")?,
                );
            }
            0x94 => {
                let i = memo.len() as u32;
                memo.insert(i, stack.last().cloned().context("pickle: empty stack")?);
            }
            b'h' => {
                let i = take(&mut pos, 1)?[0] as u32;
                stack.push(memo.get(&i).cloned().context("pickle: bad memo")?);
            }
            b'j' => {
                let b = take(&mut pos, 4)?;
                let i = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                stack.push(memo.get(&i).cloned().context("pickle: bad memo")?);
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Val::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    bail!("pickle: short stack for TUPLE{n}");
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Val::Tuple(items));
            }
            b'a' => {
                let v = stack.pop().context("pickle: APPEND")?;
                if let Some(Val::List(l)) = stack.last_mut() {
                    l.push(v);
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                if let Some(Val::List(l)) = stack.last_mut() {
                    l.extend(items);
                }
            }
            b's' => {
                let v = stack.pop().context("pickle: SETITEM")?;
                let k = stack.pop().context("pickle: SETITEM")?;
                if let Some(Val::Dict(d)) = stack.last_mut() {
                    d.push((k, v));
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                if let Some(Val::Dict(d)) = stack.last_mut() {
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        d.push((k, v));
                    }
                }
            }
            b'b' => {
                stack.pop(); // BUILD: state (e.g. an OrderedDict's _metadata) is not needed.
            }
            b'Q' => {
                // BINPERSID: ('storage', storage type, key, location, numel).
                let pid = stack.pop().context("pickle: BINPERSID")?;
                let Val::Tuple(parts) = pid else {
                    bail!("pickle: persistent id is not a tuple")
                };
                match (parts.get(1), parts.get(2)) {
                    (Some(Val::Global(ty)), Some(Val::Str(key))) => stack.push(Val::Storage {
                        key: key.clone(),
                        dtype: ty.rsplit('.').next().unwrap_or_default().to_string(),
                    }),
                    _ => bail!("pickle: unexpected persistent id {parts:?}"),
                }
            }
            b'R' => {
                let args = stack.pop().context("pickle: REDUCE")?;
                let f = stack.pop().context("pickle: REDUCE")?;
                let Val::Tuple(args) = args else {
                    bail!("pickle: REDUCE arguments are not a tuple")
                };
                stack.push(reduce(&f, args)?);
            }
            0x81 => {
                // NEWOBJ
                stack.pop();
                stack.pop();
                stack.push(Val::Opaque);
            }
            other => bail!("pickle opcode 0x{other:02x} is not supported"),
        }
    }
}

fn ints(v: &Val) -> Result<Vec<usize>> {
    match v {
        Val::Tuple(items) | Val::List(items) => items
            .iter()
            .map(|i| match i {
                Val::Int(n) if *n >= 0 => Ok(*n as usize),
                _ => bail!("expected a tuple of sizes"),
            })
            .collect(),
        _ => bail!("expected a tuple of sizes"),
    }
}

fn reduce(f: &Val, args: Vec<Val>) -> Result<Val> {
    let Val::Global(name) = f else {
        return Ok(Val::Opaque);
    };
    Ok(match name.as_str() {
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let Some(Val::Storage { key, dtype }) = args.first() else {
                bail!("{name}: first argument is not a storage");
            };
            let offset = match args.get(1) {
                Some(Val::Int(o)) => *o as usize,
                _ => 0,
            };
            Val::Tensor(TensorRef {
                key: key.clone(),
                dtype: dtype.clone(),
                offset,
                size: ints(args.get(2).context("no size")?)?,
                stride: ints(args.get(3).context("no stride")?)?,
            })
        }
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
            args.into_iter().next().unwrap_or(Val::Opaque)
        }
        "collections.OrderedDict" => Val::Dict(vec![]),
        _ => Val::Opaque,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpickles_a_small_state_dict_shape() {
        // {'a': 1, 'b': (2, 3)} at protocol 2.
        let p = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02K\x02K\x03\x86q\x03u.";
        let v = unpickle(p).unwrap();
        let Val::Dict(items) = v else { panic!() };
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[1].1, Val::Tuple(t) if t.len() == 2));
        let e = unpickle(&p[..10]).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
