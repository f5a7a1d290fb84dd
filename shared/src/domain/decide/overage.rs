//! The hourly overage check of one org (docs/domain.md#usage-and-overage): its overage state
//! written over the one read, a notice at every change of a company's state (back to none
//! included), and a major overage that has lasted 24 clock hours raised to the next tier of the
//! policy's `tiers` — an assigned order of origin `upgrade` and its lot of the difference, valid
//! to the end of the org's licence year, with the pro-rata fraction of that year left — or, with
//! no tier left, a notice that says so. All in one transaction: the state's version is the guard
//! that nothing is told or raised twice.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::domain::audit::AuditEntry;
use crate::domain::change::{Change, Decision};
use crate::domain::lot::{Lot, LotStatus};
use crate::domain::notice::{Notice, NoticeKind, Recipients};
use crate::domain::order::{LotSummary, Order, OrderKind, OrderOrigin, OrderStatus};
use crate::domain::org::{Org, OrgKind};
use crate::domain::policy::Policy;
use crate::domain::term::term_end;
use crate::domain::usage::{self, Figures, OverageState, UsageState};

/// How long a major overage lasts before the subscription is raised to the next tier.
pub const UPGRADE_AFTER_HOURS: i64 = 24;

/// What one org's check decides on, besides its states.
pub struct Check<'a> {
    pub org: &'a Org,
    pub policy: &'a Policy,
    /// The org's lots (its licence year starts at the earliest unexpired one's start).
    pub lots: &'a [Lot],
    /// The figures the state was computed from (the org's subtree).
    pub figures: Figures,
    /// Who the org's notices go to.
    pub recipients: Recipients,
    /// The partner above a company, and who of it is told of an upgrade.
    pub partner: Option<(&'a Org, Recipients)>,
}

/// Ids for what a check creates: notices, and an upgrade's order and lot.
pub trait Ids {
    fn id(&mut self, prefix: &str) -> String;
}

impl<F: FnMut(&str) -> String> Ids for F {
    fn id(&mut self, prefix: &str) -> String {
        self(prefix)
    }
}

/// The check of one org at `now`: `next` (the state computed from its snapshots) written over
/// `prev` (as read; `None`: never checked), carrying on when a major overage began and whether
/// it was raised. The outcome: how many notices it sends.
pub fn check(
    prev: Option<&UsageState>,
    mut next: UsageState,
    cx: &Check,
    now: DateTime<Utc>,
    ids: &mut impl Ids,
) -> Decision<usize> {
    let was = prev.map_or(OverageState::None, |p| p.subtree.state);
    let major = next.subtree.state == OverageState::Major;
    let carried = prev.filter(|_| was == OverageState::Major && major);
    next.major_since = if major { carried.and_then(|p| p.major_since).or(Some(now)) } else { None };
    next.upgraded_at = carried.and_then(|p| p.upgraded_at);
    next.version = prev.map_or(0, |p| p.version);
    let mut changes = Vec::new();
    let mut notices = Vec::new();
    if cx.org.kind == OrgKind::Company && next.subtree.state != was {
        let since = next.subtree.since.or_else(|| prev.and_then(|p| p.subtree.since));
        // The partner's usage contacts are told of its customers' overage too.
        let partner = cx.partner.iter().flat_map(|(_, to)| to.to.iter().cloned());
        let to = Recipients::bounded(cx.recipients.to.iter().cloned().chain(partner));
        notices.push((cx.org, to, NoticeKind::Overage, overage_payload(&next, since, cx.figures)));
    }
    let due = next.major_since.is_some_and(|s| now >= s + Duration::hours(UPGRADE_AFTER_HOURS));
    if cx.org.kind == OrgKind::Company && due && next.upgraded_at.is_none() {
        next.upgraded_at = Some(now);
        let (payload, raised) = upgrade(&next, cx, now, ids);
        notices.push((cx.org, cx.recipients.clone(), NoticeKind::UpgradeDue, payload.clone()));
        if let Some((partner, to)) = &cx.partner {
            notices.push((partner, to.clone(), NoticeKind::UpgradeDue, payload));
        }
        changes.extend(raised);
    }
    let sent = notices.len();
    for (org, to, kind, payload) in notices {
        changes.push(Change::Notice(Notice::new(ids.id("ntc"), kind, &org.org_id, now, to, payload)));
    }
    let expected = prev.map(|p| p.version);
    changes.insert(0, Change::UsageState { org: cx.org.clone(), state: next, expected });
    Decision::new(changes, sent)
}

