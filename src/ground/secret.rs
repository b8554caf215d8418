//! Credentials in URLs (`https://user:token@mirror/...`, a proxy's `http://user:pass@proxy`)
//! never leave memory: they are used for the request and nowhere else.
//!
//! Everything pyswap prints passes through [`redact_text`] at the one place it leaves
//! ([`crate::interface::output::Output`] and the error printer in `main`), so a URL inside an error from a
//! library is masked too. What is stored is stripped with [`strip`] before it is written: the
//! database's `archive_url`, a cached catalogue's header. A URL's credentials are its userinfo:
//! everything between `://` and the last `@` before the host ends.

/// `url` without its userinfo (`https://u:p@h/x` -> `https://h/x`), for storing.
pub(crate) fn strip(url: &str) -> String {
    mask(url, "")
}

/// `text` with the userinfo of every URL in it replaced by `****`, for printing.
pub fn redact_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains("://") && text.contains('@') {
        mask(text, "****@").into()
    } else {
        text.into()
    }
}

/// Replaces the userinfo (and its `@`) of each `scheme://userinfo@host` in `text` by `with`.
fn mask(text: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first of these; userinfo is what precedes its last `@`.
        let end = tail
            .find(|c: char| {
                matches!(
                    c,
                    '/' | '?' | '#' | '"' | '\'' | '`' | '<' | '>' | ')' | ']' | ','
                ) || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str(with);
                rest = &tail[at + 1..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_everywhere_in_a_text() {
        let t = "fetch https://bob:s3cret@mirror.example/x.tar.gz failed; proxy http://u:p@proxy:3128 said 407 (see https://docs.example/a@b)";
        let r = redact_text(t);
        assert!(!r.contains("s3cret") && !r.contains("u:p"), "{r}");
        assert!(r.contains("https://****@mirror.example/x.tar.gz"), "{r}");
        assert!(r.contains("http://****@proxy:3128"), "{r}");
        assert!(
            r.contains("https://docs.example/a@b"),
            "a path's @ is not userinfo: {r}"
        );
        assert_eq!(
            strip("https://tok@h.example/p?q=1"),
            "https://h.example/p?q=1"
        );
        assert_eq!(
            strip("file:///srv/mirror/a.tar.gz"),
            "file:///srv/mirror/a.tar.gz"
        );
        assert_eq!(redact_text("no urls here @all"), "no urls here @all");
        assert_eq!(
            redact_text("\"url\": \"https://a:b@c/d\""),
            "\"url\": \"https://****@c/d\""
        );
    }
}
