//! A tar writer that puts down raw 512-byte headers, so that the malicious-archive corpus can hold
//! what no tar tool writes: bad checksums, sizes that disagree, dangling extension headers, names
//! with NUL or `..`, devices, data on links.

/// One raw header's fields. `size` is what the header claims; `data` what follows it.
pub struct Hdr<'a> {
    pub name: &'a [u8],
    pub kind: u8,
    pub link: &'a [u8],
    pub mode: u32,
    pub data: &'a [u8],
    /// Overrides the octal size field (12 bytes, as written).
    pub size_field: Option<&'a [u8]>,
    /// Adds this to the correct checksum.
    pub checksum_error: u32,
}

impl<'a> Hdr<'a> {
    pub fn new(name: &'a [u8], kind: u8) -> Self {
        Self {
            name,
            kind,
            link: b"",
            mode: 0o644,
            data: b"",
            size_field: None,
            checksum_error: 0,
        }
    }
}

#[derive(Default)]
pub struct RawTar {
    pub out: Vec<u8>,
}

impl RawTar {
    /// Starts from the members of a finished tar (its end-of-archive blocks cut off).
    pub fn after(tar: &[u8]) -> Self {
        let mut end = tar.len();
        while end >= 512 && tar[end - 512..end].iter().all(|&b| b == 0) {
            end -= 512;
        }
        Self {
            out: tar[..end].to_vec(),
        }
    }

    pub fn header(&mut self, h: &Hdr<'_>) -> &mut Self {
        self.header_only(h, h.data.len() as u64);
        self.out.extend_from_slice(h.data);
        self.pad()
    }

    /// The header alone, claiming `size` bytes of data (which the caller may or may not add).
    pub fn header_only(&mut self, h: &Hdr<'_>, size: u64) -> &mut Self {
        let mut b = [0u8; 512];
        b[..h.name.len().min(100)].copy_from_slice(&h.name[..h.name.len().min(100)]);
        b[100..107].copy_from_slice(format!("{:07o}", h.mode).as_bytes());
        b[108..115].copy_from_slice(b"0000000");
        b[116..123].copy_from_slice(b"0000000");
        match h.size_field {
            Some(f) => b[124..124 + f.len()].copy_from_slice(f),
            None => b[124..135].copy_from_slice(format!("{size:011o}").as_bytes()),
        }
        b[136..147].copy_from_slice(b"00000000000");
        b[156] = h.kind;
        b[157..157 + h.link.len().min(100)].copy_from_slice(&h.link[..h.link.len().min(100)]);
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        b[148..156].copy_from_slice(b"        ");
        let sum: u32 = b.iter().map(|&x| u32::from(x)).sum::<u32>() + h.checksum_error;
        b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        self.out.extend_from_slice(&b);
        self
    }

    pub fn pad(&mut self) -> &mut Self {
        self.out.resize(self.out.len().div_ceil(512) * 512, 0);
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Self {
        self.header(&Hdr {
            mode,
            data,
            ..Hdr::new(name.as_bytes(), b'0')
        })
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.header(&Hdr {
            mode,
            ..Hdr::new(name.as_bytes(), b'5')
        })
    }

    pub fn link(&mut self, kind: u8, name: &str, target: &str) -> &mut Self {
        self.header(&Hdr {
            link: target.as_bytes(),
            mode: 0o777,
            ..Hdr::new(name.as_bytes(), kind)
        })
    }

    /// A PAX extension header (`x`) with these records, lengths computed.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            data.extend_from_slice(&pax_record(k, v));
        }
        self.pax_raw(b'x', &data)
    }

    /// An extension header of `kind` (`x`, `g`, `L`, `K`) with this exact body.
    pub fn pax_raw(&mut self, kind: u8, data: &[u8]) -> &mut Self {
        let name: &[u8] = if kind == b'L' || kind == b'K' {
            b"././@LongLink"
        } else {
            b"python/PaxHeaders/member"
        };
        self.header(&Hdr {
            data,
            ..Hdr::new(name, kind)
        })
    }

    /// Two zero blocks: the end-of-archive marker.
    pub fn end(&mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0; 1024]);
        std::mem::take(&mut self.out)
    }
}

/// `"<len> key=value\n"`, the length counting itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + 1 + value.len() + 1;
    let mut len = body + 1;
    while len.to_string().len() + 1 + body != len {
        len = len.to_string().len() + 1 + body;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}
