//! Licence terms run in calendar months: 31 Mar + 1 month = 30 Apr; 29 Feb + 12 months = 28 Feb.

use chrono::{DateTime, Months, Utc};

/// The end of a term of `months` calendar months starting at `start`. A day that does not exist
/// in the target month falls back to that month's last day (chrono's `checked_add_months`).
pub fn term_end(start: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    start.checked_add_months(Months::new(months)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_year_from_the_last_of_march_is_the_last_of_march() {
        assert_eq!(term_end(at("2026-03-31T00:00:00Z"), 12), at("2027-03-31T00:00:00Z"));
    }

    #[test]
    fn a_month_from_the_last_of_march_is_the_last_of_april() {
        assert_eq!(term_end(at("2026-03-31T10:30:00Z"), 1), at("2026-04-30T10:30:00Z"));
    }

    #[test]
    fn a_year_from_a_leap_day_is_the_last_of_february() {
        assert_eq!(term_end(at("2028-02-29T09:00:00Z"), 12), at("2029-02-28T09:00:00Z"));
    }

    #[test]
    fn four_years_from_a_leap_day_is_a_leap_day() {
        assert_eq!(term_end(at("2028-02-29T09:00:00Z"), 48), at("2032-02-29T09:00:00Z"));
    }

    #[test]
    fn the_time_of_day_is_kept() {
        assert_eq!(term_end(at("2026-01-15T09:00:00Z"), 12), at("2027-01-15T09:00:00Z"));
    }
}
