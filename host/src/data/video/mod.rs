//! Video files (mp4, avi, mkv, ...: whatever the FFmpeg libraries decode,
//! h264 and mpeg4 among them), through `ffmpeg.c`, a small C API over
//! libavformat, libavcodec and libswscale, compiled by `build.rs` when the
//! `video` feature is on and pkg-config finds FFmpeg's development files.
//! Without them the host still builds; a video source is then an error
//! that says how to get them.
//!
//! [`probe`] gives a file's frame size and frame count; [`decode`] gives
//! chosen frames as RGB bytes. Both check sizes before anything is allocated.

use anyhow::{Result, bail};
use std::path::Path;

/// What [`probe`] finds out about a video file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoInfo {
    pub width: usize,
    pub height: usize,
    /// The stream's frame count (from the container, or its packets).
    pub frames: usize,
}

/// Whether this build decodes video files.
pub const AVAILABLE: bool = cfg!(scivid_ffmpeg);

/// The frame size and count of the video at `path`.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    let info = ffi::probe(path)?;
    let pixels = info.width as u64 * info.height as u64;
    if pixels > super::clips::MAX_FRAME_PIXELS {
        bail!(
            "{}: the video claims {} x {} pixels, more than a frame may have ({} megapixels)",
            path.display(),
            info.width,
            info.height,
            super::clips::MAX_FRAME_PIXELS >> 20
        );
    }
    Ok(info)
}

/// Frames `indices` (in any order, repeats allowed) of the video at `path`
/// as RGB bytes, [indices.len(), height, width, 3].
pub fn decode(path: &Path, info: &VideoInfo, indices: &[u32]) -> Result<Vec<u8>> {
    if let Some(&i) = indices.iter().find(|&&i| i as usize >= info.frames) {
        bail!(
            "{}: frame index {i} out of range ({} frames)",
            path.display(),
            info.frames
        );
    }
    let mut wanted: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let frame = info.width * info.height * 3;
    let distinct = ffi::decode(path, &wanted, info, frame)?;
    let mut out = Vec::with_capacity(indices.len() * frame);
    for i in indices {
        let k = wanted
            .binary_search(&(*i as i64))
            .expect("wanted holds every index");
        out.extend_from_slice(&distinct[k * frame..(k + 1) * frame]);
    }
    Ok(out)
}

#[cfg(scivid_ffmpeg)]
mod ffi {
    use super::VideoInfo;
    use anyhow::{Result, bail};
    use std::ffi::{CString, c_char};
    use std::path::Path;

    unsafe extern "C" {
        fn scivid_video_probe(
            path: *const c_char,
            width: *mut i32,
            height: *mut i32,
            frames: *mut i64,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
        fn scivid_video_decode(
            path: *const c_char,
            wanted: *const i64,
            n_wanted: usize,
            width: i32,
            height: i32,
            rgb: *mut u8,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
    }

    fn c_path(path: &Path) -> Result<CString> {
        use std::os::unix::ffi::OsStrExt;
        CString::new(path.as_os_str().as_bytes())
            .map_err(|_| anyhow::anyhow!("{}: a path with a NUL byte", path.display()))
    }

    fn message(err: &[u8]) -> String {
        let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
        String::from_utf8_lossy(&err[..end]).into_owned()
    }

    pub fn probe(path: &Path) -> Result<VideoInfo> {
        let p = c_path(path)?;
        let (mut w, mut h, mut n) = (0i32, 0i32, 0i64);
        let mut err = [0u8; 512];
        // SAFETY: every pointer is valid for the call; `err` has its length.
        let rc = unsafe {
            scivid_video_probe(
                p.as_ptr(),
                &mut w,
                &mut h,
                &mut n,
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        if rc != 0 {
            bail!("{}: {}", path.display(), message(&err));
        }
        Ok(VideoInfo {
            width: w as usize,
            height: h as usize,
            frames: n.max(0) as usize,
        })
    }

    pub fn decode(path: &Path, wanted: &[i64], info: &VideoInfo, frame: usize) -> Result<Vec<u8>> {
        let p = c_path(path)?;
        let mut rgb = vec![0u8; wanted.len() * frame];
        let mut err = [0u8; 512];
        // SAFETY: `rgb` holds `wanted.len()` frames of `width x height x 3`
        // bytes, the size the C side writes per wanted frame; it checks each
        // decoded frame against that size first.
        let rc = unsafe {
            scivid_video_decode(
                p.as_ptr(),
                wanted.as_ptr(),
                wanted.len(),
                info.width as i32,
                info.height as i32,
                rgb.as_mut_ptr(),
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        if rc != 0 {
            bail!("{}: {}", path.display(), message(&err));
        }
        Ok(rgb)
    }
}

#[cfg(not(scivid_ffmpeg))]
mod ffi {
    use super::VideoInfo;
    use anyhow::{Result, bail};
    use std::path::Path;

    const MISSING: &str = "this scivid was built without video support: install FFmpeg's \
        development files (Debian: apt-get install libavformat-dev libavcodec-dev \
        libswscale-dev pkg-config) and rebuild (the `video` feature is on by default)";

    pub fn probe(path: &Path) -> Result<VideoInfo> {
        bail!("{}: {MISSING}", path.display())
    }

    pub fn decode(path: &Path, _: &[i64], _: &VideoInfo, _: usize) -> Result<Vec<u8>> {
        bail!("{}: {MISSING}", path.display())
    }
}