/// The `overage` notice's payload: the new state (back to `none` included), since when, and
/// the figures.
fn overage_payload(state: &UsageState, since: Option<chrono::NaiveDate>, f: Figures) -> Value {
    let deadline = match state.subtree.state {
        OverageState::None => None,
        OverageState::Major => Some("24_hours"),
        OverageState::Minor | OverageState::MinorActionDue => Some("10_business_days"),
    };
    json!({
        "state": state.subtree.state, "since": since, "used": f.used, "limit": f.limit,
        "percent_used": usage::percent(f.used, f.limit), "deadline": deadline,
    })
}

/// A major overage that lasted 24 hours: the next tier (the smallest of `tiers` that holds the
/// users in use) and the changes that raise the limit to it — none when no tier is left. The
/// notices' payload, and the changes.
fn upgrade(state: &UsageState, cx: &Check, now: DateTime<Utc>, ids: &mut impl Ids) -> (Value, Vec<Change>) {
    let f = cx.figures;
    let tier = usage::next_tier(&cx.policy.tiers, f.used).filter(|t| u64::from(*t) > f.limit);
    let start = cx.lots.iter().filter(|l| l.status_at(now) == LotStatus::Active).map(|l| l.valid_from).min();
    let year_end = start.map(|s| term_end(s, cx.policy.term_months)).filter(|end| *end > now);
    let fraction = usage::pro_rata_fraction(cx.lots, cx.policy.term_months, now);
    let mut payload = json!({
        "since": state.subtree.since, "used": f.used, "limit": f.limit, "company_id": cx.org.org_id,
        "company_name": cx.org.name, "next_tier": tier, "pro_rata_fraction": fraction,
        "raised": Value::Null, "order_id": Value::Null, "lot_id": Value::Null, "valid_until": year_end,
    });
    let (Some(tier), Some(valid_until), Some(fraction)) = (tier, year_end, fraction) else {
        return (payload, Vec::new());
    };
    let quantity = tier - f.limit as u32;
    let by = super::renewal::sweeper(&cx.org.org_id);
    let (order, lot) = raised(cx, (tier, quantity, fraction), valid_until, by.actor(), now, ids);
    let (order_id, lot_id) = (order.order_id.clone(), lot.lot_id.clone());
    payload["raised"] = json!(quantity);
    payload["order_id"] = json!(order_id);
    payload["lot_id"] = json!(lot_id);
    let details = json!({ "tier": tier, "quantity": quantity, "lot_id": lot_id, "pro_rata_fraction": fraction, "valid_until": valid_until });
    let subject = format!("order/{order_id}");
    let audit = AuditEntry::new(&by, cx.org, "order.upgraded", &subject, details, now);
    let changes = vec![
        Change::NewOrder { order, company: cx.org.clone() },
        Change::NewLot { lot, org: cx.org.clone() },
        Change::Audit(audit),
    ];
    (payload, changes)
}

