//! A `tensorflow.TensorProto` of float32, as `tf.io.serialize_tensor`
//! writes one (MOVi's per-frame `tracks/2d` and `tracks/visibility` in
//! SciVid's release are such bytes): dtype (field 1), shape (field 2: a
//! dimension per field 2, its size in field 1) and the values, raw in
//! `tensor_content` (field 4, little-endian) or listed in `float_val`
//! (field 5, packed or not).

use crate::example::{Fields, Value};
use crate::{Result, bail};

/// TensorFlow's `DT_FLOAT`.
const DT_FLOAT: u64 = 1;

/// A float32 tensor: its shape and values in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl FloatTensor {
    /// Parse a serialized `TensorProto`; anything but float32, or values
    /// that do not fill the shape, is an error saying so.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let (mut dtype, mut shape, mut content, mut listed) = (None, vec![], None, vec![]);
        for field in Fields(bytes) {
            match field? {
                (1, Value::Varint(d)) => dtype = Some(d),
                (2, Value::Bytes(s)) => shape = dims(s)?,
                (4, Value::Bytes(c)) => content = Some(c),
                (5, Value::Fixed32(x)) => listed.push(f32::from_bits(x)),
                (5, Value::Bytes(packed)) => listed.extend(le_floats(packed)?),
                _ => {}
            }
        }
        match dtype {
            Some(DT_FLOAT) => {}
            Some(d) => bail!("a tensor of dtype {d}, not float32 (1)"),
            None => bail!("a tensor without a dtype (not a TensorProto?)"),
        }
        let n = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= 1 << 28)
            .ok_or_else(|| crate::Error(format!("a tensor of shape {shape:?} is too large")))?;
        let values = match content {
            Some(c) => le_floats(c)?,
            // TensorFlow repeats the last listed value to fill the shape.
            None => match listed.last() {
                Some(&last) if listed.len() <= n => {
                    let mut v = listed.clone();
                    v.resize(n, last);
                    v
                }
                None => vec![0.0; n],
                Some(_) => listed,
            },
        };
        if values.len() != n {
            bail!("a tensor of shape {shape:?} holds {} values", values.len());
        }
        Ok(FloatTensor { shape, values })
    }
}

/// A `TensorShapeProto`'s dimension sizes.
fn dims(bytes: &[u8]) -> Result<Vec<usize>> {
    let mut out = vec![];
    for field in Fields(bytes) {
        match field? {
            (2, Value::Bytes(dim)) => {
                let mut size = 0u64;
                for f in Fields(dim) {
                    if let (1, Value::Varint(s)) = f? {
                        size = s;
                    }
                }
                // A negative size (unknown, -1) arrives as a huge varint.
                if size > u32::MAX as u64 {
                    bail!(
                        "a tensor dimension of unknown or huge size ({})",
                        size as i64
                    );
                }
                out.push(size as usize);
            }
            (3, Value::Varint(1)) => bail!("a tensor of unknown rank"),
            _ => {}
        }
    }
    Ok(out)
}

fn le_floats(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        bail!("float32 values in {} bytes", bytes.len());
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tf.io.serialize_tensor(np.arange(6, dtype=np.float32).reshape(3, 2))`
    /// from TensorFlow 2.20.
    const ARANGE_3X2: &str =
        "0801120812020803120208022218000000000000803f0000004000004040000080400000a040";
    /// The same for an empty [0, 2] tensor.
    const EMPTY_0X2: &str = "08011206120012020802";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn reads_what_tensorflow_serializes() {
        let t = FloatTensor::parse(&hex(ARANGE_3X2)).unwrap();
        assert_eq!(t.shape, [3, 2]);
        assert_eq!(t.values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let e = FloatTensor::parse(&hex(EMPTY_0X2)).unwrap();
        assert_eq!((e.shape, e.values), (vec![0, 2], vec![]));
    }

    #[test]
    fn listed_values_fill_the_shape_as_tensorflow_does() {
        // dtype 1, shape [3], float_val packed [7.0]
        let mut b = hex("0801120412020803");
        b.extend([0x2a, 4]);
        b.extend(7f32.to_le_bytes());
        let t = FloatTensor::parse(&b).unwrap();
        assert_eq!(t.values, [7.0, 7.0, 7.0]);
    }

    #[test]
    fn wrong_dtype_short_content_and_truncation_are_errors() {
        let mut int32 = hex(ARANGE_3X2);
        int32[1] = 3; // DT_INT32
        assert!(
            FloatTensor::parse(&int32)
                .unwrap_err()
                .0
                .contains("dtype 3")
        );
        let full = hex(ARANGE_3X2);
        // Shape [3, 2] with 20 bytes of content: drop one value, fix the length.
        let mut short = full[..full.len() - 4].to_vec();
        short[13] = 20;
        assert!(
            FloatTensor::parse(&short)
                .unwrap_err()
                .0
                .contains("holds 5 values")
        );
        assert!(FloatTensor::parse(&full[..full.len() - 3]).is_err());
    }
}
