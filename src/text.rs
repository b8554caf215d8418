//! Text as pyswap shows it: sizes for people, and text from outside made safe for a terminal.

/// `1.2 MiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A line of talk as it may reach a terminal: credentials masked, control characters escaped
/// (line breaks between lines kept).
pub fn printable_line(msg: &str) -> String {
    crate::secret::redact_text(msg)
        .split('\n')
        .map(|l| printable(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with control characters (ESC, CR, ...) escaped as `\u{..}`, so text from outside
/// (a process's command line, a catalogue) cannot drive the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if text.chars().any(unsafe_char) {
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_control_characters() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(super::printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
    }
}
