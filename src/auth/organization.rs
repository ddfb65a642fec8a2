//! The active organization in a session token, read exactly as `@clerk/shared`'s
//! `__experimental_JWTPayloadToAuthObjectProperties` reads it (what `auth().orgId`,
//! `orgRole`, `orgSlug` and `has({ permission })` see):
//!
//! - **v1** (no `v`, or any `v` but 2): `org_id`, `org_role`, `org_slug`, and
//!   `org_permissions` (an array; its string items).
//! - **v2** (`v: 2`): `o.id`, `o.slg`, `o.rol` (the role without its `org:` prefix), and the
//!   permissions spelled as bit sets: `o.per` names the permissions (`"read,manage"`), `fea`
//!   the features (`"o:articles,u:billing"`, org-scoped ones are `o:`, `ou:` or `uo:`), and
//!   `o.fpm` gives, per org feature, a decimal whose bit *i* (least significant first) grants
//!   permission *i*: `org:<feature>:<permission>`.
//!
//! Where Clerk's parser throws (a `fea` item without a colon, a non-string `per`, `fpm` or
//! `fea`), there are no permissions: a permission check then fails, never passes.

use serde_json::Value;

/// The organization facts of a token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Organization {
    /// `org_id` / `o.id`.
    pub id: Option<String>,
    /// `org_role` / `org:` + `o.rol` (an `o.rol` already prefixed is not prefixed again).
    pub role: Option<String>,
    /// `org_slug` / `o.slg`.
    pub slug: Option<String>,
    /// `org_permissions` / built from `fea`, `o.per` and `o.fpm`; in the token's order.
    pub permissions: Vec<String>,
}

