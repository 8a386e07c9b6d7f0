//! `tf.train.SequenceExample` from its protobuf wire format (no schema
//! compiler, no TensorFlow): context features by name, and feature lists
//! by name (one feature per time step, e.g. `image/encoded` per frame).

use crate::riegeli::varint;
use crate::{Result, bail};
use std::collections::BTreeMap;

/// One feature: a list of byte strings, floats or integers.
#[derive(Debug, Clone, PartialEq)]
pub enum Feature {
    Bytes(Vec<Vec<u8>>),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
}

impl Feature {
    pub fn ints(&self) -> Option<&[i64]> {
        match self {
            Feature::Ints(v) => Some(v),
            _ => None,
        }
    }
    pub fn floats(&self) -> Option<&[f32]> {
        match self {
            Feature::Floats(v) => Some(v),
            _ => None,
        }
    }
    pub fn bytes(&self) -> Option<&[Vec<u8>]> {
        match self {
            Feature::Bytes(v) => Some(v),
            _ => None,
        }
    }
    /// The kind, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Feature::Bytes(_) => "bytes",
            Feature::Floats(_) => "floats",
            Feature::Ints(_) => "ints",
        }
    }
}

/// A parsed `SequenceExample`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SequenceExample {
    pub context: BTreeMap<String, Feature>,
    /// Every feature list (empty after [`SequenceExample::parse_context`]).
    pub feature_lists: BTreeMap<String, Vec<Feature>>,
    /// The number of steps in each feature list.
    pub list_lengths: BTreeMap<String, usize>,
}

