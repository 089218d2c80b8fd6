//! The configuration reference (docs/configuration.md) and the hook settings table
//! (docs/webhooks.md) list every key the settings accept, with the shipped default; every
//! README and docs link to another page points at a page that exists.

use crate::readme::documentation;
use talk_relay::config::{Config, ConfigSources};

/// The keys a section accepts, as serde names them when it meets one it does not know.
fn accepted_keys(section: &str, overlay: &str) -> Vec<String> {
    let error = Config::load(&ConfigSources {
        overlays: vec![format!("{overlay}\n[{section}]\nzz_not_a_key = 1\n")],
        ..Default::default()
    })
    .expect_err("an unknown key is refused")
    .to_string();
    let listed = error
        .split("expected ")
        .nth(1)
        .unwrap_or_else(|| panic!("{section}: {error}"));
    let listed = listed.strip_prefix("one of ").unwrap_or(listed);
    listed
        .split(" for key")
        .next()
        .unwrap()
        .split(", ")
        .flat_map(|names| names.split(" or "))
        .map(|name| name.trim().trim_matches('`').to_owned())
        .collect()
}

/// Each `| \`key\` | default |` row of a page's tables: key → default cell.
fn table_rows(page: &str) -> Vec<(String, String)> {
    page.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells.get(1)?.strip_prefix('`')?.split('`').next()?;
            Some((key.to_owned(), cells.get(2)?.to_string()))
        })
        .collect()
}

fn page(name: &str) -> String {
    documentation()
        .into_iter()
        .find(|(path, _)| path.ends_with(name))
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

#[test]
fn the_configuration_reference_lists_every_key_with_its_shipped_default() {
    let rows = table_rows(&page("docs/configuration.md"));
    let row = |key: &str| rows.iter().find(|(k, _)| k == key).map(|(_, d)| d.clone());
    // Every section the shipped defaults hold, every key with its value.
    let shipped: toml::Table = talk_relay::config::DEFAULT_TOML.parse().unwrap();
    let mut checked = 0;
    let mut walk = vec![(String::new(), shipped)];
    while let Some((prefix, table)) = walk.pop() {
        for (key, value) in table {
            let key = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            if key.starts_with("forms.") {
                continue;
            }
            match value {
                toml::Value::Table(inner) => walk.push((key, inner)),
                value => {
                    let default =
                        row(&key).unwrap_or_else(|| panic!("docs/configuration.md has no row for `{key}`"));
                    let shown = match &value {
                        toml::Value::String(text) if text.is_empty() => "\"\"".to_owned(),
                        toml::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    assert!(
                        default.contains(&format!("`{shown}`")),
                        "`{key}`: the default is `{shown}`, the page says {default}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "{checked}");
    // And every key a section accepts, the shipped ones or not.
    for section in [
        "server",
        "log",
        "database",
        "ortto",
        "delivery",
        "limits",
        "rate_limits",
        "admin",
        "pages",
        "sessions",
        "retention",
        "spam_filter",
        "files",
        "alerts",
    ] {
        for key in accepted_keys(section, "") {
            let full = format!("{section}.{key}");
            assert!(
                rows.iter()
                    .any(|(k, _)| k == &full || k.starts_with(&format!("{full}."))),
                "docs/configuration.md has no row for `{full}`"
            );
        }
    }
    for (table, overlay) in [
        ("forms.x", ""),
        ("forms.x.consent", "[forms.x]\n"),
        ("forms.x.captcha", "[forms.x]\n"),
        ("forms.x.spam", "[forms.x]\n"),
        ("forms.x.files", "[forms.x]\n"),
    ] {
        for key in accepted_keys(table, overlay) {
            let full = format!("{}.{key}", table.replace(".x", ".NAME"));
            assert!(
                rows.iter().any(|(k, _)| k == &full
                    || k.starts_with(&format!("{full}."))
                    || k == &format!("{}.*", table.replace(".x", ".NAME"))),
                "docs/configuration.md has no row for `{full}`"
            );
        }
    }
    let hook_rows = table_rows(&page("docs/webhooks.md"));
    for key in accepted_keys("hooks.x", "") {
        assert!(
            hook_rows.iter().any(|(k, _)| k == &key)
                || [format!("`{key}`"), format!("`[{key}]`")]
                    .iter()
                    .any(|named| page("docs/webhooks.md").contains(named)),
            "docs/webhooks.md does not describe the hook key `{key}`"
        );
    }
}

#[test]
fn every_link_between_the_pages_points_at_a_page_that_exists() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (path, text) in documentation() {
        let dir = std::path::Path::new(&path).parent().unwrap().to_owned();
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap().split('#').next().unwrap();
            if target.is_empty() || target.contains("://") {
                continue;
            }
            assert!(
                dir.join(target).exists(),
                "{path} links to {target}, which is not in {root}"
            );
        }
    }
}

/// Each top-level module of `src/` and the top-level modules it names through `crate::`.
fn import_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tops: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .filter(|name| name != "lib" && name != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(&src).unwrap();
        let top = relative
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if !tops.contains(&top) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut named = BTreeSet::new();
        for rest in text.split("crate::").skip(1) {
            let names: Vec<&str> = match rest.strip_prefix('{') {
                // `crate::{a, b::c, d::{e, f}}`: the first segment of each path.
                Some(group) => group
                    .split(['}'])
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|path| {
                        path.trim()
                            .split("::")
                            .next()
                            .unwrap_or("")
                            .trim_start_matches('{')
                            .trim()
                    })
                    .collect(),
                None => vec![rest
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("")],
            };
            named.extend(
                names
                    .into_iter()
                    .filter(|n| tops.contains(*n) && *n != top)
                    .map(str::to_owned),
            );
        }
        graph.entry(top).or_default().extend(named);
    }
    graph
}

#[test]
fn the_architecture_table_is_the_real_import_graph_and_it_has_no_cycle() {
    use std::collections::BTreeSet;
    let graph = import_graph();
    let architecture = page("docs/architecture.md");
    let mut listed = std::collections::BTreeMap::new();
    for line in architecture.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let module = cells[0]
            .trim_start_matches("| `")
            .trim_end_matches('`')
            .to_owned();
        let imports: BTreeSet<String> = cells
            .last()
            .unwrap()
            .trim_end_matches(" |")
            .split(", ")
            .filter(|i| *i != "nothing")
            .map(|i| i.trim_matches('`').to_owned())
            .collect();
        listed.insert(module, imports);
    }
    for (module, imports) in &graph {
        assert_eq!(
            listed.get(module),
            Some(imports),
            "docs/architecture.md: `{module}` imports {imports:?}"
        );
    }
    assert_eq!(
        listed.len(),
        graph.len(),
        "the table lists modules that do not exist"
    );
    for start in graph.keys() {
        let mut reached = BTreeSet::new();
        let mut next: Vec<&String> = graph[start].iter().collect();
        while let Some(module) = next.pop() {
            assert_ne!(module, start, "`{start}` imports itself through {reached:?}");
            if reached.insert(module.clone()) {
                next.extend(graph.get(module).into_iter().flatten());
            }
        }
    }
}
