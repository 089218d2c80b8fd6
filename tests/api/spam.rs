//! docs/spam.md: the verdict's checks through `POST /f/{form}`, the quarantine, release and
//! confirmation (admin API, inbox, CLI), retention, metrics, and the labelled corpus's figures.

use crate::helpers::{spawn_app, TestApp};
use serde_json::Value;

mod checks;
mod filter;
mod quarantine;

/// A form with the shipped spam defaults.
const CORPUS_FORM: &str = "[forms.corpus]\n";

/// One labelled post of `tests/fixtures/spam/`.
#[derive(serde::Deserialize)]
struct Labelled {
    kind: String,
    fields: Value,
}

fn corpus(file: &str) -> Vec<Labelled> {
    let path = format!("{}/tests/fixtures/spam/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: {e}: {line}")))
        .collect()
}

/// Posts every entry (a few at a time, as visitors would) and answers each one's verdict as
/// the row records it.
async fn verdicts(app: &TestApp, entries: &[Labelled]) -> Vec<String> {
    let mut verdicts = Vec::new();
    for chunk in entries.chunks(4) {
        let answers =
            futures_util::future::join_all(chunk.iter().map(|e| app.post_json("corpus", &e.fields))).await;
        for (status, body) in answers {
            assert!(status == 202 || status == 422, "{status} {body}");
            let id = body["id"].as_str().expect("every corpus post is recorded");
            verdicts.push(app.submission(id).await.spam_verdict.clone().unwrap_or_default());
        }
    }
    verdicts
}

/// What one configuration made of the corpus: spam caught, real posts held as spam and as suspect.
async fn measure(app: &TestApp, label: &str) -> (usize, usize, usize) {
    let (spam, ham) = (corpus("spam.jsonl"), corpus("ham.jsonl"));
    assert!(spam.len() >= 150 && ham.len() >= 150);
    let spam_verdicts = verdicts(app, &spam).await;
    let ham_verdicts = verdicts(app, &ham).await;
    let count = |v: &[String], word: &str| v.iter().filter(|x| *x == word).count();
    let caught = spam_verdicts.iter().filter(|v| *v != "ham").count();
    let (false_spam, false_suspect) = (count(&ham_verdicts, "spam"), count(&ham_verdicts, "suspect"));
    let held_ham = false_spam + false_suspect;
    println!(
        "spam corpus, {label}: {} spam posts, {caught} caught ({} spam, {} suspect), recall {:.1}%; \
         {} real posts, {false_spam} spam, {false_suspect} suspect; precision {:.1}%",
        spam.len(),
        count(&spam_verdicts, "spam"),
        count(&spam_verdicts, "suspect"),
        caught as f64 * 100.0 / spam.len() as f64,
        ham.len(),
        caught as f64 * 100.0 / (caught + held_ham) as f64,
    );
    let mut kinds: Vec<&str> = spam.iter().map(|e| e.kind.as_str()).collect();
    kinds.dedup();
    for kind in kinds {
        let of_kind: Vec<&String> = spam
            .iter()
            .zip(&spam_verdicts)
            .filter(|(e, _)| e.kind == kind)
            .map(|(_, v)| v)
            .collect();
        let missed = of_kind.iter().filter(|v| v.as_str() == "ham").count();
        println!("  {kind}: {} of {} caught", of_kind.len() - missed, of_kind.len());
    }
    for (entry, verdict) in ham.iter().zip(&ham_verdicts).filter(|(_, v)| v.as_str() != "ham") {
        println!("  real post held as {verdict}: {} {}", entry.kind, entry.fields);
    }
    assert_eq!(false_spam, 0, "{label}: a real post ended as spam");
    assert!(
        false_suspect * 50 <= ham.len(),
        "{label}: more than 2% of real posts held as suspect"
    );
    (caught, spam.len(), false_suspect)
}

/// The corpus's figures with the default settings (docs/spam.md, "How well it works"): the
/// built-in checks alone, then with Debian's spamd as the local content filter.
#[actix_web::test]
async fn the_labelled_corpus_is_caught_as_documented_and_no_real_post_is_spam() {
    let app = spawn_app(CORPUS_FORM).await;
    let (caught, of, _) = measure(&app, "built-in checks").await;
    assert!(
        caught * 10 >= of * 8,
        "less than 80% of spam caught: {caught} of {of}"
    );
    let Some(address) = filter::spamd() else {
        return;
    };
    // A generous timeout: this measures the filter, not how loaded the machine is.
    let app = spawn_app(&format!(
        "{}{CORPUS_FORM}",
        filter::filter_at(&address, "timeout_ms = 20000\n")
    ))
    .await;
    let (caught, of, _) = measure(&app, "built-in checks and spamd").await;
    assert!(
        caught * 100 >= of * 95,
        "less than 95% of spam caught with the filter: {caught} of {of}"
    );
}

/// A form with a spam section overlaid on the corpus form.
fn form(spam: &str) -> String {
    format!("[forms.corpus]\n[forms.corpus.spam]\n{spam}")
}

async fn post(app: &TestApp, fields: Value) -> (u16, Value) {
    app.post_json("corpus", &fields).await
}

/// The row a JSON post made.
async fn row_of(app: &TestApp, body: &Value) -> talk_relay::store::SubmissionRow {
    app.submission(body["id"].as_str().expect("an id")).await
}

fn reasons(row: &talk_relay::store::SubmissionRow) -> Vec<String> {
    let reasons: Vec<Value> = serde_json::from_str(row.spam_reasons.as_deref().unwrap_or("[]")).unwrap();
    reasons
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect()
}
