//! Whether a parsed phone number exists in its country's numbering plan (docs/mapping.md,
//! "Mapping rules"): the answer of the `phonenumber` crate's `is_valid`, from the same
//! metadata, with each region's patterns compiled once and kept. The crate keeps compiled
//! patterns in one least-recently-used cache of 100 that every region shares, so posts from a
//! mix of countries recompile them on every check: 2,400 µs a form with a phone from 40
//! countries in turn, against 6.4 µs here (`cargo bench --bench guard`). Here a region costs
//! its compile once; there are some 250 regions, so the map is bounded by the metadata itself.

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use phonenumber::PhoneNumber;
use regex::{Regex, RegexBuilder};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// The crate's own test: `number_type(..) != Unknown` for the region `source_for` picks.
pub fn is_valid(number: &PhoneNumber) -> bool {
    let national = number.national().to_string();
    plan_for(number.code().value(), &national).is_some_and(|plan| plan.valid(&national))
}

/// The region whose plan judges the number: the only one for its country code; among several,
/// the first whose leading digits match the number, or (without leading digits) that holds it.
fn plan_for(code: u16, national: &str) -> Option<Arc<Plan>> {
    let regions = DATABASE.region(&code)?;
    if let [only] = regions.as_slice() {
        // "001": a non-geographic code (+800, +979 …), kept under its code.
        let meta = if *only == "001" {
            DATABASE.by_code(&code)?.into_iter().next()?
        } else {
            DATABASE.by_id(*only)?
        };
        return plan(meta);
    }
    regions.into_iter().find_map(|region| {
        let plan = plan(DATABASE.by_id(region)?)?;
        let picked = match &plan.leading {
            Some(leading) => leading.find(national).is_some_and(|m| m.start() == 0),
            None => plan.valid(national),
        };
        picked.then_some(plan)
    })
}

/// Compiled plans by region id and country code (`None`: a pattern would not compile).
type Plans = RwLock<HashMap<(String, u16), Option<Arc<Plan>>>>;

/// The region's plan, compiled on its first use.
fn plan(meta: &Metadata) -> Option<Arc<Plan>> {
    static PLANS: OnceLock<Plans> = OnceLock::new();
    let plans = PLANS.get_or_init(Default::default);
    let key = (meta.id().to_owned(), meta.country_code());
    if let Some(plan) = plans.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return plan.clone();
    }
    let plan = Plan::of(meta).map(Arc::new);
    plans
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, plan.clone());
    plan
}

/// A region's numbering plan: its general pattern, the leading digits that pick it among the
/// regions sharing a country code, and the pattern of every number type.
struct Plan {
    general: Pattern,
    leading: Option<Regex>,
    types: Vec<Pattern>,
}

impl Plan {
    fn of(meta: &Metadata) -> Option<Self> {
        let d = meta.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        Some(Self {
            general: Pattern::of(d.general())?,
            leading: match meta.leading_digits() {
                Some(leading) => Some(compile(leading.as_str())?),
                None => None,
            },
            types: types
                .into_iter()
                .flatten()
                .map(Pattern::of)
                .collect::<Option<_>>()?,
        })
    }

    fn valid(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
    }
}

/// One number type's lengths and pattern.
struct Pattern {
    lengths: Vec<u16>,
    regex: Regex,
}

impl Pattern {
    fn of(descriptor: &Descriptor) -> Option<Self> {
        Some(Self {
            lengths: descriptor.possible_length().to_vec(),
            regex: compile(descriptor.national_number().as_str())?,
        })
    }

    /// As the crate matches a descriptor: a possible length, and a match from the first digit.
    fn matches(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.regex.find(national).is_some_and(|m| m.start() == 0)
    }
}

/// The metadata's patterns are written with whitespace for reading, as the crate compiles them.
fn compile(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern).ignore_whitespace(true).build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Agrees with the crate on valid and impossible numbers, single- and shared-code regions,
    /// and non-geographic codes.
    #[test]
    fn answers_as_the_crate_does() {
        let numbers = [
            "+61401234567",
            "+61298765432",
            "+611234",
            "+4930901820",
            "+442079460000",
            "+447912345678",
            "+441481256789",
            "+447781123456",
            "+33142685300",
            "+330631966543",
            "+390236618300",
            "+34912345678",
            "+81312345678",
            "+8613812345678",
            "+919876543210",
            "+5511987654321",
            "+525512345678",
            "+27211234567",
            "+2348012345678",
            "+971501234567",
            "+6591234567",
            "+85291234567",
            "+12025550123",
            "+16502530000",
            "+14165550123",
            "+18765551234",
            "+12530000",
            "+17012345678",
            "+79161234567",
            "+77012345678",
            "+76012345678",
            "+80012345678",
            "+979123456789",
            "+6421387835",
            "+3531234",
            "+999123456",
            "+0000000000",
            "+1800555012",
            "+262262123456",
            "+262692123456",
            "+590590123456",
            "+4792345678",
            "+4741234567",
        ];
        let mut valid = 0;
        for raw in numbers {
            let Ok(number) = phonenumber::parse(None, raw) else {
                continue;
            };
            assert_eq!(is_valid(&number), number.is_valid(), "{raw}");
            valid += usize::from(number.is_valid());
        }
        assert!(
            valid > 20 && valid < numbers.len(),
            "{valid} valid: both kinds checked"
        );
    }
}
