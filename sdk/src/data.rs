//! Reading a task's annotation files inside the sandbox. Tasks describe their
//! data in small CSV files next to the frames; [`Csv`] reads one with a header
//! row and reports errors by file and line. [`read_npy_f32`] reads a small
//! float32 `.npy` array (e.g. to derive targets from stored fields).
//! [`release_shards`] and [`labelled_sequence_clips`] index SciVid's
//! released ArrayRecord shards.

use crate::records::{ArrayRecord, SequenceExample};
use crate::{
    Clip, ClipSource, ClipTarget, DATA_DIR, Error, FrameEncoding, Result, SequenceFrames, bail,
};

/// A CSV file with a header row (comma-separated, no quoting).
#[derive(Debug, Clone)]
pub struct Csv {
    path: String,
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

/// One data row of a [`Csv`].
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    csv: &'a Csv,
    line: usize,
    fields: &'a [String],
}

impl Csv {
    /// Read `path`; every row must have as many fields as the header.
    pub fn read(path: &str) -> Result<Csv> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error(format!("cannot read {path}: {e}")))?;
        Csv::parse(path, &text)
    }

    /// Parse CSV text; `path` names it in errors.
    ///
    /// ```
    /// use scivid_sdk::data::Csv;
    /// let csv = Csv::parse("train/labels.csv", "id,file,label\nc0,c0.npy,3\n").unwrap();
    /// let row = csv.rows().next().unwrap();
    /// assert_eq!(row.get("file").unwrap(), "c0.npy");
    /// assert_eq!(row.parse::<u32>("label").unwrap(), 3);
    /// let e = row.get("video").unwrap_err().to_string();
    /// assert!(e.contains("train/labels.csv") && e.contains("video"), "{e}");
    /// let e = Csv::parse("a.csv", "id,file\nc0\n").unwrap_err().to_string();
    /// assert!(e.contains("a.csv line 2"), "{e}");
    /// ```
    pub fn parse(path: &str, text: &str) -> Result<Csv> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, head)) = lines.next() else {
            return Err(Error(format!("{path}: empty file (expected a header row)")));
        };
        let split = |l: &str| {
            l.split(',')
                .map(|f| f.trim().to_string())
                .collect::<Vec<_>>()
        };
        let header = split(head);
        let mut rows = vec![];
        for (n, l) in lines {
            let fields = split(l);
            if fields.len() != header.len() {
                return Err(Error(format!(
                    "{path} line {}: {} fields, the header has {} ({})",
                    n + 1,
                    fields.len(),
                    header.len(),
                    header.join(",")
                )));
            }
            rows.push((n + 1, fields));
        }
        Ok(Csv {
            path: path.to_string(),
            header,
            rows,
        })
    }

    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|(line, fields)| Row {
            csv: self,
            line: *line,
            fields,
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

impl<'a> Row<'a> {
    /// The field in column `name`.
    pub fn get(&self, name: &str) -> Result<&'a str> {
        let Some(i) = self.csv.header.iter().position(|h| h == name) else {
            return Err(Error(format!(
                "{}: no column `{name}` (columns: {})",
                self.csv.path,
                self.csv.header.join(",")
            )));
        };
        Ok(&self.fields[i])
    }

    /// The field in column `name`, parsed.
    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<T> {
        let v = self.get(name)?;
        v.parse()
            .map_err(|_| self.error(format!("column `{name}`: cannot parse `{v}`")))
    }

    /// A list of numbers in one field, separated by `;` (empty: none).
    pub fn floats(&self, name: &str) -> Result<Vec<f32>> {
        let v = self.get(name)?;
        v.split(';')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<f32>()
                    .map_err(|_| self.error(format!("column `{name}`: `{s}` is not a number")))
            })
            .collect()
    }

    /// An error naming the file and line of this row.
    pub fn error(&self, what: impl std::fmt::Display) -> Error {
        Error(format!("{} line {}: {what}", self.csv.path, self.line))
    }
}

/// SciVid's released layout: the ArrayRecord shards whose names start with
/// `prefix`, in `DATA_DIR/dir` (where SciVid's download keeps them) or in
/// `DATA_DIR` itself; paths relative to the dataset directory, sorted.
/// Empty when there are none (the dataset is in another layout).
pub fn release_shards(dir: &str, prefix: &str) -> Vec<String> {
    for d in [dir, ""] {
        let Ok(entries) = std::fs::read_dir(format!("{DATA_DIR}/{d}")) else {
            continue;
        };
        let mut shards: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(prefix) && n.contains(".array_record"))
            .map(|n| if d.is_empty() { n } else { format!("{d}/{n}") })
            .collect();
        if !shards.is_empty() {
            shards.sort();
            return shards;
        }
    }
    vec![]
}