/// The order (`origin: upgrade`, assigned by `by`) and its lot of `quantity` seats that raise
/// `cx`'s company to `tier`, valid from `now` to `valid_until`, charged for `fraction` of the
/// licence year.
fn raised(
    cx: &Check,
    (tier, quantity, fraction): (u32, u32, f64),
    valid_until: DateTime<Utc>,
    by: &str,
    now: DateTime<Utc>,
    ids: &mut impl Ids,
) -> (Order, Lot) {
    let (order_id, lot_id) = (ids.id("ord"), ids.id("lot"));
    let lot = Lot {
        uses_per_seat: cx.policy.uses_per_seat.cap(),
        pro_rata_fraction: Some(fraction),
        ..Lot::new((lot_id.clone(), cx.org.org_id.clone(), order_id.clone()), quantity, now, Some(valid_until))
    };
    let order = Order {
        order_id: order_id.clone(),
        org_id: cx.org.org_id.clone(),
        quantity,
        note: Some(format!("Upgrade to {tier} seats after a major overage (pro rata {fraction})")),
        status: OrderStatus::Assigned,
        requested_at: now,
        requested_by: by.to_string(),
        assigned_at: Some(now),
        assigned_by: Some(by.to_string()),
        lot: Some(LotSummary { lot_id: lot_id.clone(), quantity, valid_from: now, valid_until: Some(valid_until) }),
        kind: OrderKind::Purchase,
        reduced_lots: Vec::new(),
        rejected_at: None,
        rejected_by: None,
        reason: None,
        cancelled_at: None,
        cancelled_by: None,
        origin: Some(OrderOrigin::Upgrade),
        pro_rata_fraction: Some(fraction),
    };
    (order, lot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notice::Recipients;
    use crate::domain::usage::Overage;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn org(id: &str, kind: OrgKind) -> Org {
        let mut org = Org::vendor_root(at("2026-01-01T00:00:00Z"));
        (org.org_id, org.kind, org.name) = (id.into(), kind, id.to_uppercase());
        org
    }

    fn state(state: OverageState, since: Option<&str>) -> UsageState {
        let o = Overage { state, since: since.map(|d| d.parse().unwrap()), business_days: 1 };
        UsageState {
            org_id: "c".into(),
            date: "2026-06-05".parse().unwrap(),
            own: o.clone(),
            subtree: o,
            major_since: None,
            upgraded_at: None,
            version: 0,
        }
    }

    /// Stores what a check decided, as the table would: its state with the version bumped.
    fn stored(decided: &Decision<usize>) -> UsageState {
        let Some(Change::UsageState { state, .. }) = decided.changes.first() else { panic!("{:?}", decided.changes) };
        UsageState { version: state.version + 1, ..state.clone() }
    }

    fn kinds(decided: &Decision<usize>) -> Vec<String> {
        decided
            .changes
            .iter()
            .map(|c| match c {
                Change::Notice(n) => format!("{}:{}", n.kind.as_str(), n.org_id),
                Change::NewOrder { order, .. } => format!("order:{}", order.quantity),
                Change::NewLot { lot, .. } => format!("lot:{}", lot.quantity),
                Change::Audit(a) => a.action.clone(),
                Change::UsageState { expected, .. } => format!("state:{expected:?}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// Worked example 13 (docs/domain.md#example-13-the-upgrade-ladder): major at 1070 of 1000
    /// found on Friday 17:00; the notice says 24 hours; the first check from Saturday 17:00 on
    /// assigns a 250-seat upgrade order and lot with its pro-rata fraction; back to none is told.
    #[test]
    fn worked_case_13_a_major_overage_is_raised_to_the_next_tier_after_24_clock_hours() {
        let (c, p) = (org("c", OrgKind::Company), org("p", OrgKind::Partner));
        let policy = Policy::resolve([&crate::domain::policy::PolicySettings {
            tiers: Some(vec![1000, 1250, 1500]),
            ..Default::default()
        }]);
        let ids = ("l1".into(), "c".into(), "o1".into());
        let lot = Lot::new(ids, 1000, at("2026-01-15T09:00:00Z"), Some(at("2027-01-15T09:00:00Z")));
        let to = |e: &str| Recipients { to: vec![e.to_string()], omitted: 0 };
        let cx = |limit: u64| Check {
            org: &c,
            policy: &policy,
            lots: std::slice::from_ref(&lot),
            figures: Figures { limit, used: 1070, remaining: 0 },
            recipients: to("cm@c.example"),
            partner: Some((&p, to("am@p.example"))),
        };
        let mut n = 0;
        let mut ids = |prefix: &str| {
            n += 1;
            format!("{prefix}_{n}")
        };
        let major = state(OverageState::Major, Some("2026-06-05"));

        // Friday 2026-06-05 17:00: major found; told, with 24 hours to act.
        let friday = check(None, major.clone(), &cx(1000), at("2026-06-05T17:00:00Z"), &mut ids);
        assert_eq!(kinds(&friday), vec!["state:None", "overage:c"]);
        let Some(Change::Notice(told)) = friday.changes.get(1) else { panic!() };
        assert_eq!(
            (told.payload["state"].as_str(), told.payload["deadline"].as_str()),
            (Some("major"), Some("24_hours"))
        );
        let prev = stored(&friday);
        assert_eq!(prev.major_since, Some(at("2026-06-05T17:00:00Z")));

        // Saturday 16:59: not 24 hours yet, nothing but the state.
        let early = check(Some(&prev), major.clone(), &cx(1000), at("2026-06-06T16:59:59Z"), &mut ids);
        assert_eq!(kinds(&early), vec!["state:Some(1)"]);
        let prev = stored(&early);

        // Saturday 17:00: raised to 1250, pro rata; the company and its partner told.
        let raised = check(Some(&prev), major.clone(), &cx(1000), at("2026-06-06T17:00:00Z"), &mut ids);
        assert_eq!(
            kinds(&raised),
            vec!["state:Some(2)", "order:250", "lot:250", "order.upgraded", "upgrade_due:c", "upgrade_due:p"]
        );
        let Some(Change::NewLot { lot: added, .. }) = raised.changes.get(2) else { panic!() };
        assert_eq!(added.valid_until, Some(at("2027-01-15T09:00:00Z")), "to the end of the licence year");
        let fraction = added.pro_rata_fraction.unwrap();
        assert!((0.6..0.62).contains(&fraction), "{fraction}");
        let Some(Change::Notice(upgrade)) = raised.changes.get(4) else { panic!() };
        assert_eq!(
            (upgrade.payload["next_tier"].as_u64(), upgrade.payload["raised"].as_u64()),
            (Some(1250), Some(250))
        );
        let prev = stored(&raised);

        // Still major an hour later (before the next snapshot counts the new lot): once only.
        let again = check(Some(&prev), major.clone(), &cx(1000), at("2026-06-06T18:00:00Z"), &mut ids);
        assert_eq!(kinds(&again), vec!["state:Some(3)"]);
        let prev = stored(&again);

        // 1070 of 1250: back to none, and told.
        let none = check(Some(&prev), state(OverageState::None, None), &cx(1250), at("2026-06-06T19:00:00Z"), &mut ids);
        assert_eq!(kinds(&none), vec!["state:Some(4)", "overage:c"]);
        let Some(Change::Notice(back)) = none.changes.get(1) else { panic!() };
        assert_eq!(
            (back.payload["state"].as_str(), back.payload["since"].as_str()),
            (Some("none"), Some("2026-06-05"))
        );
    }

    #[test]
    fn with_no_tier_left_the_notice_says_so_and_nothing_is_raised() {
        let c = org("c", OrgKind::Company);
        let policy =
            Policy::resolve([&crate::domain::policy::PolicySettings { tiers: Some(vec![1000]), ..Default::default() }]);
        let cx = Check {
            org: &c,
            policy: &policy,
            lots: &[],
            figures: Figures { limit: 1000, used: 1070, remaining: 0 },
            recipients: Recipients { to: vec!["cm@c.example".into()], omitted: 0 },
            partner: None,
        };
        let mut prev = state(OverageState::Major, Some("2026-06-05"));
        prev.major_since = Some(at("2026-06-05T17:00:00Z"));
        let decided = check(Some(&prev), prev.clone(), &cx, at("2026-06-06T17:00:00Z"), &mut |p: &str| p.to_string());
        assert_eq!(kinds(&decided), vec!["state:Some(0)", "upgrade_due:c"]);
        let Some(Change::Notice(n)) = decided.changes.get(1) else { panic!() };
        assert_eq!((n.payload["next_tier"].clone(), n.payload["raised"].clone()), (Value::Null, Value::Null));
    }
}
