//! Signed catalogues: a fleet trusts its signer, not its mirror.
//!
//! A catalogue `C` is signed in minisign's format (Ed25519, prehashed) by `C.minisig`, fetched
//! beside it. The signature's *trusted comment* (signed too) reads
//! `pyswap-catalogue [name=NAME ]version=N expires=RFC3339`: `N` only grows per catalogue line
//! (name), whichever trusted key signs it, `expires` is when the signature stops being accepted (by the real clock: `PYSWAP_NOW`
//! does not move trust). With `[trust] keys` set, a catalogue is used only when
//!
//! 1. a trusted key made its signature over exactly its bytes,
//! 2. its version is not lower than the highest this home accepted for that name, from any key
//!    (the floor is the line's, not the key's: while an old and a new key are both trusted during
//!    a rotation, the old key's last catalogue cannot be replayed over the new key's newer one),
//!    and
//! 3. it has not expired.
//!
//! Anything else is a [`TrustError`], refused before anything is downloaded. The accepted
//! signature is kept beside the cached catalogue (`catalogues/<id>.minisig`) and its version in
//! the database (`trust_seen`): the higher of the two is the floor, so a restored or rebuilt
//! database does not reopen a rollback.

use std::fmt;
use std::io::Cursor;

use minisign::{PublicKey, SecretKey, SignatureBox};

/// What trusted comments start with.
const TAG: &str = "pyswap-catalogue";

/// A trusted public key, `RW...` as minisign writes it.
#[derive(Clone)]
pub(crate) struct Key {
    key: PublicKey,
    base64: String,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.base64 == other.base64
    }
}

impl Key {
    /// Parses `RW...` (the second line of a minisign `.pub` file).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let base64 = text.trim();
        let key = PublicKey::from_base64(base64)
            .map_err(|e| format!("`{base64}` is not a minisign public key ({e})"))?;
        Ok(Self {
            key,
            base64: base64.to_owned(),
        })
    }

    /// Its key id as minisign prints it: 16 uppercase hex digits.
    pub(crate) fn id(&self) -> String {
        key_id(self.key.keynum())
    }

    pub(crate) fn base64(&self) -> &str {
        &self.base64
    }
}

/// minisign's key id: the 8-byte key number, little-endian, as 16 uppercase hex digits.
fn key_id(keynum: &[u8]) -> String {
    use std::fmt::Write as _;
    keynum.iter().rev().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    })
}

/// The signed facts of a catalogue signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Comment {
    /// The catalogue line (`staging`, `production`); `""` when the comment names none.
    pub(crate) name: String,
    pub(crate) version: u64,
    /// Unix seconds.
    pub(crate) expires: i64,
}

impl Comment {
    /// Parses `pyswap-catalogue [name=NAME ]version=N expires=RFC3339`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut words = text.split_whitespace();
        if words.next() != Some(TAG) {
            return Err(format!("it does not start with `{TAG}`"));
        }
        let (mut name, mut version, mut expires) = (None, None, None);
        for word in words {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| format!("`{word}` is not key=value"))?;
            match k {
                "name" if name.is_none() && valid_name(v) => name = Some(v.to_owned()),
                "version" if version.is_none() => {
                    version = Some(
                        v.parse::<u64>()
                            .map_err(|_| format!("version `{v}` is not a whole number"))?,
                    );
                }
                "expires" if expires.is_none() => {
                    let t = humantime::parse_rfc3339(v)
                        .map_err(|_| format!("expires `{v}` is not an RFC 3339 time"))?;
                    let secs = t
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_err(|_| format!("expires `{v}` is before 1970"))?
                        .as_secs();
                    expires = Some(i64::try_from(secs).unwrap_or(i64::MAX));
                }
                _ => return Err(format!("`{word}` is unknown or repeated")),
            }
        }
        Ok(Self {
            name: name.unwrap_or_default(),
            version: version.ok_or("it has no version=N")?,
            expires: expires.ok_or("it has no expires=TIME")?,
        })
    }

    /// The trusted comment that says this.
    pub(crate) fn text(&self) -> String {
        let name = if self.name.is_empty() {
            String::new()
        } else {
            format!("name={} ", self.name)
        };
        format!(
            "{TAG} {name}version={} expires={}",
            self.version,
            crate::ground::clock::rfc3339(self.expires)
        )
    }
}

