//! Frames from one `tf.train.SequenceExample` record of an ArrayRecord file
//! (SciVid's released format): encoded images, or float lists mapped by the
//! task's value map.

use super::{Frame, mapped, resolve_inside};
use crate::runtime::bindings::{FloatFrames, FrameEncoding, SequenceFrames};
use anyhow::{Result, anyhow, bail, ensure};
use scivid_records::Feature;
use std::path::{Path, PathBuf};

/// The encoded frames `times` of one SequenceExample record in an
/// ArrayRecord file, named `SHARD#RECORD/KEY[t]` for errors.
pub(super) fn read_frames(
    root: &Path,
    s: &SequenceFrames,
    times: &[u32],
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let (shard, frames) = frames_list(root, s)?;
    times
        .iter()
        .map(|&t| {
            let name = format!("{shard}#{}/{}[{t}]", s.index, s.key);
            let Some(f) = frames.get(t as usize) else {
                bail!("{name}: frame index out of range ({} frames)", frames.len());
            };
            let bytes = match (&s.encoding, f) {
                (FrameEncoding::Images, Feature::Bytes(b)) if b.len() == 1 => b[0].clone(),
                (FrameEncoding::Floats(ff), Feature::Floats(v)) => {
                    let want = ff.height as usize * ff.width as usize;
                    ensure!(
                        v.len() == want,
                        "{name}: {} values, a {} x {} frame needs {want}",
                        v.len(),
                        ff.height,
                        ff.width
                    );
                    v.iter().flat_map(|x| x.to_le_bytes()).collect()
                }
                (FrameEncoding::Images, _) => {
                    bail!("{name}: not one encoded image (a {} feature)", f.kind())
                }
                (FrameEncoding::Floats(_), _) => {
                    bail!("{name}: not a float list (a {} feature)", f.kind())
                }
            };
            Ok((PathBuf::from(name), bytes))
        })
        .collect()
}

/// The number of steps in the frames' list of one record.
pub(super) fn frame_count(root: &Path, s: &SequenceFrames) -> Result<usize> {
    Ok(frames_list(root, s)?.1.len())
}

/// The shard's name (for errors) and the record's frames' list: only that
/// list is copied out of the record.
fn frames_list(root: &Path, s: &SequenceFrames) -> Result<(String, Vec<Feature>)> {
    let path = resolve_inside(root, &s.shard)?;
    let shard = path.display().to_string();
    let mut file = scivid_records::ArrayRecord::open(&path).map_err(|e| anyhow!("{shard}: {e}"))?;
    let record = file.get(s.index).map_err(|e| anyhow!("{shard}: {e}"))?;
    let mut example = scivid_records::SequenceExample::parse_lists(&record, &[s.key.as_str()])
        .map_err(|e| anyhow!("{shard}: record {}: not a SequenceExample: {e}", s.index))?;
    example
        .list(&s.key)
        .map_err(|e| anyhow!("{shard}: record {}: {e}", s.index))?;
    let frames = example.feature_lists.remove(&s.key).unwrap_or_default();
    Ok((shard, frames))
}

/// One step of float frames (little-endian f32 bytes), mapped to the
/// backbone's input: one channel [h, w].
pub(super) fn float_frame(bytes: &[u8], ff: &FloatFrames, what: &str) -> Result<Frame> {
    let raw: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Ok(Frame {
        h: ff.height as usize,
        w: ff.width as usize,
        c: 1,
        data: mapped(&raw, 1, &ff.values, what)?,
    })
}