impl SequenceExample {
    /// Parse the serialized message.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::parse_with(bytes, None)
    }

    /// Parse the context and count each feature list's steps, without
    /// copying the lists (e.g. frames): what indexing a dataset needs.
    pub fn parse_context(bytes: &[u8]) -> Result<Self> {
        Self::parse_with(bytes, Some(&[]))
    }

    /// Like [`SequenceExample::parse_context`], also keeping the feature
    /// lists named in `keys` (e.g. a per-step target, not the frames).
    pub fn parse_lists(bytes: &[u8], keys: &[&str]) -> Result<Self> {
        Self::parse_with(bytes, Some(keys))
    }

    /// `keys`: the feature lists to keep (None: all).
    fn parse_with(bytes: &[u8], keys: Option<&[&str]>) -> Result<Self> {
        let mut out = SequenceExample::default();
        for field in Fields(bytes) {
            let (number, value) = field?;
            match (number, value) {
                (1, Value::Bytes(features)) => {
                    for entry in Fields(features) {
                        if let (1, Value::Bytes(e)) = entry? {
                            let (name, f) = map_entry(e)?;
                            out.context.insert(name, feature(f)?);
                        }
                    }
                }
                (2, Value::Bytes(lists)) => {
                    for entry in Fields(lists) {
                        if let (1, Value::Bytes(e)) = entry? {
                            let (name, list) = map_entry(e)?;
                            let with_lists = keys.is_none_or(|k| k.contains(&name.as_str()));
                            let mut steps = vec![];
                            let mut n = 0;
                            for step in Fields(list) {
                                if let (1, Value::Bytes(f)) = step? {
                                    n += 1;
                                    if with_lists {
                                        steps.push(feature(f)?);
                                    }
                                }
                            }
                            out.list_lengths.insert(name.clone(), n);
                            if with_lists {
                                out.feature_lists.insert(name, steps);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Context feature `name`, or an error listing those present.
    pub fn context(&self, name: &str) -> Result<&Feature> {
        self.context.get(name).ok_or_else(|| {
            let have: Vec<&str> = self.context.keys().map(String::as_str).collect();
            crate::Error(format!(
                "no context feature `{name}` (it has: {})",
                have.join(", ")
            ))
        })
    }

    /// Feature list `name`, or an error listing those present.
    pub fn list(&self, name: &str) -> Result<&[Feature]> {
        self.feature_lists
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| {
                let have: Vec<&str> = self.feature_lists.keys().map(String::as_str).collect();
                crate::Error(format!(
                    "no feature list `{name}` (it has: {})",
                    have.join(", ")
                ))
            })
    }
}

/// A map entry message: key (field 1, string) and value (field 2).
fn map_entry(bytes: &[u8]) -> Result<(String, &[u8])> {
    let (mut key, mut value) = (None, &[][..]);
    for field in Fields(bytes) {
        match field? {
            (1, Value::Bytes(k)) => {
                key = Some(
                    String::from_utf8(k.to_vec())
                        .map_err(|_| crate::Error("a feature name is not UTF-8".into()))?,
                )
            }
            (2, Value::Bytes(v)) => value = v,
            _ => {}
        }
    }
    Ok((key.unwrap_or_default(), value))
}

/// A `Feature` message: bytes_list (1), float_list (2) or int64_list (3),
/// each a repeated field 1, packed or not.
fn feature(bytes: &[u8]) -> Result<Feature> {
    let mut out = Feature::Bytes(vec![]);
    for field in Fields(bytes) {
        let (kind, Value::Bytes(list)) = field? else {
            continue;
        };
        out = match kind {
            1 => {
                let mut v = vec![];
                for f in Fields(list) {
                    if let (1, Value::Bytes(b)) = f? {
                        v.push(b.to_vec());
                    }
                }
                Feature::Bytes(v)
            }
            2 => {
                let mut v = vec![];
                for f in Fields(list) {
                    match f? {
                        (1, Value::Fixed32(x)) => v.push(f32::from_bits(x)),
                        (1, Value::Bytes(packed)) => {
                            if packed.len() % 4 != 0 {
                                bail!("packed floats of {} bytes", packed.len());
                            }
                            v.extend(
                                packed
                                    .chunks(4)
                                    .map(|c| f32::from_le_bytes(c.try_into().unwrap())),
                            );
                        }
                        _ => {}
                    }
                }
                Feature::Floats(v)
            }
            3 => {
                let mut v = vec![];
                for f in Fields(list) {
                    match f? {
                        (1, Value::Varint(x)) => v.push(x as i64),
                        (1, Value::Bytes(mut packed)) => {
                            while !packed.is_empty() {
                                v.push(varint(&mut packed)? as i64);
                            }
                        }
                        _ => {}
                    }
                }
                Feature::Ints(v)
            }
            _ => continue,
        };
    }
    Ok(out)
}

/// One field's value by wire type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of a message, in order: (number, value).
pub(crate) struct Fields<'a>(pub &'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let r = (|| {
            let key = varint(&mut self.0)?;
            let (number, wire) = (key >> 3, key & 7);
            let value = match wire {
                0 => Value::Varint(varint(&mut self.0)?),
                1 => {
                    take(&mut self.0, 8)?;
                    Value::Fixed64
                }
                2 => {
                    let n = varint(&mut self.0)?;
                    if n > self.0.len() as u64 {
                        bail!("a field claims {n} bytes, {} left", self.0.len());
                    }
                    Value::Bytes(take(&mut self.0, n as usize)?)
                }
                5 => Value::Fixed32(u32::from_le_bytes(
                    take(&mut self.0, 4)?.try_into().unwrap(),
                )),
                w => bail!("wire type {w} (not protobuf, or corrupt)"),
            };
            Ok((number, value))
        })();
        if r.is_err() {
            self.0 = &[];
        }
        Some(r)
    }
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if data.len() < n {
        bail!("truncated message");
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, wire: u64, body: &[u8]) -> Vec<u8> {
        let mut v = vec![(number << 3 | wire) as u8];
        if wire == 2 {
            v.push(body.len() as u8);
        }
        v.extend(body);
        v
    }

    #[test]
    fn a_hand_encoded_sequence_example_parses() {
        // context {"label": int64_list [3, 5] packed}
        let ints = field(3, 2, &field(1, 2, &[3, 5]));
        let entry = [field(1, 2, b"label"), field(2, 2, &ints)].concat();
        let context = field(1, 2, &entry);
        // feature_lists {"frames": [bytes ["ab"], bytes ["c"]]}
        let f = |s: &[u8]| field(1, 2, &field(1, 2, &field(1, 2, s)));
        let list = [f(b"ab"), f(b"c")].concat();
        let entry = [field(1, 2, b"frames"), field(2, 2, &list)].concat();
        let lists = field(1, 2, &entry);
        let msg = [field(1, 2, &context), field(2, 2, &lists)].concat();
        let ex = SequenceExample::parse(&msg).unwrap();
        assert_eq!(ex.context("label").unwrap().ints(), Some(&[3i64, 5][..]));
        let frames = ex.list("frames").unwrap();
        assert_eq!(frames[1].bytes().unwrap()[0], b"c");
        assert!(ex.list("video").unwrap_err().0.contains("frames"));
        let summary = SequenceExample::parse_context(&msg).unwrap();
        assert_eq!(summary.list_lengths["frames"], 2);
        assert!(summary.feature_lists.is_empty() && summary.context == ex.context);
        let some = SequenceExample::parse_lists(&msg, &["frames"]).unwrap();
        assert_eq!(some.feature_lists, ex.feature_lists);
        assert!(
            SequenceExample::parse_lists(&msg, &["other"])
                .unwrap()
                .feature_lists
                .is_empty()
        );
        assert!(SequenceExample::parse(&msg[..msg.len() - 1]).is_err());
    }
}
