//! The guard's cost per request, step by step: `cargo bench --bench guard`.
//! Figures are averages over many iterations on this machine; nothing here asserts timing.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;
use talk_relay::clean::HtmlCleaner;
use talk_relay::config::{Config, ConfigSources};
use talk_relay::guard::RateLimits;
use talk_relay::http::parse::parse_urlencoded;

fn measure(name: &str, iterations: u32, mut step: impl FnMut(u32)) {
    for i in 0..iterations / 10 {
        step(i);
    }
    let started = Instant::now();
    for i in 0..iterations {
        step(i);
    }
    let per_op = started.elapsed() / iterations;
    println!("{name:<58} {:>9.2} µs/op", per_op.as_secs_f64() * 1e6);
}

fn main() {
    let config = Config::load(&ConfigSources {
        overlays: vec![
            "[rate_limits.form_per_ip]\nburst = 1000000\nper_minute = 1000000\n\
                        [rate_limits.form]\nburst = 1000000\nper_minute = 1000000\n\
                        [forms.demo]\nhtml_field = \"message_html\"\n"
                .to_owned(),
        ],
        ..Default::default()
    })
    .expect("bench config");
    let limits = RateLimits::from_settings(&config.rate_limits);
    let html = "<p>Hello, I'd like to ask about <b>pricing</b> for <em>teams</em>.</p>\
                <ul><li>Seats: 25</li><li>Billing: yearly</li></ul>\
                <p>See <a href=\"https://www.example.com/plans\">plans</a> and \
                <img src=\"https://cdn.example.com/logo.png\" alt=\"logo\"></p>\
                <script>alert(1)</script><p onclick=\"x()\">Thanks, Jo</p>\
                <table><tr><td>a</td><td>b</td></tr></table><blockquote>quoted text here</blockquote>";
    let form = format!(
        "name=Jo+Smith&email=jo%40example.com&phone=%2B61+401+234+567&company=Acme+Pty+Ltd&\
         subject=Pricing&message={}&message_html={}",
        "Hello%2C+I%27d+like+to+ask+about+pricing+for+teams.+".repeat(6),
        serde_urlencoded::to_string([("v", html)])
            .unwrap()
            .trim_start_matches("v=")
    );
    println!(
        "form body: {} bytes; HTML message: {} bytes",
        form.len(),
        html.len()
    );

    measure("rate limits: same client, form_per_ip + form", 1_000_000, |_| {
        black_box(limits.check_form(IpAddr::V4(Ipv4Addr::LOCALHOST), "demo")).ok();
    });
    measure("rate limits: a new client IP every request", 1_000_000, |i| {
        black_box(limits.check_form(IpAddr::V4(Ipv4Addr::from(i)), "demo")).ok();
    });
    measure("parse a 1 KB urlencoded form (strict UTF-8)", 200_000, |_| {
        black_box(parse_urlencoded(black_box(form.as_bytes()), &config.limits)).ok();
    });
    // The hardening issue's hostile body: 60 KB of 13,000 distinct names.
    let flood: String = (0..13_000).map(|i| format!("f{i}=&")).collect();
    measure(
        "refuse 13,000 distinct names (stops at limits.max_fields)",
        20_000,
        |_| {
            black_box(parse_urlencoded(black_box(flood.as_bytes()), &config.limits)).ok();
        },
    );
    let mut roomy = config.limits.clone();
    roomy.max_fields = 20_000;
    measure("parse all 13,000 distinct names (max_fields raised)", 100, |_| {
        black_box(parse_urlencoded(black_box(flood.as_bytes()), &roomy)).ok();
    });
    let cleaner = HtmlCleaner::new();
    measure("sanitise the HTML message (ammonia, built once)", 20_000, |_| {
        black_box(cleaner.clean(black_box(html)));
    });
    measure(
        "build the ammonia allowlist (what building per request would cost)",
        20_000,
        |_| {
            black_box(HtmlCleaner::new());
        },
    );
    // docs/spam.md, "Bounded work": the built-in checks on the 1 KB form, and on a 64 KB
    // message of 4,000 links (regex and Aho–Corasick: linear in the text).
    let demo = config.form("demo").expect("the shipped demo form");
    let fields = parse_urlencoded(form.as_bytes(), &config.limits).expect("the bench form parses");
    let draft = talk_relay::mapping::draft_from_fields(&demo.rules, Some(&demo.honeypot), &fields);
    let token = talk_relay::spam::TokenCheck::Missing;
    measure("spam checks: the 1 KB form (built-in checks)", 100_000, |_| {
        let post = talk_relay::spam::Post::of(&draft, Some("jo@example.com"), token);
        black_box(talk_relay::spam::assess(&demo.spam, &post));
    });
    // Map: shape every field (the phone checked against its country's numbering plan), clean
    // the HTML message, build and check the compose JSON: what intake does after the guard.
    let context = talk_relay::mapping::MappingContext {
        page_url: None,
        received_at: chrono::Utc::now(),
        attachments: Vec::new(),
    };
    let compose = |draft: &talk_relay::mapping::Draft| {
        talk_relay::mapping::compose(draft.clone(), &demo.rules, &cleaner, &context).is_ok()
    };
    assert!(compose(&draft), "the bench form maps");
    measure(
        "map and compose the 1 KB form (HTML cleaned, phone checked)",
        20_000,
        |_| {
            black_box(compose(black_box(&draft)));
        },
    );
    let mut no_phone = talk_relay::domain::SubmittedFields::default();
    for (name, values) in fields.iter().filter(|(name, _)| *name != "phone") {
        for value in values {
            no_phone.push(name.to_owned(), value.clone());
        }
    }
    let no_phone = talk_relay::mapping::draft_from_fields(&demo.rules, Some(&demo.honeypot), &no_phone);
    measure("  the same form without its phone field", 20_000, |_| {
        black_box(compose(black_box(&no_phone)));
    });
    // A phone number from each of 40 countries in turn: each region's patterns are compiled
    // once and kept (src/mapping/numbering.rs), where the crate's shared cache of 100 would
    // recompile them on every check.
    let phones: Vec<talk_relay::domain::SubmittedFields> = [
        "+61 401 234 567",
        "+49 30 901820",
        "+44 20 7946 0000",
        "+33 1 42 68 53 00",
        "+39 06 1234 5678",
        "+34 912 345 678",
        "+81 3 1234 5678",
        "+86 138 1234 5678",
        "+91 98765 43210",
        "+55 11 98765 4321",
        "+52 55 1234 5678",
        "+27 21 123 4567",
        "+234 801 234 5678",
        "+20 100 123 4567",
        "+971 50 123 4567",
        "+65 9123 4567",
        "+852 9123 4567",
        "+82 2 1234 5678",
        "+62 812 3456 7890",
        "+63 917 123 4567",
        "+66 81 234 5678",
        "+84 91 234 5678",
        "+60 12 345 6789",
        "+64 21 123 4567",
        "+353 85 123 4567",
        "+46 70 123 4567",
        "+47 912 34 567",
        "+45 20 12 34 56",
        "+358 40 123 4567",
        "+48 512 345 678",
        "+420 601 123 456",
        "+36 20 123 4567",
        "+40 712 345 678",
        "+30 21 0123 4567",
        "+351 912 345 678",
        "+32 470 12 34 56",
        "+31 6 12345678",
        "+41 78 123 45 67",
        "+43 664 123456",
        "+1 202 555 0123",
    ]
    .into_iter()
    .map(|phone| {
        let mut one = talk_relay::domain::SubmittedFields::default();
        one.push("email".to_owned(), "jo@example.com".to_owned());
        one.push("phone".to_owned(), phone.to_owned());
        one
    })
    .collect();
    let phone_drafts: Vec<_> = phones
        .iter()
        .map(|f| talk_relay::mapping::draft_from_fields(&demo.rules, None, f))
        .collect();
    measure("  a form with a phone from 40 countries in turn", 20_000, |i| {
        black_box(compose(&phone_drafts[i as usize % phone_drafts.len()]));
    });
    let links = "https://x.ru/a ".repeat(4_000);
    let stuffed: talk_relay::domain::SubmittedFields = [
        ("email".to_owned(), "jo@example.com".to_owned()),
        ("message".to_owned(), links),
    ]
    .into_iter()
    .collect();
    let stuffed = talk_relay::mapping::draft_from_fields(&demo.rules, None, &stuffed);
    measure("spam checks: a 60 KB message of 4,000 links", 2_000, |_| {
        let post = talk_relay::spam::Post::of(&stuffed, Some("jo@example.com"), token);
        black_box(talk_relay::spam::assess(&demo.spam, &post));
    });
}
