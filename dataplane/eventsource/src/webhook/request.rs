//! Pure helpers that give an HTTP request the shape upstream's Go server gives it: header maps
//! keyed by canonical names, `url.Values` parsing, `json.RawMessage` compaction.

use std::collections::BTreeMap;

use http::HeaderMap;

/// Headers as Go's `http.Header` marshals them: canonical names, sorted, values in order.
pub(crate) type GoHeader = BTreeMap<String, Vec<String>>;

/// What upstream puts in place of any `Authorization` header value.
pub(crate) const MASKED_AUTH: &str = "*** Masked Auth Secret ***";

/// Go's `textproto.CanonicalMIMEHeaderKey`: the first letter and every letter after a hyphen
/// upper case, the rest lower case (`x-github-event` → `X-Github-Event`). Names with bytes
/// outside the token set are returned unchanged, as Go does.
pub(crate) fn canonical_header_key(name: &str) -> String {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !name.chars().all(token) {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// The request headers as upstream's handlers see them: Go drops `Host` (it becomes
/// `Request.Host`) and `Transfer-Encoding` from the map, and any non-empty `Authorization` is
/// replaced by [`MASKED_AUTH`].
pub(crate) fn go_header(headers: &HeaderMap) -> GoHeader {
    let mut out = GoHeader::new();
    for name in headers.keys() {
        if name == http::header::HOST || name == http::header::TRANSFER_ENCODING {
            continue;
        }
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        out.entry(canonical_header_key(name.as_str()))
            .or_default()
            .extend(values);
    }
    if out
        .get("Authorization")
        .and_then(|v| v.first())
        .is_some_and(|v| !v.is_empty())
    {
        out.insert("Authorization".to_owned(), vec![MASKED_AUTH.to_owned()]);
    }
    out
}

/// The first value of a header as text (Go's `Header.Get`), empty when absent.
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Go's `url.ParseQuery`: `&`-separated `key=value` pairs, `+` and `%XX` decoded, values kept in
/// order per key. Pairs Go refuses (a `;` in them, a bad escape) are left out; the first such
/// problem is returned alongside, as Go returns it.
pub(crate) fn parse_urlencoded(input: &str) -> (BTreeMap<String, Vec<String>>, Option<String>) {
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut first_error = None;
    for pair in input.split('&') {
        if pair.contains(';') {
            first_error.get_or_insert_with(|| "invalid semicolon separator in query".to_owned());
            continue;
        }
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (query_unescape(key), query_unescape(value)) {
            (Ok(k), Ok(v)) => values.entry(k).or_default().push(v),
            (Err(e), _) | (_, Err(e)) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (values, first_error)
}

/// Go's `url.QueryUnescape`.
fn query_unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
                let value = std::str::from_utf8(hex)
                    .ok()
                    .filter(|h| h.len() == 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match value {
                    Some(b) => out.push(b),
                    None => {
                        let bad: String = s[i..].chars().take(3).collect();
                        return Err(format!("invalid URL escape {bad:?}"));
                    }
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A JSON document checked and stripped of insignificant whitespace, otherwise byte for byte
/// as written (numbers and key order kept), as Go embeds a `json.RawMessage`.
pub(crate) fn compact_json(raw: &[u8]) -> Result<Vec<u8>, String> {
    // Checked for syntax only, as Go's json.Valid: numbers are not converted, so a valid
    // number beyond f64 (`1e400`) passes, as upstream passes the body on as raw JSON.
    serde_json::from_slice::<serde::de::IgnoredAny>(raw).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
    Ok(out)
}

/// The media type of a `Content-Type` value: lower case, without parameters.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Writes a payload object whose members are already-encoded JSON, in the given order (Go
/// marshals struct fields in declaration order).
pub(crate) fn json_object(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = vec![b'{'];
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            serde_json::to_string(key)
                .expect("invariant: a string always serializes")
                .as_bytes(),
        );
        out.push(b':');
        out.extend_from_slice(value);
    }
    out.push(b'}');
    out
}

/// Encodes a value for [`json_object`].
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("invariant: maps of strings always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys_follow_go() {
        for (raw, want) in [
            ("content-type", "Content-Type"),
            ("x-github-event", "X-Github-Event"),
            ("X-GITLAB-TOKEN", "X-Gitlab-Token"),
            ("authorization", "Authorization"),
            ("a--b", "A--B"),
            ("1abc", "1abc"),
            ("with space", "with space"),
        ] {
            assert_eq!(canonical_header_key(raw), want, "{raw}");
        }
    }

    #[test]
    fn go_header_masks_and_drops() {
        let mut h = HeaderMap::new();
        h.insert("host", "example".parse().unwrap());
        h.insert("authorization", "Bearer abc".parse().unwrap());
        h.append("x-multi", "1".parse().unwrap());
        h.append("x-multi", "2".parse().unwrap());
        let got = go_header(&h);
        assert_eq!(got.get("Host"), None);
        assert_eq!(got["Authorization"], vec![MASKED_AUTH.to_owned()]);
        assert_eq!(got["X-Multi"], vec!["1".to_owned(), "2".to_owned()]);
    }

    #[test]
    fn urlencoded_like_go() {
        let cases: &[(&str, &str, bool)] = &[
            ("a=1&b=2&a=3", r#"{"a":["1","3"],"b":["2"]}"#, false),
            (
                "x=hello+world&y=%2Fp%C3%A9",
                r#"{"x":["hello world"],"y":["/pé"]}"#,
                false,
            ),
            ("k&=v&&e=", r#"{"":["v"],"e":[""],"k":[""]}"#, false),
            ("a=1;b=2&c=3", r#"{"c":["3"]}"#, true),
            ("a=%zz&b=1", r#"{"b":["1"]}"#, true),
            ("", "{}", false),
        ];
        for (input, want, err) in cases {
            let (values, problem) = parse_urlencoded(input);
            assert_eq!(serde_json::to_string(&values).unwrap(), *want, "{input}");
            assert_eq!(problem.is_some(), *err, "{input}: {problem:?}");
        }
    }

    #[test]
    fn compaction_keeps_tokens() {
        let raw = br#" { "a" : [1, 2.50, 123456789012345678901234567890],
            "s": "keep  spaces \" and \\ " } "#;
        assert_eq!(
            String::from_utf8(compact_json(raw).unwrap()).unwrap(),
            r#"{"a":[1,2.50,123456789012345678901234567890],"s":"keep  spaces \" and \\ "}"#
        );
        // Valid JSON whatever the number's size: kept as written.
        assert_eq!(
            compact_json(br#"{"n": 1e400, "m": -1e-400, "i": 1e999999}"#).unwrap(),
            br#"{"n":1e400,"m":-1e-400,"i":1e999999}"#
        );
        for bad in [
            &b""[..],
            b"not json",
            b"{\"a\":}",
            b"{} {}",
            b"{\"n\": 1e}",
            b"[01]",
        ] {
            assert!(compact_json(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn objects_in_member_order() {
        let got = json_object(&[("header", b"{}"), ("body", b"[1]")]);
        assert_eq!(got, br#"{"header":{},"body":[1]}"#);
        assert_eq!(
            media_type("Application/JSON; charset=utf-8"),
            "application/json"
        );
    }
}
