//! Reading a task's annotation files inside the sandbox. Tasks describe their
//! data in small CSV files next to the frames; [`Csv`] reads one with a header
//! row and reports errors by file and line. [`read_npy_f32`] reads a small
//! float32 `.npy` array (e.g. to derive targets from stored fields).

use crate::{Error, Result};

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
