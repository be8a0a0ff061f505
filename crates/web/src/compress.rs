//! How cached pages are compressed (gzip and brotli), with the memory each compression takes in
//! mind: a page is compressed once per change, off the async workers, and every byte its encoder
//! allocates is resident for that moment (`tests/memory.rs` counts them).

use std::io::Write;

/// `data` gzip-compressed (level 6).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::new(6),
    );
    // Writing to a Vec cannot fail.
    let _ = out.write_all(data);
    out.finish().unwrap_or_default()
}

/// `data` brotli-compressed (quality 5, a window that fits it).
pub fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 5);
    // Quality 5 with the input's size as the hint: the encoder's hash table is a quarter of what
    // quality 6 allocates (heap profile: ~17 MB per page being compressed at 6) for pages a few
    // percent larger.
    let params = brotli::enc::BrotliEncoderParams {
        quality: 5,
        lgwin: brotli_window(data.len()),
        size_hint: data.len(),
        ..Default::default()
    };
    let _ = brotli::BrotliCompress(&mut &data[..], &mut out, &params);
    out
}

/// The smallest brotli window (log2 bytes, 17–22) that holds `len` bytes: a window larger than
/// the input compresses no better and makes the encoder allocate buffers of the window's size.
/// Never 16: at quality 5 a 64 KB window switches the encoder to another hasher that allocates
/// 32 MB and takes ~10 ms for a 15 KB page, where a 128 KB window takes ~1.5 MB and ~0.4 ms for
/// the same output or a smaller one (`tests/memory.rs` counts it).
fn brotli_window(len: usize) -> i32 {
    let bits = usize::BITS - len.saturating_sub(1).leading_zeros();
    i32::try_from(bits.clamp(17, 22)).unwrap_or(22)
}

#[cfg(test)]
mod tests {
    use super::brotli_window;

    #[test]
    fn the_brotli_window_fits_the_page() {
        assert_eq!(brotli_window(0), 17);
        assert_eq!(brotli_window(1000), 17);
        assert_eq!(brotli_window(65_536), 17);
        assert_eq!(brotli_window(65_537), 17);
        assert_eq!(brotli_window(114 * 1024), 17);
        assert_eq!(brotli_window(131_073), 18);
        assert_eq!(brotli_window(300 * 1024), 19);
        assert_eq!(brotli_window(64 << 20), 22);
    }
}