/// A catalogue line's name: letters, digits, `-`, `_`, `.`.
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// What a catalogue is checked against: the trusted keys, the catalogue lines this host
/// follows, the highest version this home's database accepted per key id and name, and the
/// real clock (unix seconds).
pub(crate) struct Trust<'a> {
    pub(crate) keys: &'a [Key],
    /// The names a signature must carry (`[trust] names`); empty: any.
    pub(crate) names: &'a [String],
    pub(crate) seen: &'a dyn Fn(&str) -> u64,
    pub(crate) now: i64,
}

/// A signature accepted for a catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub(crate) key_id: String,
    pub(crate) comment: Comment,
}

/// Why a catalogue was refused under `[trust] keys`.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("catalogue {catalogue} is not signed: {why}")]
    Unsigned { catalogue: String, why: String },
    #[error("catalogue {catalogue}: its signature is not a minisign signature ({why})")]
    Malformed { catalogue: String, why: String },
    #[error("catalogue {catalogue} is signed by key {key_id}, which is not in [trust] keys")]
    UnknownKey { catalogue: String, key_id: String },
    #[error(
        "catalogue {catalogue}: the signature by key {key_id} does not match its bytes ({why})"
    )]
    BadSignature {
        catalogue: String,
        key_id: String,
        why: String,
    },
    #[error(
        "catalogue {catalogue}: the signature's trusted comment `{comment}` is not pyswap's: {why}"
    )]
    Comment {
        catalogue: String,
        comment: String,
        why: String,
    },
    #[error("catalogue {catalogue}: version {version} < {seen} seen{} (signed by key {key_id}): an older catalogue than this home accepted", name_suffix(.name))]
    Rollback {
        catalogue: String,
        key_id: String,
        name: String,
        version: u64,
        seen: u64,
    },
    #[error("catalogue {catalogue}: its signature expired at {at}")]
    Expired { catalogue: String, at: String },
    #[error("catalogue {catalogue} is signed for {}, not for {} ([trust] names)", shown_name(.name), .follows.join(" or "))]
    OtherLine {
        catalogue: String,
        name: String,
        follows: Vec<String>,
    },
}

fn shown_name(name: &str) -> String {
    if name.is_empty() {
        "no catalogue line (no name=)".to_owned()
    } else {
        format!("catalogue line {name}")
    }
}

fn name_suffix(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(", name {name}")
    }
}

crate::ground::exit::register!(TrustError);
impl crate::ground::exit::Reason for TrustError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some(
            match self {
                Self::Unsigned { .. } | Self::Malformed { .. } => {
                    "sign it (`pyswap catalogue sign FILE --key KEY`, `pyswap mirror --sign-key`, or `minisign -S`) and serve CATALOGUE.minisig beside it; nothing was installed"
                }
                Self::UnknownKey { .. } | Self::BadSignature { .. } => {
                    "the mirror, or the path to it, serves what a trusted key did not sign; nothing was installed and the cached catalogue was kept"
                }
                Self::Comment { .. } => {
                    "sign with the trusted comment `pyswap-catalogue [name=NAME ]version=N expires=RFC3339`"
                }
                Self::Rollback { .. } => {
                    "a mirror serving last release's catalogue is refused; sign the current one with a higher version"
                }
                Self::Expired { .. } => {
                    "re-sign the catalogue with a later expiry (`pyswap mirror DIR --sign-key KEY` again); a mirror that stopped updating is refused"
                }
                Self::OtherLine { .. } => {
                    "the mirror serves another line's catalogue (staging's to production, say); serve this host's line, or change [trust] names"
                }
            }
            .into(),
        )
    }
}

