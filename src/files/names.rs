//! A visitor's file name, made safe to show (docs/files.md, "Names"). The name is only ever
//! shown: files are stored under their content's hash.

/// The longest name kept, in characters; a longer one keeps its extension.
const MAX_NAME_CHARS: usize = 120;

/// The name to show for `raw`, or why it is refused. A name that climbs out of a directory
/// (`..`), or holds a control character (NUL included) or a bidirectional override (which
/// makes `gpj.exe` read as `exe.jpg`), is refused; a leading path (`C:\fakepath\`, which
/// some browsers send) is dropped and a long name is shortened.
pub fn clean_name(raw: &str) -> Result<String, &'static str> {
    if raw.split(['/', '\\']).any(|segment| segment.trim() == "..") {
        return Err("it climbs out of its directory (`..`)");
    }
    if raw.chars().any(char::is_control) {
        return Err("it holds a control character");
    }
    if raw.chars().any(is_bidi_control) {
        return Err("it holds a bidirectional text control");
    }
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let base = base.trim().trim_start_matches('.').trim();
    if base.is_empty() {
        return Ok("file".to_owned());
    }
    Ok(shortened(base))
}

/// The marks that reorder text as it is shown (LRE, RLE, PDF, LRO, RLO, the isolates, and
/// the direction marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn shortened(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_CHARS {
        return name.to_owned();
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext)
        .filter(|ext| !ext.is_empty() && ext.chars().count() <= 10);
    match extension {
        Some(ext) => {
            let keep = MAX_NAME_CHARS - ext.chars().count() - 1;
            format!("{}.{ext}", name.chars().take(keep).collect::<String>())
        }
        None => name.chars().take(MAX_NAME_CHARS).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_refused_or_cleaned() {
        assert!(clean_name("../../etc/passwd").is_err());
        assert!(clean_name("a\\..\\b.png").is_err());
        assert!(clean_name("shot\0.png").is_err());
        assert!(clean_name("invoice\u{202E}gpj.exe").is_err());
        assert_eq!(clean_name("C:\\fakepath\\shot.png").unwrap(), "shot.png");
        assert_eq!(clean_name(".htaccess").unwrap(), "htaccess");
        assert_eq!(clean_name("  ").unwrap(), "file");
        assert_eq!(clean_name("résumé 2026.pdf").unwrap(), "résumé 2026.pdf");
        let long = format!("{}.pdf", "x".repeat(300));
        let short = clean_name(&long).unwrap();
        assert_eq!(short.chars().count(), MAX_NAME_CHARS);
        assert!(short.ends_with(".pdf"));
    }
}