/// Reads the organization of a verified payload.
pub fn organization(payload: &Value) -> Organization {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    // `switch (claims.v) { case 2: … }`: a strict comparison with the number 2 (2.0 is 2).
    if payload.get("v").and_then(Value::as_f64) != Some(2.0) {
        let permissions = match payload.get("org_permissions") {
            // `Array.includes` compares strictly: only string items can ever match.
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        return Organization {
            id: text(payload.get("org_id")),
            role: text(payload.get("org_role")),
            slug: text(payload.get("org_slug")),
            permissions,
        };
    }
    let Some(o) = payload.get("o").filter(|o| is_truthy(o)) else {
        return Organization::default();
    };
    let role = o
        .get("rol")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(|r| {
            if r.starts_with("org:") {
                r.to_owned()
            } else {
                format!("org:{r}")
            }
        });
    Organization {
        id: text(o.get("id")),
        role,
        slug: text(o.get("slg")),
        permissions: v2_permissions(payload.get("fea"), o.get("per"), o.get("fpm"))
            .unwrap_or_default(),
    }
}

/// JavaScript's truthiness of a JSON value.
fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `None` where Clerk's parser throws.
fn v2_permissions(
    fea: Option<&Value>,
    per: Option<&Value>,
    fpm: Option<&Value>,
) -> Option<Vec<String>> {
    let features = org_features(fea)?;
    // `if (!per || !fpm) return { permissions: [], … }`, before any `.split`.
    let (Some(per), Some(fpm)) = (per.filter(|v| is_truthy(v)), fpm.filter(|v| is_truthy(v)))
    else {
        return Some(Vec::new());
    };
    let names: Vec<&str> = per.as_str()?.split(',').map(js_trim).collect();
    let bit_sets: Vec<Vec<bool>> = fpm
        .as_str()?
        .split(',')
        .map(|n| decimal_bits(js_trim(n)).unwrap_or_default())
        .collect();
    let mut out = Vec::new();
    for (feature, bits) in features.iter().zip(&bit_sets) {
        for (name, _) in names.iter().zip(bits).filter(|(_, bit)| **bit) {
            out.push(format!("org:{feature}:{name}"));
        }
    }
    Some(out)
}

/// The org-scoped features of `fea` (`splitByScope(fea).org`); `None` where it throws.
fn org_features(fea: Option<&Value>) -> Option<Vec<String>> {
    let Some(fea) = fea.filter(|v| is_truthy(v)) else {
        return Some(Vec::new());
    };
    let mut org = Vec::new();
    for part in fea.as_str()?.split(',') {
        let part = js_trim(part);
        let (scope, value) = part.split_once(':')?;
        if matches!(scope, "o" | "ou" | "uo") {
            org.push(value.to_owned());
        }
    }
    Some(org)
}

/// The bits of a decimal of any length, least significant first (`decimalToBinaryBits`);
/// `None` unless it is only ASCII digits.
fn decimal_bits(decimal: &str) -> Option<Vec<bool>> {
    if decimal.is_empty() || !decimal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: Vec<u8> = decimal.bytes().map(|b| b - b'0').collect();
    let mut bits = Vec::new();
    // Long division by two until nothing is left.
    while digits.iter().any(|d| *d != 0) {
        let mut remainder = 0;
        for d in &mut digits {
            let value = remainder * 10 + *d;
            *d = value / 2;
            remainder = value % 2;
        }
        bits.push(remainder == 1);
    }
    Some(bits)
}

/// `String.prototype.trim`: Unicode white space and line terminators, and U+FEFF, but not
/// U+0085 (which Rust's `trim` removes).
fn js_trim(s: &str) -> &str {
    let is_js_space = |c: char| (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}';
    s.trim_matches(is_js_space)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_claims_are_read_as_they_are() {
        let org = organization(&json!({
            "org_id": "org_1", "org_role": "org:admin", "org_slug": "acme",
            "org_permissions": ["org:posts:read", 7, "org:posts:write"],
        }));
        assert_eq!(org.id.as_deref(), Some("org_1"));
        assert_eq!(org.role.as_deref(), Some("org:admin"));
        assert_eq!(org.slug.as_deref(), Some("acme"));
        assert_eq!(org.permissions, ["org:posts:read", "org:posts:write"]);
    }

    #[test]
    fn v2_permissions_come_from_the_feature_bit_sets() {
        // Feature 0 (articles) has bits 0b101: read and delete; feature 1 (billing) 0b010.
        let org = organization(&json!({
            "v": 2, "fea": "o:articles, u:profile ,ou:billing",
            "o": { "id": "org_2", "rol": "admin", "slg": "beta", "per": "read,manage,delete", "fpm": "5, 2" },
        }));
        assert_eq!(org.role.as_deref(), Some("org:admin"));
        assert_eq!(
            org.permissions,
            [
                "org:articles:read",
                "org:articles:delete",
                "org:billing:manage"
            ]
        );
    }

    #[test]
    fn v2_without_o_has_no_organization_even_with_v1_claims() {
        let org = organization(&json!({ "v": 2, "org_id": "org_1", "org_role": "org:admin" }));
        assert_eq!(org, Organization::default());
    }

    #[test]
    fn where_clerk_throws_there_are_no_permissions() {
        for fea in [json!("articles"), json!(5)] {
            let org = organization(&json!({
                "v": 2, "fea": fea, "o": { "id": "org_2", "rol": "admin", "per": "read", "fpm": "1" },
            }));
            assert_eq!(org.id.as_deref(), Some("org_2"));
            assert!(org.permissions.is_empty());
        }
    }

    #[test]
    fn long_decimals_are_divided_exactly() {
        // 2^70 + 1: bit 0 and bit 70.
        let bits = decimal_bits("1180591620717411303425").unwrap_or_default();
        assert_eq!(bits.len(), 71);
        assert!(bits[0] && bits[70] && bits[1..70].iter().all(|b| !b));
        assert_eq!(decimal_bits("0"), Some(Vec::new()));
        assert_eq!(decimal_bits("1a"), None);
        assert_eq!(decimal_bits("-1"), None);
    }

    #[test]
    fn trimming_is_javascripts() {
        assert_eq!(js_trim("\u{feff} read\u{a0}"), "read");
        assert_eq!(js_trim("\u{85}read"), "\u{85}read");
    }
}