/// Checks `sig` (the text of `catalogue.minisig`, if one was found) over `bytes` under
/// `trust`: which trusted key made it, and its signed comment (a line this host follows, a
/// version not below `floor`'s for its name, whichever key signed, not expired). `floor` stands for
/// `trust.seen` where the caller knows more (the signature kept beside a cached copy).
pub(crate) fn check(
    trust: &Trust<'_>,
    floor: &dyn Fn(&str) -> u64,
    catalogue: &str,
    bytes: &[u8],
    sig: Option<&str>,
) -> Result<Accepted, TrustError> {
    let (keys, now) = (trust.keys, trust.now);
    let sig = sig.ok_or_else(|| TrustError::Unsigned {
        catalogue: catalogue.to_owned(),
        why: format!("no {catalogue}.minisig"),
    })?;
    let signature = SignatureBox::from_string(sig).map_err(|e| TrustError::Malformed {
        catalogue: catalogue.to_owned(),
        why: e.to_string(),
    })?;
    let key_id = key_id(signature.keynum());
    let key = keys
        .iter()
        .find(|k| k.key.keynum() == signature.keynum())
        .ok_or_else(|| TrustError::UnknownKey {
            catalogue: catalogue.to_owned(),
            key_id: key_id.clone(),
        })?;
    minisign::verify(&key.key, &signature, Cursor::new(bytes), true, false, false).map_err(
        |e| TrustError::BadSignature {
            catalogue: catalogue.to_owned(),
            key_id: key_id.clone(),
            why: e.to_string(),
        },
    )?;
    let text = signature.trusted_comment().unwrap_or_default();
    let comment = Comment::parse(&text).map_err(|why| TrustError::Comment {
        catalogue: catalogue.to_owned(),
        comment: crate::ground::text::printable(&text).into_owned(),
        why,
    })?;
    if !trust.names.is_empty() && !trust.names.contains(&comment.name) {
        return Err(TrustError::OtherLine {
            catalogue: catalogue.to_owned(),
            name: comment.name,
            follows: trust.names.to_vec(),
        });
    }
    let floor = floor(&comment.name);
    if comment.version < floor {
        return Err(TrustError::Rollback {
            catalogue: catalogue.to_owned(),
            key_id,
            name: comment.name,
            version: comment.version,
            seen: floor,
        });
    }
    if comment.expires <= now {
        return Err(TrustError::Expired {
            catalogue: catalogue.to_owned(),
            at: crate::ground::clock::rfc3339(comment.expires),
        });
    }
    Ok(Accepted { key_id, comment })
}

/// The largest signature read (a minisig is a few hundred bytes).
pub(crate) const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// A signature `from` gave for `catalogue` that cannot be minisign's: refused, not taken as
/// absent (a mirror must not be able to turn "badly signed" into "not signed" by padding).
pub(crate) fn unreadable_signature(catalogue: &str, from: &str, why: &str) -> TrustError {
    TrustError::Malformed {
        catalogue: catalogue.to_owned(),
        why: format!("{from}: {why}"),
    }
}

pub(crate) fn too_large(catalogue: &str, from: &str) -> TrustError {
    unreadable_signature(
        catalogue,
        from,
        &format!("larger than {} KiB", MAX_SIGNATURE_BYTES / 1024),
    )
}

/// The text of the signature `bytes` that `from` gave for `catalogue`.
pub(crate) fn signature_text(
    catalogue: &str,
    from: &str,
    bytes: Vec<u8>,
) -> Result<String, TrustError> {
    if bytes.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(too_large(catalogue, from));
    }
    String::from_utf8(bytes).map_err(|_| unreadable_signature(catalogue, from, "not text"))
}

/// The signature file `path` of the catalogue file `catalogue`: `None` when there is none; one
/// that exists but cannot be read, is too large or is not text is refused.
pub(crate) fn read_signature(
    catalogue: &str,
    path: &std::path::Path,
) -> Result<Option<String>, TrustError> {
    use crate::network::fetch::{Capped, read_capped};
    let from = path.display().to_string();
    let read = std::fs::File::open(path)
        .map_err(|e| Capped::Io(e, 0))
        .and_then(|f| read_capped(f, MAX_SIGNATURE_BYTES));
    match read {
        Ok(bytes) => signature_text(catalogue, &from, bytes).map(Some),
        Err(Capped::Io(e, _)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(Capped::Io(e, _)) => Err(unreadable_signature(catalogue, &from, &e.to_string())),
        Err(Capped::TooLarge) => Err(too_large(catalogue, &from)),
    }
}

/// The trusted comment of a signature text, and its key id, without checking it (to read the
/// version of the signature kept beside a cached catalogue).
pub(crate) fn read_comment(sig: &str) -> Option<(String, Comment)> {
    let signature = SignatureBox::from_string(sig).ok()?;
    let comment = Comment::parse(&signature.trusted_comment().ok()?).ok()?;
    Some((key_id(signature.keynum()), comment))
}

/// Why a secret key could not be used to sign.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignError {
    #[error("cannot read the minisign secret key {path}: {why}")]
    Key { path: String, why: String },
    #[error("cannot sign {path}: {why}")]
    Sign { path: String, why: String },
}

