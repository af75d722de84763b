//! Cron expressions, evaluated in a time zone: five fields (minute, hour, day of month,
//! month, day of week) or six with seconds first, each `*`, a value, a range `a-b`, a step
//! `*/n` or `a-b/n`, or a comma list of those; month and day names (`jan`, `mon`); the
//! aliases `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. As in Vixie cron, when
//! both day fields are restricted a day matching either one runs. Local times that a
//! daylight-saving change skips run at the first instant after the gap.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: BTreeSet<u8>,
    minutes: BTreeSet<u8>,
    hours: BTreeSet<u8>,
    days: BTreeSet<u8>,
    months: BTreeSet<u8>,
    weekdays: BTreeSet<u8>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(raw: &str, min: u8, max: u8, names: &[&str], offset: u8) -> Option<u8> {
    let lower = raw.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return u8::try_from(i).ok().map(|i| i + offset);
    }
    raw.parse::<u8>().ok().filter(|v| (min..=max).contains(v))
}

fn field(
    raw: &str,
    what: &str,
    min: u8,
    max: u8,
    names: &[&str],
    offset: u8,
) -> Result<BTreeSet<u8>, CronError> {
    let bad = || {
        CronError(format!(
            "the {what} field {raw:?} is not valid ({min} to {max})"
        ))
    };
    let mut set = BTreeSet::new();
    for part in raw.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u8>().ok().filter(|s| *s > 0).ok_or_else(bad)?),
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (
                    value(a, min, max, names, offset).ok_or_else(bad)?,
                    value(b, min, max, names, offset).ok_or_else(bad)?,
                ),
                None => {
                    let v = value(r, min, max, names, offset).ok_or_else(bad)?;
                    (v, if part.contains('/') { max } else { v })
                }
            },
        };
        if lo > hi {
            return Err(bad());
        }
        set.extend((lo..=hi).step_by(usize::from(step)));
    }
    Ok(set)
}

impl Cron {
    /// Parses an expression.
    pub fn parse(raw: &str) -> Result<Self, CronError> {
        let expanded = match raw.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match parts.len() {
            5 => ("0", &parts[..]),
            6 => (parts[0], &parts[1..]),
            _ => {
                return Err(CronError(
                    "a cron expression has 5 fields (or 6, seconds first)".to_owned(),
                ));
            }
        };
        let mut weekdays = field(rest[4], "day-of-week", 0, 7, &DAYS, 0)?;
        if weekdays.remove(&7) {
            weekdays.insert(0);
        }
        Ok(Self {
            seconds: field(seconds, "second", 0, 59, &[], 0)?,
            minutes: field(rest[0], "minute", 0, 59, &[], 0)?,
            hours: field(rest[1], "hour", 0, 23, &[], 0)?,
            days: field(rest[2], "day-of-month", 1, 31, &[], 0)?,
            months: field(rest[3], "month", 1, 12, &MONTHS, 1)?,
            weekdays,
            days_restricted: rest[2] != "*",
            weekdays_restricted: rest[4] != "*",
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        let month = u8::try_from(date.month()).unwrap_or(0);
        let day = u8::try_from(date.day()).unwrap_or(0);
        let weekday = u8::try_from(date.weekday().to_sunday_zero_offset()).unwrap_or(0);
        let by_day = self.days.contains(&day);
        let by_weekday = self.weekdays.contains(&weekday);
        let day_ok = match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => by_day || by_weekday,
            (true, false) => by_day,
            (false, true) => by_weekday,
            (false, false) => true,
        };
        self.months.contains(&month) && day_ok
    }

    /// The first run strictly after `after` (Unix ms) in `tz`, within five years.
    pub fn next_after(&self, after_ms: i64, tz: &TimeZone) -> Option<i64> {
        let after = Timestamp::from_millisecond(after_ms).ok()?;
        let local = after.to_zoned_datetime(tz.clone()).datetime();
        let mut date = local.date();
        for _ in 0..(366 * 5) {
            if self.day_matches(date) {
                for &h in &self.hours {
                    for &m in &self.minutes {
                        for &s in &self.seconds {
                            let at = date.at(
                                i8::try_from(h).ok()?,
                                i8::try_from(m).ok()?,
                                i8::try_from(s).ok()?,
                                0,
                            );
                            let Ok(zoned) = at.to_zoned_datetime(tz.clone()) else {
                                continue;
                            };
                            let ms = zoned.timestamp().as_millisecond();
                            if ms > after_ms {
                                return Some(ms);
                            }
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The next `n` runs after `after_ms`.
    pub fn preview(&self, after_ms: i64, tz: &TimeZone, n: usize) -> Vec<i64> {
        let mut runs = Vec::with_capacity(n);
        let mut at = after_ms;
        while runs.len() < n {
            match self.next_after(at, tz) {
                Some(next) => {
                    runs.push(next);
                    at = next;
                }
                None => break,
            }
        }
        runs
    }
}

/// The time zone called `name` (IANA), or UTC for `UTC`.
pub fn zone(name: &str) -> Result<TimeZone, CronError> {
    TimeZone::get(name).map_err(|_| {
        CronError(format!(
            "{:?} is not a known time zone (for example Europe/Berlin or UTC)",
            name.chars().take(64).collect::<String>()
        ))
    })
}

/// `ms` as local time in `tz`, for display.
pub fn local(ms: i64, tz: &TimeZone) -> String {
    Timestamp::from_millisecond(ms).map_or_else(
        |_| String::new(),
        |t| t.to_zoned_datetime(tz.clone()).datetime().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(tz: &TimeZone, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        jiff::civil::date(y, mo, d)
            .at(h, mi, 0, 0)
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or_default()
    }

    #[test]
    fn expressions_parse_and_find_their_next_run_in_a_time_zone() {
        let paris = zone("Europe/Paris").unwrap_or(TimeZone::UTC);
        let nightly = Cron::parse("30 2 * * *").unwrap_or_else(|e| panic!("{e}"));
        // 02:30 on 29 March 2026 does not exist in Paris: it runs at 03:30 after the gap.
        let before = at(&paris, 2026, 3, 28, 23, 0);
        let next = nightly.next_after(before, &paris).unwrap_or_default();
        assert_eq!(local(next, &paris), "2026-03-29T03:30:00");
        let weekdays = Cron::parse("0 9 * * mon-fri").unwrap_or_else(|e| panic!("{e}"));
        let saturday = at(&paris, 2026, 11, 21, 12, 0);
        assert_eq!(
            local(
                weekdays.next_after(saturday, &paris).unwrap_or_default(),
                &paris
            ),
            "2026-11-23T09:00:00"
        );
        let either = Cron::parse("0 0 1 * sun").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            either
                .preview(at(&TimeZone::UTC, 2026, 11, 23, 0, 0), &TimeZone::UTC, 2)
                .len(),
            2
        );
        let every_two_seconds = Cron::parse("*/2 * * * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            every_two_seconds.next_after(1_000, &TimeZone::UTC),
            Some(2_000)
        );
        assert_eq!(Cron::parse("@daily"), Cron::parse("0 0 * * *"));
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "5-1 * * * *",
            "*/0 * * * *",
            "x * * * *",
            "'; DROP TABLE schedules;--",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
        assert!(zone("Mars/Olympus").is_err());
    }
}
