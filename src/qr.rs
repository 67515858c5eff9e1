//! QR codes of voucher codes, rendered on demand (about half a millisecond
//! each, too slow to do for every code at issue).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// An SVG QR code of `text`. Codes use only upper-case letters and digits,
/// which QR's alphanumeric mode packs densely; level M survives a smudged
/// or creased slip.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}
