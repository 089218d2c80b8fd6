//! An attachment's link (docs/files.md, "Links"): `/files/{id}/{name}?exp=…&sig=…`, where
//! `id` is `{submission id}.{n}` and `sig` is the relay's HMAC of the id and the expiry,
//! under the key that signs `/thanks` links (one key for a fleet on PostgreSQL).

use secrecy::SecretString;

/// A file's id in links: its submission and its place among the submission's files.
pub fn file_id(submission_id: &str, index: usize) -> String {
    format!("{submission_id}.{index}")
}

/// The submission and the index a file id names.
pub fn parse_file_id(id: &str) -> Option<(&str, usize)> {
    let (submission, index) = id.rsplit_once('.')?;
    super::store::is_submission_id(submission).then_some(())?;
    Some((submission, index.parse().ok()?))
}

fn signed_parts<'a>(id: &'a str, exp: &'a str) -> [&'a [u8]; 4] {
    [b"file\n", id.as_bytes(), b"\n", exp.as_bytes()]
}

/// The link to file `id` named `name`, under `base` (the relay's public address), good
/// until `exp` (Unix seconds).
pub fn signed_link(base: &str, key: &SecretString, id: &str, name: &str, exp: i64) -> String {
    let exp = exp.to_string();
    let sig = hex::encode(crate::guard::hmac_sha256(key, &signed_parts(id, &exp)));
    let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!(
        "{}/files/{id}/{name}?exp={exp}&sig={sig}",
        base.trim_end_matches('/')
    )
}

/// Whether `sig` signs `id` until `exp`, and `exp` is not past.
pub fn verify(key: &SecretString, id: &str, exp: i64, sig: &str, now: i64) -> bool {
    let Ok(given) = hex::decode(sig) else {
        return false;
    };
    exp >= now && crate::guard::hmac_sha256_matches(key, &signed_parts(id, &exp.to_string()), &given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_until_they_expire_and_not_when_changed() {
        let key = SecretString::from("k".repeat(32));
        let id = file_id("0193d2a4-7c4e-7000-8000-000000000001", 0);
        let link = signed_link("https://relay.example/", &key, &id, "my shot.png", 1000);
        assert!(link.starts_with(&format!(
            "https://relay.example/files/{id}/my%20shot%2Epng?exp=1000&sig="
        )));
        let sig = link.rsplit_once("sig=").unwrap().1;
        assert!(verify(&key, &id, 1000, sig, 999));
        assert!(!verify(&key, &id, 1000, sig, 1001));
        assert!(!verify(&key, &id, 1001, sig, 999));
        assert!(!verify(
            &key,
            &file_id("0193d2a4-7c4e-7000-8000-000000000001", 1),
            1000,
            sig,
            999
        ));
        assert_eq!(
            parse_file_id(&id),
            Some(("0193d2a4-7c4e-7000-8000-000000000001", 0))
        );
        assert_eq!(parse_file_id("../x.0"), None);
    }
}
