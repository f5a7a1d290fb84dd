//! An org's time zone (its `time_zone` knob, docs/domain.md#expiry): the IANA database as jiff
//! bundles it into the binary (the compiled TZif files, read when a zone is first asked for), so a
//! function needs no zoneinfo on the host, and carries the data rather than code generated for
//! every zone.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

/// A time zone of the IANA database.
#[derive(Debug, Clone)]
pub struct Zone(jiff::tz::TimeZone);

impl Zone {
    /// Coordinated Universal Time: the zone of an org that names none.
    pub const UTC: Zone = Zone(jiff::tz::TimeZone::UTC);

    /// The zone named `name` (`Europe/Amsterdam`, `UTC`; the database's names, in any case);
    /// `None` when the database has no such zone.
    pub fn parse(name: &str) -> Option<Zone> {
        jiff::tz::db().get(name).ok().map(Zone)
    }

    /// The zone's name as the database spells it.
    pub fn name(&self) -> &str {
        self.0.iana_name().unwrap_or("UTC")
    }

    /// The wall-clock date and time in the zone at `at`.
    pub fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.naive_utc() + Duration::seconds(i64::from(self.0.to_offset(timestamp(at)).seconds()))
    }

    /// The abbreviation the zone uses at `at` (`CET`, `CEST`; an offset such as `+03` where the
    /// database has no letters).
    pub fn abbreviation(&self, at: DateTime<Utc>) -> String {
        self.0.to_offset_info(timestamp(at)).abbreviation().to_string()
    }
}

fn timestamp(at: DateTime<Utc>) -> jiff::Timestamp {
    // Every instant chrono holds here is within jiff's range (years -9999 to 9999).
    jiff::Timestamp::new(at.timestamp(), at.timestamp_subsec_nanos() as i32).unwrap_or(jiff::Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn amsterdam_keeps_its_own_date_and_summer_time() {
        let ams = Zone::parse("Europe/Amsterdam").unwrap();
        assert_eq!(ams.name(), "Europe/Amsterdam");
        assert_eq!(ams.local(at("2027-01-15T23:30:00Z")).to_string(), "2027-01-16 00:30:00");
        assert_eq!(ams.abbreviation(at("2027-01-15T23:30:00Z")), "CET");
        // The last Sunday of March 2027, 01:00 UTC: clocks go from 02:00 to 03:00.
        assert_eq!(ams.local(at("2027-03-28T00:59:59Z")).to_string(), "2027-03-28 01:59:59");
        assert_eq!(ams.local(at("2027-03-28T01:00:00Z")).to_string(), "2027-03-28 03:00:00");
        assert_eq!(ams.abbreviation(at("2027-07-01T12:00:00Z")), "CEST");
        // Far past the database's listed transitions, its rule still applies.
        assert_eq!(ams.local(at("2099-07-01T12:00:00Z")).to_string(), "2099-07-01 14:00:00");
    }

    #[test]
    fn names_are_the_databases_and_nothing_else() {
        assert_eq!(Zone::parse("europe/amsterdam").map(|z| z.name().to_string()), Some("Europe/Amsterdam".into()));
        assert_eq!(Zone::parse("UTC").map(|z| z.name().to_string()), Some("UTC".into()));
        assert!(Zone::parse("Mars/Olympus_Mons").is_none());
        assert!(Zone::parse("").is_none());
        assert_eq!(Zone::UTC.local(at("2027-01-15T23:30:00Z")).to_string(), "2027-01-15 23:30:00");
        let tokyo = Zone::parse("Asia/Tokyo").unwrap();
        assert_eq!(tokyo.local(at("2027-01-15T23:30:00Z")).to_string(), "2027-01-16 08:30:00");
        assert_eq!(Zone::parse("America/Sao_Paulo").unwrap().abbreviation(at("2027-01-15T12:00:00Z")), "-03");
    }
}
