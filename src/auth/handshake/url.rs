//! The little of the WHATWG URL standard the handshake needs, written the way `@clerk/backend`
//! sees URLs through JavaScript's `URL` and `URLSearchParams`: an `http(s)` origin, a path, and
//! a query that is re-serialised as `application/x-www-form-urlencoded` whenever a parameter is
//! deleted or appended (so `a=b%20c&d` becomes `a=b+c&d=`). `redirect_url` is compared with
//! Clerk's byte for byte, so the re-encoding matters.
//!
//! Deliberately small: the runtime has already parsed and normalised the request URL, so only
//! what Clerk does on top of it is modelled here (forwarded-header origins, parameter edits).

/// An absolute `http:` or `https:` URL split into the parts the handshake edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// Host and non-default port, lower case (`URL.host`).
    pub host: String,
    /// The path, starting with `/`.
    pub path: String,
    /// The query without `?`, `None` when there is none.
    pub query: Option<String>,
}

impl WebUrl {
    /// Parses an absolute http(s) URL as a runtime hands it over (already normalised). The
    /// fragment, if any, is dropped: it never reaches a server.
    pub fn parse(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let rest = rest.split('#').next().unwrap_or("");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let host = normalise_host(&scheme, authority)?;
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (tail, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        Some(WebUrl {
            scheme,
            host,
            path: path.to_owned(),
            query,
        })
    }

    /// `URL.origin`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// `URL.href`.
    pub fn href(&self) -> String {
        let mut href = format!("{}://{}{}", self.scheme, self.host, self.path);
        if let Some(query) = &self.query {
            href.push('?');
            href.push_str(query);
        }
        href
    }

    /// `URL.hostname`: the host without its port.
    pub fn hostname(&self) -> &str {
        match self.host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => &self.host,
        }
    }

    /// This URL after `searchParams.delete(name)` for every name: the query is re-serialised
    /// even when nothing was deleted, and dropped when it ends up empty.
    pub fn without_params(&self, names: &[&str]) -> Self {
        let Some(query) = &self.query else {
            return self.clone();
        };
        let kept: Vec<(String, String)> = parse_query(query)
            .into_iter()
            .filter(|(n, _)| !names.contains(&n.as_str()))
            .collect();
        let serialised = serialize_query(&kept);
        WebUrl {
            query: (!serialised.is_empty()).then_some(serialised),
            ..self.clone()
        }
    }

    /// `searchParams.append` for each pair, in order.
    pub fn with_appended(&self, pairs: &[(&str, &str)]) -> Self {
        let mut all = self.query.as_deref().map(parse_query).unwrap_or_default();
        all.extend(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        let serialised = serialize_query(&all);
        WebUrl {
            query: (!serialised.is_empty()).then_some(serialised),
            ..self.clone()
        }
    }

    /// The URL `@clerk/backend` works with (`deriveUrlFromHeaders`): the origin named by the
    /// first `x-forwarded-proto` and `x-forwarded-host` values (else the request's scheme and
    /// `Host`), with the request's path and query. Behind a proxy, `redirect_url` must name the
    /// public host, not the internal one (clerk/javascript#8103).
    pub fn derive_from_headers(
        request_url: &str,
        host: Option<&str>,
        forwarded_host: Option<&str>,
        forwarded_proto: Option<&str>,
    ) -> Option<Self> {
        let initial = Self::parse(request_url)?;
        let first = |v: &str| v.split(',').next().unwrap_or("").to_owned();
        let host = forwarded_host
            .map(first)
            .or_else(|| host.map(str::to_owned));
        let proto = forwarded_proto
            .map(first)
            .unwrap_or_else(|| initial.scheme.clone());
        let (Some(host), false) = (host.filter(|h| !h.is_empty()), proto.is_empty()) else {
            return Some(initial);
        };
        if format!("{proto}://{host}") == initial.origin() {
            return Some(initial);
        }
        let scheme = proto.to_ascii_lowercase();
        let Some(host) = (scheme == "http" || scheme == "https")
            .then(|| normalise_host(&scheme, &host))
            .flatten()
        else {
            // `new URL` would throw (or build a non-http URL): Clerk keeps the request's URL.
            return Some(initial);
        };
        // `new URL(pathname + search, origin)`: a path starting with `//` names an authority.
        let relative = match &initial.query {
            Some(q) => format!("{}?{q}", initial.path),
            None => initial.path.clone(),
        };
        if let Some(authority_relative) = relative.strip_prefix("//") {
            return Some(
                Self::parse(&format!("{scheme}://{authority_relative}")).unwrap_or(initial),
            );
        }
        Some(WebUrl {
            scheme,
            host,
            ..initial
        })
    }
}

/// Lower-cases a host, drops the scheme's default port, refuses what `URL` refuses.
fn normalise_host(scheme: &str, authority: &str) -> Option<String> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (name, port) = match authority.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') || authority.starts_with('[') => {
            (name, Some(port))
        }
        _ => (authority, None),
    };
    let valid_name = !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
        });
    if !valid_name {
        return None;
    }
    let name = name.to_ascii_lowercase();
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = p.parse().ok().filter(|n| *n <= 65_535)?;
            let default = if scheme == "https" { 443 } else { 80 };
            (n != default).then_some(n)
        }
        Some(_) => return None,
    };
    Some(match port {
        Some(port) => format!("{name}:{port}"),
        None => name,
    })
}

