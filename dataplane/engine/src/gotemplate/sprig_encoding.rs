//! sprig v3 encoding, hashing, random, path and flow-control functions. Base64 and
//! base32 decoding follow Go's decoders byte for byte, because sprig returns Go's
//! error text (`illegal base64 data at input byte 4`) as the function's result.

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::funcs::{FuncDef, Ty, fixed, n, s};
use super::sprig_strings::MAX_GENERATED;
use super::value::Value;

const S: &[Ty] = &[Ty::Str];

fn st(x: impl Into<String>) -> Result<Value, String> {
    Ok(Value::Str(x.into()))
}

pub(crate) static FUNCS: &[(&str, FuncDef)] = &[
    ("b64enc", fixed(S, |a| st(b64_encode(s(a, 0).as_bytes())))),
    ("b64dec", fixed(S, |a| st(b64_decode(s(a, 0))))),
    ("b32enc", fixed(S, |a| st(b32_encode(s(a, 0).as_bytes())))),
    ("b32dec", fixed(S, |a| st(b32_decode(s(a, 0))))),
    (
        "sha1sum",
        fixed(S, |a| st(hex(&Sha1::digest(s(a, 0).as_bytes())))),
    ),
    (
        "sha256sum",
        fixed(S, |a| st(hex(&Sha256::digest(s(a, 0).as_bytes())))),
    ),
    (
        "adler32sum",
        fixed(S, |a| st(adler32(s(a, 0).as_bytes()).to_string())),
    ),
    (
        "uuidv4",
        fixed(&[], |_| st(uuid::Uuid::new_v4().to_string())),
    ),
    (
        "randAlphaNum",
        fixed(&[Ty::Int], |a| st(random_from(n(a, 0), ALNUM))),
    ),
    (
        "randAlpha",
        fixed(&[Ty::Int], |a| st(random_from(n(a, 0), &ALNUM[10..]))),
    ),
    (
        "randNumeric",
        fixed(&[Ty::Int], |a| st(random_from(n(a, 0), &ALNUM[..10]))),
    ),
    (
        "randAscii",
        fixed(&[Ty::Int], |a| st(random_from(n(a, 0), ASCII))),
    ),
    ("base", fixed(S, |a| st(path_base(s(a, 0))))),
    ("dir", fixed(S, |a| st(path_dir(s(a, 0))))),
    ("clean", fixed(S, |a| st(path_clean(s(a, 0))))),
    ("ext", fixed(S, |a| st(path_ext(s(a, 0))))),
    (
        "isAbs",
        fixed(S, |a| Ok(Value::Bool(s(a, 0).starts_with('/')))),
    ),
    ("fail", fixed(S, |a| Err(s(a, 0).to_string()))),
];

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ASCII: &[u8] = b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn random_from(count: i64, alphabet: &[u8]) -> String {
    if count <= 0 {
        return String::new();
    }
    let count = (count as usize).min(MAX_GENERATED);
    (0..count)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
        .collect()
}

/// Go `base64.StdEncoding.EncodeToString`.
pub(crate) fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_value(c: u8) -> Option<u8> {
    B64.iter().position(|&x| x == c).map(|p| p as u8)
}

/// sprig `b64dec`: the decoded text, or Go's error text for bad input.
pub(crate) fn b64_decode(text: &str) -> String {
    match go_b64_decode(text.as_bytes()) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(at) => format!("illegal base64 data at input byte {at}"),
    }
}

fn skip_newlines(src: &[u8], mut si: usize) -> usize {
    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
        si += 1;
    }
    si
}

/// Go's `decodeQuantum` loop; the error is the offending byte offset.
fn go_b64_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let mut out = Vec::new();
    let mut si = 0;
    loop {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0;
        let mut trailing = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            if let Some(v) = b64_value(c) {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(si - 1);
            }
            if j == 2 {
                si = skip_newlines(src, si);
                if si == src.len() {
                    return Err(src.len());
                }
                if src[si] != b'=' {
                    return Err(si - 1);
                }
                si += 1;
            }
            si = skip_newlines(src, si);
            if si < src.len() {
                trailing = Some(si);
            }
            dlen = j;
            break;
        }
        let v = (u32::from(dbuf[0]) << 18)
            | (u32::from(dbuf[1]) << 12)
            | (u32::from(dbuf[2]) << 6)
            | u32::from(dbuf[3]);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..dlen - 1]);
        if let Some(e) = trailing {
            return Err(e);
        }
        if dlen < 4 {
            return Ok(out);
        }
    }
}

/// Go `base32.StdEncoding.EncodeToString`.
pub(crate) fn b32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[(v >> (35 - 5 * i) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// sprig `b32dec`: the decoded text, or Go's error text for bad input.
pub(crate) fn b32_decode(text: &str) -> String {
    let src: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    match go_b32_decode(&src) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(at) => format!("illegal base32 data at input byte {at}"),
    }
}

fn go_b32_decode(all: &[u8]) -> Result<Vec<u8>, usize> {
    let olen = all.len();
    let mut src = all;
    let mut out = Vec::new();
    let mut end = false;
    while !src.is_empty() && !end {
        let mut dbuf = [0u8; 8];
        let mut dlen = 8;
        let mut j = 0;
        while j < 8 {
            let Some((&c, rest)) = src.split_first() else {
                return Err(olen - src.len() - j);
            };
            src = rest;
            if c == b'=' && j >= 2 && src.len() < 8 {
                if src.len() + j < 7 {
                    return Err(olen);
                }
                for k in 0..7 - j {
                    if src.len() > k && src[k] != b'=' {
                        return Err(olen - src.len() + k - 1);
                    }
                }
                dlen = j;
                end = true;
                if matches!(dlen, 1 | 3 | 6) {
                    return Err(olen - src.len() - 1);
                }
                break;
            }
            dbuf[j] = match B32.iter().position(|&x| x == c) {
                Some(p) => p as u8,
                None => return Err(olen - src.len() - 1),
            };
            j += 1;
        }
        let v = dbuf.iter().fold(0u64, |acc, d| (acc << 5) | u64::from(*d));
        let nbytes = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => 0,
        };
        for i in 0..nbytes {
            out.push((v >> (32 - 8 * i)) as u8);
        }
    }
    Ok(out)
}

/// Go's `path.Clean`.
pub(crate) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

fn path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => return String::new(),
            '.' => return p[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}