crate::ground::exit::register!(SignError);
impl crate::ground::exit::Reason for SignError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some(
            "an encrypted key is unlocked with its password in PYSWAP_SIGN_PASSWORD (or typed at the prompt when there is a terminal); `minisign -G -W` makes an unencrypted one"
                .into(),
        )
    }
}

/// Reads a minisign secret key file (`minisign -G`), unlocking an encrypted one with
/// `password` (or a prompt when there is none and a terminal is there).
pub(crate) fn secret_key(
    path: &std::path::Path,
    password: Option<String>,
) -> Result<SecretKey, SignError> {
    let bad = |why: String| SignError::Key {
        path: path.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    if let Some(sk) = unencrypted(&text) {
        return Ok(sk);
    }
    let sk_box = minisign::SecretKeyBox::from_string(&text).map_err(|e| bad(e.to_string()))?;
    if password.is_none() && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(bad(
            "it is encrypted and no password was given (PYSWAP_SIGN_PASSWORD)".into(),
        ));
    }
    sk_box
        .into_secret_key(password)
        .map_err(|e| bad(e.to_string()))
}

/// An unencrypted secret key file (`minisign -G -W`, `rsign generate -W`). The minisign tool
/// writes such a key with a zeroed checksum, which the `minisign` crate reads as corrupted, so
/// the checksum (BLAKE2b-256 of the algorithm, key number and secret key) is filled in first.
fn unencrypted(text: &str) -> Option<SecretKey> {
    use base64::Engine as _;
    use blake2::Digest as _;
    let line = text.lines().nth(1)?;
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .ok()?;
    // sig_alg 2, kdf_alg 2, chk_alg 2, salt 32, opslimit 8, memlimit 8, keynum 8, sk 64, chk 32.
    if bytes.len() != 158 || bytes[2..4] != [0, 0] {
        return None;
    }
    let mut h = blake2::Blake2b::<blake2::digest::consts::U32>::new();
    h.update(&bytes[0..2]);
    h.update(&bytes[54..62]);
    h.update(&bytes[62..126]);
    let chk = h.finalize();
    if bytes[126..158].iter().all(|&b| b == 0) {
        bytes[126..158].copy_from_slice(&chk);
    } else if bytes[126..158] != chk[..] {
        return None;
    }
    let sk = SecretKey::from_bytes(&bytes).ok()?;
    (!sk.is_encrypted()).then_some(sk)
}