/// One clip per record of `shards` (SciVid's classification layout): the
/// target multi-hot over `classes` from the class indices in the context
/// feature `clip/label/index`, up to `frames` frames from the first, taken
/// from the encoded images under `image/encoded` (the host decodes them).
/// Errors name the shard and the record.
pub fn labelled_sequence_clips(
    shards: &[String],
    classes: usize,
    frames: u32,
) -> Result<Vec<Clip>> {
    let mut clips = vec![];
    for shard in shards {
        let path = format!("{DATA_DIR}/{shard}");
        let err = |e: crate::records::Error| Error(format!("{path}: {e}"));
        let mut file = ArrayRecord::open(std::path::Path::new(&path)).map_err(err)?;
        for index in 0..file.len() {
            let at = |what: String| Error(format!("{path}: record {index}: {what}"));
            let record = file.get(index).map_err(err)?;
            let ex = SequenceExample::parse_context(&record).map_err(|e| at(e.0))?;
            let labels = ex.context("clip/label/index").map_err(|e| at(e.0))?;
            let labels = labels
                .ints()
                .ok_or_else(|| at("`clip/label/index` is not a list of ints".into()))?;
            if labels.is_empty() {
                return Err(at("no label in `clip/label/index`".into()));
            }
            let mut target = vec![0.0; classes];
            for &l in labels {
                match usize::try_from(l).ok().and_then(|l| target.get_mut(l)) {
                    Some(t) => *t = 1.0,
                    None => {
                        return Err(at(format!("label {l} out of range (0 to {})", classes - 1)));
                    }
                }
            }
            let n = ex.list_lengths.get("image/encoded").copied().unwrap_or(0);
            if n == 0 {
                return Err(at("no frames under `image/encoded`".into()));
            }
            let id = format!("{shard}#{index}");
            clips.push(Clip {
                id: id.clone(),
                source: ClipSource::SequenceExample(SequenceFrames {
                    shard: shard.clone(),
                    index,
                    key: "image/encoded".into(),
                    encoding: FrameEncoding::Images,
                }),
                frame_indices: (0..frames.min(n as u32)).collect(),
                target: ClipTarget::Values(target),
                group: id,
                extras: vec![],
            });
        }
    }
    if clips.is_empty() {
        bail!("{}: the shards hold no records", shards.join(", "));
    }
    Ok(clips)
}

/// Paths of `count` numbered frames `{dir}/NNNNN.png` from `start`: the
/// usual layout of a video stored as one image per frame.
///
/// ```
/// assert_eq!(
///     scivid_sdk::data::numbered_frames("v7", 2, 2),
///     ["v7/00002.png", "v7/00003.png"]
/// );
/// ```
pub fn numbered_frames(dir: &str, start: u32, count: u32) -> Vec<String> {
    (start..start + count)
        .map(|f| format!("{dir}/{f:05}.png"))
        .collect()
}

/// A little-endian float32, C-order `.npy` file: (shape, values).
pub fn read_npy_f32(path: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| Error(format!("cannot read {path}: {e}")))?;
    parse_npy_f32(path, &bytes)
}

/// Parse `.npy` bytes holding float32 (`<f4`), C order; `path` names it in errors.
pub fn parse_npy_f32(path: &str, bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    let bad = |what: &str| Error(format!("{path}: {what}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (bad magic)"));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad("unsupported or truncated .npy header")),
    };
    let header = bytes
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated .npy header"))?;
    if !header.contains("'<f4'") {
        return Err(bad("dtype is not float32 little-endian ('<f4')"));
    }
    if !header.contains("'fortran_order': False") {
        return Err(bad("Fortran-ordered arrays are not supported"));
    }
    let shape_text = header
        .split("'shape':")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| bad("no shape in the .npy header"))?;
    let shape = shape_text
        .trim()
        .trim_start_matches('(')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad("bad shape in the .npy header"))
        })
        .collect::<Result<Vec<_>>>()?;
    let count: usize = shape.iter().product();
    let data = &bytes[start + len..];
    if data.len() != count * 4 {
        return Err(bad(&format!(
            "holds {} data bytes, shape {shape:?} needs {} (truncated or corrupt)",
            data.len(),
            count * 4
        )));
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((shape, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_names_errors() {
        let csv = Csv::parse("a.csv", "id,x,v\nc1,3,1;2.5\n\nc2,4,\n").unwrap();
        let rows: Vec<Row> = csv.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].parse::<u32>("x").unwrap(), 3);
        assert_eq!(rows[0].floats("v").unwrap(), vec![1.0, 2.5]);
        assert!(rows[1].floats("v").unwrap().is_empty());
        let e = rows[1].get("nope").unwrap_err().0;
        assert!(e.contains("a.csv") && e.contains("nope"), "{e}");
        let e = Csv::parse("b.csv", "id,x\n1\n").unwrap_err().0;
        assert!(e.contains("b.csv line 2"), "{e}");
    }
}
