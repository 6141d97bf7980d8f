//! The pairing QR code: drawn as SVG for the master screen from the same
//! URL the CLI prints, and read back from a photo or a screenshot for the
//! connect screen.

use outpost_link::PairingUrl;

use crate::error::AppError;

/// Largest image accepted for decoding (a phone photo is a few MB).
pub const MAX_IMAGE_BYTES: usize = 32 * 1024 * 1024;
/// Images are scaled down to this many pixels on the long side before
/// the search: `rqrr` is quadratic-ish in size, and a QR code that fills
/// part of a 12-megapixel photo is still readable at this size.
const MAX_SIDE: u32 = 1600;

/// The URL as an SVG QR code (dark on light, with its quiet zone).
pub fn svg(text: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| AppError::BadInput(format!("cannot draw a QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// Finds an Outpost pairing URL in an image file's bytes (PNG or JPEG).
pub fn decode(bytes: &[u8]) -> Result<String, AppError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(AppError::BadInput(format!(
            "the image is {} MB; choose one under {} MB",
            bytes.len() / (1024 * 1024),
            MAX_IMAGE_BYTES / (1024 * 1024)
        )));
    }
    let img = image::load_from_memory(bytes).map_err(|e| {
        AppError::BadInput(format!(
            "cannot read this file as a PNG or JPEG image ({e}); choose a photo or screenshot of the master's QR code"
        ))
    })?;
    let img = if img.width().max(img.height()) > MAX_SIDE {
        img.thumbnail(MAX_SIDE, MAX_SIDE)
    } else {
        img
    };
    let luma = img.to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(luma);
    let mut texts = Vec::new();
    for grid in prepared.detect_grids() {
        if let Ok((_, text)) = grid.decode() {
            texts.push(text);
        }
    }
    if texts.is_empty() {
        return Err(AppError::BadInput(
            "no QR code found in the image; take the photo straight on, with the whole code in view"
                .into(),
        ));
    }
    texts
        .iter()
        .find_map(|t| PairingUrl::parse(t).ok().map(|_| t.trim().to_string()))
        .ok_or_else(|| {
            AppError::BadInput(format!(
                "the QR code is not an Outpost pairing URL (it reads \"{}\"); scan the code on the master's screen",
                texts[0].chars().take(80).collect::<String>()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "outpost://192.168.1.10:7355/?name=Kashgar%20depot&fp=ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12&code=ABCD2345";

    /// A PNG of `text`'s QR code, `scale` pixels a module, on a wider
    /// light background (like a screenshot).
    fn png_of(text: &str, scale: u32, margin: u32) -> Vec<u8> {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let w = code.width() as u32;
        let side = w * scale + 2 * margin;
        let colors = code.to_colors();
        let img = image::GrayImage::from_fn(side, side, |x, y| {
            let inside =
                x >= margin && y >= margin && x < margin + w * scale && y < margin + w * scale;
            if !inside {
                return image::Luma([255]);
            }
            let (mx, my) = ((x - margin) / scale, (y - margin) / scale);
            match colors[(my * w + mx) as usize] {
                qrcode::Color::Dark => image::Luma([0]),
                qrcode::Color::Light => image::Luma([255]),
            }
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_screenshot_of_the_pairing_qr_code_gives_the_url_back() {
        assert_eq!(decode(&png_of(URL, 6, 80)).unwrap(), URL);
    }

    #[test]
    fn a_large_photo_is_scaled_down_and_still_read() {
        assert_eq!(decode(&png_of(URL, 40, 600)).unwrap(), URL);
    }

    #[test]
    fn the_svg_encodes_the_url() {
        let svg = svg(URL).unwrap();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<path") || svg.contains("<rect"));
    }

    #[test]
    fn a_qr_code_of_something_else_is_named_not_used() {
        let err = decode(&png_of("https://example.com/", 6, 40)).unwrap_err();
        assert!(
            err.to_string().contains("not an Outpost pairing URL"),
            "{err}"
        );
    }

    #[test]
    fn an_image_without_a_code_or_not_an_image_says_so() {
        let blank = {
            let img = image::GrayImage::from_pixel(200, 200, image::Luma([255]));
            let mut out = std::io::Cursor::new(Vec::new());
            img.write_to(&mut out, image::ImageFormat::Png).unwrap();
            out.into_inner()
        };
        assert!(decode(&blank)
            .unwrap_err()
            .to_string()
            .contains("no QR code found"));
        assert!(decode(b"GIF89a...")
            .unwrap_err()
            .to_string()
            .contains("cannot read this file"));
    }
}