/// Signs `bytes` with `sk` and the trusted comment of `comment`: the text of `FILE.minisig`.
pub(crate) fn sign(
    sk: &SecretKey,
    path: &str,
    bytes: &[u8],
    comment: &Comment,
) -> Result<String, SignError> {
    minisign::sign(
        None,
        sk,
        Cursor::new(bytes),
        Some(&comment.text()),
        Some("signature from pyswap"),
    )
    .map(SignatureBox::into_string)
    .map_err(|e| SignError::Sign {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// How a catalogue file is signed (`pyswap mirror --sign-key`, `pyswap catalogue sign`).
pub(crate) struct Signing<'a> {
    pub(crate) key: &'a std::path::Path,
    /// The key's password, for an encrypted one.
    pub(crate) password: Option<String>,
    /// The version to sign; `None`: one more than the signature already beside the file.
    pub(crate) version: Option<u64>,
    /// The catalogue line; `None`: the name of the signature already there, if any.
    pub(crate) name: Option<String>,
    pub(crate) expires_in: std::time::Duration,
    /// Unix seconds (the real clock).
    pub(crate) now: i64,
}

/// The comment to sign: only one that hosts would accept now (`check`'s rules), else why not.
/// The version is the one asked for, or one more than the previous signature's (`before`); it
/// never goes below the previous one (hosts that took it would refuse the line) nor past the
/// last version there is; the expiry is in the future and an RFC 3339 time.
fn signable(how: &Signing<'_>, name: String, before: Option<&Comment>) -> Result<Comment, String> {
    let version = match (how.version, before) {
        (Some(v), Some(b)) if v < b.version => {
            return Err(format!(
                "version {v} is below the version {} already signed for this file: hosts that accepted it would refuse this one",
                b.version
            ));
        }
        (Some(v), _) => v,
        (None, Some(b)) => b.version.checked_add(1).ok_or_else(|| {
            format!(
                "the previous signature has version {}, the last there is: nothing newer can be signed for catalogue line `{}`; sign under a new name ([trust] names)",
                b.version, b.name
            )
        })?,
        (None, None) => 1,
    };
    let secs = i64::try_from(how.expires_in.as_secs()).unwrap_or(i64::MAX);
    if secs <= 0 {
        return Err(
            "--expires-in must be longer than 0s: hosts refuse an expired catalogue".into(),
        );
    }
    let expires = how.now.saturating_add(secs);
    let comment = Comment {
        name,
        version,
        expires,
    };
    // What a host reads back must be what was meant (a year past 9999 has no RFC 3339 form).
    match Comment::parse(&comment.text()) {
        Ok(back) if back == comment && back.expires > how.now => Ok(comment),
        _ => Err(format!(
            "--expires-in {} reaches past 9999-12-31, which hosts cannot read; sign for less",
            humantime::format_duration(how.expires_in)
        )),
    }
}

/// Signs the catalogue at `path` into `path.minisig` (written by rename), returning that path and
/// what the signature says.
pub(crate) fn sign_file(
    path: &std::path::Path,
    how: &Signing<'_>,
) -> Result<(std::path::PathBuf, Comment), SignError> {
    let shown = path.display().to_string();
    let failed = |why: String| SignError::Sign {
        path: shown.clone(),
        why,
    };
    let bytes = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let mut sig_path = path.as_os_str().to_owned();
    sig_path.push(".minisig");
    let sig_path = std::path::PathBuf::from(sig_path);
    let before = read_signature(&shown, &sig_path).ok().flatten();
    let (text, comment) = sign_bytes(&shown, &bytes, before.as_deref(), how)?;
    let dir = sig_path.parent().unwrap_or(std::path::Path::new("."));
    let written = tempfile::NamedTempFile::new_in(dir).and_then(|mut tmp| {
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.as_file().sync_all()?;
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        tmp.persist(&sig_path).map(|_| ()).map_err(|e| e.error)
    });
    written.map_err(|e| failed(e.to_string()))?;
    Ok((sig_path, comment))
}

/// The signature (`.minisig` text) of catalogue `bytes` (`shown` names it), continuing from the
/// signature `before` it had, if any, and what it says.
pub(crate) fn sign_bytes(
    shown: &str,
    bytes: &[u8],
    before: Option<&str>,
    how: &Signing<'_>,
) -> Result<(String, Comment), SignError> {
    let failed = |why: String| SignError::Sign {
        path: shown.to_owned(),
        why,
    };
    let before = before.and_then(read_comment).map(|(_, c)| c);
    let name = how
        .name
        .clone()
        .or_else(|| before.as_ref().map(|c| c.name.clone()))
        .unwrap_or_default();
    if !name.is_empty() && !valid_name(&name) {
        return Err(failed(format!(
            "name `{name}` may have only letters, digits, `-`, `_` and `.`"
        )));
    }
    let comment = signable(how, name, before.as_ref()).map_err(failed)?;
    let sk = secret_key(how.key, how.password.clone())?;
    let text = sign(&sk, shown, bytes, &comment)?;
    Ok((text, comment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_parse_and_print_back() {
        let c = Comment::parse("pyswap-catalogue name=prod version=7 expires=2027-01-01T00:00:00Z")
            .unwrap();
        assert_eq!((c.name.as_str(), c.version), ("prod", 7));
        assert_eq!(Comment::parse(&c.text()).unwrap(), c);
        let plain =
            Comment::parse("pyswap-catalogue version=1 expires=2027-01-01T00:00:00Z").unwrap();
        assert_eq!(plain.name, "");
        for bad in [
            "timestamp:1700000000",
            "pyswap-catalogue version=1",
            "pyswap-catalogue version=x expires=2027-01-01T00:00:00Z",
            "pyswap-catalogue version=1 version=2 expires=2027-01-01T00:00:00Z",
            "pyswap-catalogue name=a/b version=1 expires=2027-01-01T00:00:00Z",
        ] {
            assert!(Comment::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_signature_checks_against_its_key_bytes_line_version_and_expiry() {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let key = Key::parse(&pair.pk.to_base64()).unwrap();
        let other = Key::parse(
            &minisign::KeyPair::generate_unencrypted_keypair()
                .unwrap()
                .pk
                .to_base64(),
        )
        .unwrap();
        let comment = Comment {
            name: "production".into(),
            version: 3,
            expires: 2_000_000_000,
        };
        let sig = sign(&pair.sk, "c.json", b"{}", &comment).unwrap();
        let none = |_: &str| 0;
        let both = [other.clone(), key.clone()];
        let others = [other];
        let trust = |keys, names| Trust {
            keys,
            names,
            seen: &none,
            now: 1_900_000_000,
        };
        let any: &[String] = &[];
        let ok = check(&trust(&both, any), &none, "c.json", b"{}", Some(&sig)).unwrap();
        assert_eq!((ok.key_id, ok.comment.version), (key.id(), 3));
        let production = ["production".to_owned()];
        assert!(
            check(
                &trust(&both, &production),
                &none,
                "c.json",
                b"{}",
                Some(&sig)
            )
            .is_ok()
        );
        let err = |t: &Trust<'_>, floor: &dyn Fn(&str) -> u64, bytes: &[u8], sig| {
            check(t, floor, "c.json", bytes, sig)
                .unwrap_err()
                .to_string()
        };
        let key = std::slice::from_ref(&key);
        let trusted = trust(key, any);
        assert!(err(&trusted, &none, b"{ }", Some(&sig)).contains("does not match"));
        assert!(
            err(&trust(&others, any), &none, b"{}", Some(&sig)).contains("not in [trust] keys")
        );
        assert!(err(&trusted, &none, b"{}", None).contains("not signed"));
        let staging = ["staging".to_owned(), "canary".to_owned()];
        assert_eq!(
            err(&trust(key, &staging), &none, b"{}", Some(&sig)),
            "catalogue c.json is signed for catalogue line production, not for staging or canary ([trust] names)"
        );
        assert!(
            err(&trusted, &|_: &str| 4, b"{}", Some(&sig))
                .contains("version 3 < 4 seen, name production (signed by key ")
        );
        let later = Trust {
            now: 2_000_000_000,
            ..trust(key, any)
        };
        assert!(err(&later, &none, b"{}", Some(&sig)).contains("expired at 2033-05-18T03:33:20Z"));
    }

    // Issue 35, item 11: `catalogue sign` signed version 0 after 2^64-1, an `expires=@…` every
    // host refuses for `--expires-in 10000years`, and an expired catalogue for `0s`.
    #[test]
    fn the_signer_signs_only_what_hosts_accept() {
        let how = |version, expires_in: &str| Signing {
            key: std::path::Path::new("k"),
            password: None,
            version,
            name: None,
            expires_in: humantime::parse_duration(expires_in).unwrap(),
            now: 1_900_000_000,
        };
        let last = Comment {
            name: "prod".into(),
            version: u64::MAX,
            expires: 2_000_000_000,
        };
        let e = signable(&how(None, "30d"), "prod".into(), Some(&last)).unwrap_err();
        assert!(e.contains("the last there is"), "{e}");
        let e = signable(&how(None, "10000years"), String::new(), None).unwrap_err();
        assert!(e.contains("past 9999-12-31"), "{e}");
        let e = signable(&how(None, "0s"), String::new(), None).unwrap_err();
        assert!(e.contains("longer than 0s"), "{e}");
        let seven = Comment { version: 7, ..last };
        let e = signable(&how(Some(6), "30d"), "prod".into(), Some(&seven)).unwrap_err();
        assert!(e.contains("below the version 7"), "{e}");
        let c = signable(&how(None, "30d"), "prod".into(), Some(&seven)).unwrap();
        assert_eq!((c.version, c.expires), (8, 1_900_000_000 + 30 * 86_400));
        assert_eq!(Comment::parse(&c.text()).unwrap(), c);
    }
}