/// The `application/x-www-form-urlencoded` parser of `URLSearchParams`.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (name, value) = item.split_once('=').unwrap_or((item, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

fn form_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                i += 3;
            }
            (b'+', ..) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `application/x-www-form-urlencoded` serializer of `URLSearchParams`.
pub fn serialize_query(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        form_encode_into(&mut out, name);
        out.push('=');
        form_encode_into(&mut out, value);
    }
    out
}

fn form_encode_into(out: &mut String, raw: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in raw.bytes() {
        match byte {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') => {
                out.push(char::from(b));
            }
            b => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each expectation was printed by Node's `URL` (the runtime @clerk/backend runs on).
    #[test]
    fn deleting_a_parameter_reserialises_the_query_as_url_search_params_does() {
        let u = WebUrl::parse("http://a/p?a=b%20c&d&e=%zz&f=+x&g=%C3%A9").unwrap();
        assert_eq!(
            u.without_params(&["x"]).href(),
            "http://a/p?a=b+c&d=&e=%25zz&f=+x&g=%C3%A9"
        );
        let empty = WebUrl::parse("http://a/p?").unwrap();
        assert_eq!(empty.without_params(&["x"]).href(), "http://a/p");
        let only = WebUrl::parse("http://a/p?__clerk_db_jwt=x").unwrap();
        assert_eq!(
            only.without_params(&["__clerk_db_jwt"]).href(),
            "http://a/p"
        );
    }

    #[test]
    fn appended_values_are_form_encoded() {
        let u = WebUrl::parse("https://x/v1").unwrap();
        let u = u.with_appended(&[("redirect_url", "http://a/b?c=d e*~!")]);
        assert_eq!(
            u.href(),
            "https://x/v1?redirect_url=http%3A%2F%2Fa%2Fb%3Fc%3Dd+e*%7E%21"
        );
    }

    #[test]
    fn forwarded_headers_name_the_public_origin() {
        let d = |url, host, fh, fp| {
            WebUrl::derive_from_headers(url, host, fh, fp)
                .unwrap()
                .href()
        };
        assert_eq!(
            d(
                "http://10.0.0.1:8787/p?q=1",
                None,
                Some("App.Example, x"),
                Some("https,http")
            ),
            "https://app.example/p?q=1"
        );
        assert_eq!(
            d(
                "http://internal/p",
                Some("public.example:443"),
                None,
                Some("https")
            ),
            "https://public.example/p"
        );
        assert_eq!(d("http://a/p", Some("a"), None, None), "http://a/p");
        assert_eq!(
            d("https://app//evil.com/x?y", Some("b"), None, None),
            "https://evil.com/x?y"
        );
        assert_eq!(d("http://a/p", Some("bad host"), None, None), "http://a/p");
    }

    #[test]
    fn hostname_and_params() {
        let u = WebUrl::parse("http://127.0.0.1:3000/p?__clerk_db_jwt=a+b&x").unwrap();
        assert_eq!(u.hostname(), "127.0.0.1");
        assert_eq!(
            parse_query(u.query.as_deref().unwrap()),
            [
                ("__clerk_db_jwt".to_owned(), "a b".to_owned()),
                ("x".to_owned(), String::new())
            ]
        );
    }
}
