//! The documentation's examples, tested as written: every ```toml block in the README and
//! in `docs/` passes `check-config`, and the sender examples that other tests drive (Google
//! Forms, Calendly, a Zap, a CRM) are read from the docs themselves rather than copied.

use crate::helpers::run_command;

/// The README and every page of `docs/`, in that order.
pub fn documentation() -> Vec<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut pages = vec![format!("{root}/README.md")];
    let mut docs: Vec<String> = std::fs::read_dir(format!("{root}/docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.unwrap().path().display().to_string())
        .filter(|path| path.ends_with(".md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            (path, text)
        })
        .collect()
}

/// The ```toml blocks of the README and `docs/`, in order.
pub fn readme_examples() -> Vec<String> {
    let mut blocks = Vec::new();
    for (_, page) in documentation() {
        blocks.extend(toml_blocks(&page));
    }
    blocks
}

fn toml_blocks(page: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut open: Option<String> = None;
    for line in page.lines() {
        match (&mut open, line.trim_end()) {
            (None, "```toml") => open = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                open = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The one README example that contains `marker` (a table header, say), as written there.
pub fn readme_example(marker: &str) -> String {
    let mut found = readme_examples().into_iter().filter(|b| b.contains(marker));
    let example = found
        .next()
        .unwrap_or_else(|| panic!("the docs have no ```toml example with {marker}"));
    assert!(
        found.next().is_none(),
        "several examples in the docs contain {marker}"
    );
    example
}

/// The environment variables an example names (`*_env = "NAME"` or a list of names).
fn variables_named(example: &str) -> Vec<String> {
    example
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim().ends_with("_env").then_some(value)
        })
        .flat_map(|value| {
            let value = value.split('#').next().unwrap_or_default();
            value
                .split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[actix_web::test]
async fn every_toml_example_in_the_readme_passes_check_config() {
    let examples = readme_examples();
    assert!(examples.len() >= 10, "found {} examples", examples.len());
    for example in examples {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, &example).unwrap();
        let mut command = crate::commands::relay_binary();
        command
            .args(["--config", config.to_str().unwrap(), "check-config"])
            .env_remove("ORTTO_API_KEY")
            .current_dir(dir.path());
        for name in variables_named(&example) {
            // Base64, so that it reads under every `secret_encoding`.
            command.env(name, "dGVzdC12YWx1ZS1ub3QtYS1yZWFsLXNlY3JldA==");
        }
        let output = run_command(command).await;
        assert!(
            output.status.success(),
            "README example fails check-config:\n{example}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // check-config describes what it read in the configuration's own words.
        let described = String::from_utf8_lossy(&output.stdout);
        let expected = if example.contains("[hooks.calendly]") {
            "in Calendly-Webhook-Signature (hex, as t=…,v1=…, any v1 may match, timestamp in t= (s, ±180 s)) over \"{timestamp}.{body}\""
        } else if example.contains("[forms.google]") {
            "consent: field Keep me posted (unchecked = opt_out)"
        } else {
            continue;
        };
        assert!(described.contains(expected), "{described}");
    }
}
