//! The template's schedules, read from `infra/template.yaml` itself: which function each
//! triggers, when, and the payload Scheduler sends it (the schedule's `Input` with Scheduler's
//! context attributes filled in). The local server runs them at the template's own hours, and
//! the tests hand each payload to its function, so a template edit cannot break a sweep unseen.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::Value;

/// One `ScheduleV2` event of a function in the template.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The function it triggers (its `Binary`).
    pub function: String,
    /// The event's name in the template (`Hourly`, `Monthly`…).
    pub event: String,
    /// `rate(…)` or `cron(…)`, as EventBridge Scheduler reads it.
    pub expression: String,
    /// The `Input` the template gives the schedule; `None` when it sets none.
    pub input: Option<String>,
}

/// Every schedule of `template`, in the template's order.
pub fn read(template: &str) -> Result<Vec<Schedule>, String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(template).map_err(|e| format!("template: {e}"))?;
    let resources = doc.get("Resources").and_then(|r| r.as_mapping()).ok_or("template: no Resources")?;
    let mut schedules = Vec::new();
    for (_, resource) in resources {
        if resource.get("Type").and_then(|t| t.as_str()) != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_default();
        let Some(events) = resource["Properties"].get("Events").and_then(|e| e.as_mapping()) else {
            continue;
        };
        for (name, event) in events {
            if event.get("Type").and_then(|t| t.as_str()) != Some("ScheduleV2") {
                continue;
            }
            let props = &event["Properties"];
            schedules.push(Schedule {
                function: binary.to_string(),
                event: name.as_str().unwrap_or_default().to_string(),
                expression: props["ScheduleExpression"].as_str().unwrap_or_default().to_string(),
                input: props.get("Input").and_then(|i| i.as_str()).map(str::to_string),
            });
        }
    }
    Ok(schedules)
}

/// The schedules of the template compiled into this build.
pub fn compiled() -> Vec<Schedule> {
    read(seatkeeper::store::table::TEMPLATE).expect("the compiled template reads")
}

impl Schedule {
    /// What Scheduler delivers at `at`: the `Input` with its context attributes replaced, as
    /// JSON. Without an `Input` Scheduler sends `{}`.
    pub fn payload(&self, at: DateTime<Utc>) -> Result<Value, String> {
        let Some(input) = &self.input else {
            return Ok(Value::Object(Default::default()));
        };
        let filled = input
            .replace("<aws.scheduler.scheduled-time>", &at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .replace(
                "<aws.scheduler.schedule-arn>",
                &format!("arn:aws:scheduler:us-east-1:000000000000:schedule/default/{}-{}", self.function, self.event),
            )
            .replace("<aws.scheduler.execution-id>", &uuid::Uuid::new_v4().to_string())
            .replace("<aws.scheduler.attempt-number>", "1");
        serde_json::from_str(&filled).map_err(|e| format!("{} {}: Input is not JSON: {e}", self.function, self.event))
    }

    /// The sweep the `Input` names (`detail.sweep`).
    pub fn sweep(&self) -> Option<String> {
        let input: Value = serde_json::from_str(self.input.as_deref()?).ok()?;
        input["detail"]["sweep"].as_str().map(str::to_string)
    }

    /// Whether the schedule fires at the top of the hour `at` (the local driver wakes hourly, so
    /// only expressions that fire on the hour are taken).
    pub fn fires_at(&self, at: DateTime<Utc>) -> Result<bool, String> {
        let bad = || format!("{} {}: cannot run {:?} locally", self.function, self.event, self.expression);
        if let Some(rate) = self.expression.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let (n, unit) = rate.split_once(' ').ok_or_else(bad)?;
            let n: u32 = n.parse().map_err(|_| bad())?;
            return match unit {
                "hour" | "hours" if n > 0 => Ok(at.hour().is_multiple_of(n)),
                "day" | "days" if n > 0 => Ok(at.hour() == 0 && at.ordinal0().is_multiple_of(n)),
                _ => Err(bad()),
            };
        }
        let cron = self.expression.strip_prefix("cron(").and_then(|c| c.strip_suffix(')')).ok_or_else(bad)?;
        let fields: Vec<&str> = cron.split_whitespace().collect();
        let [minutes, hours, day, month, weekday, year] = fields[..] else {
            return Err(bad());
        };
        if !matches(minutes, 0).ok_or_else(bad)? {
            return Err(bad());
        }
        Ok(matches(hours, at.hour()).ok_or_else(bad)?
            && matches(day, at.day()).ok_or_else(bad)?
            && matches(month, at.month()).ok_or_else(bad)?
            && matches(weekday, at.weekday().number_from_sunday()).ok_or_else(bad)?
            && matches(year, at.year() as u32).ok_or_else(bad)?)
    }
}

/// Whether a cron field (`*`, `?`, a number or a list of numbers) holds `value`; `None` for a
/// form the local driver does not read.
fn matches(field: &str, value: u32) -> Option<bool> {
    if field == "*" || field == "?" {
        return Some(true);
    }
    let mut any = false;
    for part in field.split(',') {
        any |= part.parse::<u32>().ok()? == value;
    }
    Some(any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 2, d, h, 0, 0).unwrap()
    }

    #[test]
    fn the_templates_hours_are_kept() {
        let s = compiled();
        let by = |sweep: &str| s.iter().find(|s| s.sweep().as_deref() == Some(sweep)).unwrap().clone();
        assert!(by("expire").fires_at(at(3, 13)).unwrap() && by("renewal").fires_at(at(3, 0)).unwrap());
        let snapshot = by("snapshot");
        assert!((0..24).all(|h| snapshot.fires_at(at(3, h)).unwrap()), "the usage check runs hourly");
        let forecast = by("forecast");
        assert!((0..24).all(|h| forecast.fires_at(at(1, h)).unwrap()), "each org's own 1st is found by the hour");
    }

    #[test]
    fn the_payload_carries_the_instant_scheduler_fills_in() {
        let s = Schedule {
            function: "f".into(),
            event: "E".into(),
            expression: "rate(1 hour)".into(),
            input: Some(r#"{"time": "<aws.scheduler.scheduled-time>", "id": "<aws.scheduler.execution-id>"}"#.into()),
        };
        assert_eq!(s.payload(at(3, 4)).unwrap()["time"], "2027-02-03T04:00:00Z");
        assert!(Schedule { input: None, ..s.clone() }.payload(at(3, 4)).unwrap().as_object().unwrap().is_empty());
        assert!(Schedule { expression: "cron(30 1 * * ? *)".into(), ..s }.fires_at(at(3, 1)).is_err());
    }
}
