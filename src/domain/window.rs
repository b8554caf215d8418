//! Maintenance windows: the weekly times at which `switch`, `rollback`, `upgrade` and `gc` may
//! change a host. Pure arithmetic over Unix seconds, so tests inject any clock.
//!
//! Grammar (also in docs/reference.md): `DAYS HH:MM-HH:MM [ZONE]`, where `DAYS` is `daily`, `*`, a day
//! (`Mon` … `Sun`, or the full name), a range `Mon-Fri` (which may wrap: `Fri-Mon`), or a comma
//! list of those; `ZONE` is `UTC` (the default), `Z`, or a fixed offset `UTC+02:00`, `+02:00`,
//! `-05:30`. An end at or before the start crosses midnight (`Sat 23:00-01:00` closes Sunday
//! 01:00); `24:00` is allowed as an end; start = end is refused. A window belongs to the day it
//! opens on.
//!
//! A hand-written grammar on purpose: cron expressions cannot say "Sat 23:00-01:00" as one
//! window, and a calendar crate would bring time zones pyswap deliberately does not resolve
//! (fixed offsets only, so a window never moves with a tz database update on one host of a
//! fleet).

use std::fmt;

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

#[derive(Debug, thiserror::Error)]
pub(crate) enum WindowError {
    #[error(
        "maintenance window `{text}`: {why} (expected e.g. `Sat 02:00-04:00 UTC` or `Mon-Fri 22:00-02:00 +01:00`)"
    )]
    Syntax { text: String, why: String },
    #[error(
        "outside the maintenance windows ({windows}); the next one opens at {next} (in {wait})"
    )]
    Closed {
        windows: String,
        next: String,
        wait: String,
    },
}

crate::ground::exit::register!(WindowError);
impl crate::ground::exit::Reason for WindowError {
    fn refuses_request(&self) -> bool {
        true
    }

    fn status(&self) -> crate::ground::exit::ExitStatus {
        match self {
            Self::Closed { .. } => crate::ground::exit::ExitStatus::OutsideWindow,
            Self::Syntax { .. } => crate::ground::exit::ExitStatus::Failure,
        }
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::Closed { .. } => Some("run it inside a window, pre-stage now with `pyswap install`, or override with --force".into()),
            Self::Syntax { .. } => None,
        }
    }
}

/// One weekly window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    text: String,
    /// Monday = 0.
    days: [bool; 7],
    /// Minutes after local midnight.
    start: i64,
    /// Length in minutes (1 ..= 1440).
    len: i64,
    /// Offset of the window's zone from UTC, in minutes.
    offset: i64,
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Window {
    pub(crate) fn parse(text: &str) -> Result<Self, WindowError> {
        let bad = |why: &str| WindowError::Syntax {
            text: text.to_owned(),
            why: why.to_owned(),
        };
        let mut words = text.split_whitespace();
        let days =
            parse_days(words.next().ok_or_else(|| bad("it is empty"))?).map_err(|why| bad(&why))?;
        let times = words
            .next()
            .ok_or_else(|| bad("a time range HH:MM-HH:MM is missing"))?;
        let (from, to) = times
            .split_once('-')
            .ok_or_else(|| bad("the time range needs a `-` between two HH:MM"))?;
        let start = parse_time(from, false).map_err(|why| bad(&why))?;
        let end = parse_time(to, true).map_err(|why| bad(&why))?;
        if start == end {
            return Err(bad("it starts and ends at the same time"));
        }
        let len = (end - start).rem_euclid(1440);
        let len = if len == 0 { 1440 } else { len };
        let offset = match words.next() {
            None => 0,
            Some(z) => parse_zone(z).map_err(|why| bad(&why))?,
        };
        if let Some(extra) = words.next() {
            return Err(bad(&format!("unexpected `{extra}` after the zone")));
        }
        Ok(Self {
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            days,
            start,
            len,
            offset,
        })
    }

    /// The days (Monday = 0) the window opens on.
    fn open_days(&self) -> impl Iterator<Item = i64> + '_ {
        self.days
            .iter()
            .zip(0..)
            .filter(|(on, _)| **on)
            .map(|(_, d)| d)
    }

    /// Seconds since the window last opened if it is open at `now`.
    fn open_for(&self, now: i64) -> Option<i64> {
        let sow = second_of_week(now + self.offset * 60);
        self.open_days().find_map(|d| {
            let since = (sow - (d * DAY + self.start * 60)).rem_euclid(WEEK);
            (since < self.len * 60).then_some(since)
        })
    }

    /// Seconds until the window next opens after `now` (at most a week).
    fn opens_in(&self, now: i64) -> i64 {
        let sow = second_of_week(now + self.offset * 60);
        self.open_days()
            .map(|d| (d * DAY + self.start * 60 - sow).rem_euclid(WEEK))
            .map(|s| if s == 0 { WEEK } else { s })
            .min()
            .unwrap_or(WEEK)
    }
}

/// Seconds since Monday 00:00 of the week holding `t` (1970-01-01 was a Thursday).
fn second_of_week(t: i64) -> i64 {
    (t + 3 * DAY).rem_euclid(WEEK)
}

fn day_index(s: &str) -> Option<usize> {
    let s = s.to_ascii_lowercase();
    DAYS.iter()
        .position(|d| s.len() >= 3 && d.starts_with(&s) && (s.len() == 3 || s == *d))
}

fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    if s == "*" || s.eq_ignore_ascii_case("daily") {
        return Ok([true; 7]);
    }
    for part in s.split(',') {
        let one = |d: &str| day_index(d).ok_or_else(|| format!("`{d}` is not a day (Mon … Sun)"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (one(a)?, one(b)?);
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[one(part)?] = true,
        }
    }
    Ok(days)
}

fn parse_time(s: &str, end: bool) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a time HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: i64 = h.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    if (h, m) == (24, 0) && end {
        return Ok(1440);
    }
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_zone(z: &str) -> Result<i64, String> {
    let rest = if z.eq_ignore_ascii_case("utc") || z.eq_ignore_ascii_case("z") {
        return Ok(0);
    } else if let Some(r) = z.strip_prefix("UTC").or_else(|| z.strip_prefix("utc")) {
        r
    } else {
        z
    };
    let bad = || format!("`{z}` is not a zone (UTC, +HH:MM or -HH:MM)");
    let (sign, hm) = match rest.as_bytes().first() {
        Some(b'+') => (1, &rest[1..]),
        Some(b'-') => (-1, &rest[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = hm.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 || h.to_string().len() > 2 {
        return Err(bad());
    }
    Ok(sign * (h * 60 + m))
}

/// A set of windows; empty means always open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Schedule(pub(crate) Vec<Window>);

/// When the schedule lets a change happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// No windows are configured.
    Always,
    /// Inside a window that closes this many seconds after `now`.
    Open { closes_in: i64 },
    /// Outside every window; the next opens this many seconds after `now`.
    Closed { opens_in: i64 },
}

impl Schedule {
    pub(crate) fn status(&self, now: i64) -> Status {
        if self.0.is_empty() {
            return Status::Always;
        }
        let open = self
            .0
            .iter()
            .filter_map(|w| w.open_for(now).map(|since| w.len * 60 - since))
            .max();
        match open {
            Some(closes_in) => Status::Open { closes_in },
            None => Status::Closed {
                opens_in: self.0.iter().map(|w| w.opens_in(now)).min().unwrap_or(WEEK),
            },
        }
    }

    /// `Ok` inside a window (or with none configured), else the error saying when the next opens.
    pub(crate) fn check(&self, now: i64) -> Result<Status, WindowError> {
        match self.status(now) {
            Status::Closed { opens_in } => Err(WindowError::Closed {
                windows: self.to_string(),
                next: crate::ground::clock::rfc3339(now + opens_in),
                wait: human(opens_in),
            }),
            open => Ok(open),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.0.iter().map(|w| w.text.as_str()).collect();
        f.write_str(&texts.join("; "))
    }
}

/// `4d 2h 41m`, `12m`, `30s`.
pub(crate) fn human(secs: i64) -> String {
    let (d, h, m) = (secs / DAY, secs % DAY / 3600, secs % 3600 / 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        format!("{secs}s")
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-21 was a Saturday; `at("Sat 03:00")` style helper over that week (UTC).
    fn at(day: &str, hm: &str) -> i64 {
        let sat = 1_795_219_200; // 2026-11-21T00:00:00Z, checked in `the_anchor_is_a_saturday`
        let d = i64::try_from(day_index(day).unwrap()).unwrap();
        let offset = (d - 5) * DAY;
        sat + offset + parse_time(hm, false).unwrap() * 60
    }

    fn sched(ws: &[&str]) -> Schedule {
        Schedule(ws.iter().map(|w| Window::parse(w).unwrap()).collect())
    }

    #[test]
    fn the_anchor_is_a_saturday() {
        assert_eq!(
            crate::ground::clock::rfc3339(at("sat", "00:00")),
            "2026-11-21T00:00:00Z"
        );
        assert_eq!(second_of_week(at("mon", "00:00")), 0);
        assert_eq!(second_of_week(at("sat", "00:00")), 5 * DAY);
    }

    #[test]
    fn inside_and_outside_a_simple_window() {
        let s = sched(&["Sat 02:00-04:00 UTC"]);
        assert_eq!(
            s.status(at("sat", "02:00")),
            Status::Open { closes_in: 7200 }
        );
        assert_eq!(s.status(at("sat", "03:59")), Status::Open { closes_in: 60 });
        assert_eq!(
            s.status(at("sat", "04:00")),
            Status::Closed {
                opens_in: WEEK - 7200
            }
        );
        assert_eq!(
            s.status(at("sat", "01:00")),
            Status::Closed { opens_in: 3600 }
        );
        assert_eq!(
            s.status(at("fri", "02:00")),
            Status::Closed { opens_in: DAY }
        );
    }

    #[test]
    fn a_window_across_midnight_belongs_to_the_day_it_opens() {
        let s = sched(&["Sat 23:00-01:00"]);
        assert!(matches!(
            s.status(at("sat", "23:30")),
            Status::Open { closes_in: 5400 }
        ));
        assert!(matches!(
            s.status(at("sun", "00:30")),
            Status::Open { closes_in: 1800 }
        ));
        assert!(matches!(
            s.status(at("sun", "01:00")),
            Status::Closed { .. }
        ));
        assert!(
            matches!(s.status(at("sat", "00:30")), Status::Closed { .. }),
            "not Saturday 00:30"
        );
    }

    #[test]
    fn a_window_across_the_week_boundary() {
        // Sunday 22:00 to Monday 02:00: the week (Mon 00:00) starts inside it.
        let s = sched(&["Sun 22:00-02:00"]);
        assert!(matches!(s.status(at("sun", "23:00")), Status::Open { .. }));
        assert!(matches!(
            s.status(at("mon", "01:00")),
            Status::Open { closes_in: 3600 }
        ));
        assert_eq!(
            s.status(at("mon", "02:00")),
            Status::Closed {
                opens_in: 6 * DAY + 20 * 3600
            }
        );
        let wrap = sched(&["Fri-Mon 12:00-13:00"]);
        assert!(matches!(
            wrap.status(at("mon", "12:30")),
            Status::Open { .. }
        ));
        assert!(matches!(
            wrap.status(at("sun", "12:30")),
            Status::Open { .. }
        ));
        assert_eq!(
            wrap.status(at("tue", "12:00")),
            Status::Closed { opens_in: 3 * DAY }
        );
    }

    #[test]
    fn offsets_and_several_windows() {
        // 02:00-04:00 at +02:00 is 00:00-02:00 UTC.
        let s = sched(&["Sat 02:00-04:00 +02:00"]);
        assert!(matches!(s.status(at("sat", "01:00")), Status::Open { .. }));
        assert!(matches!(
            s.status(at("sat", "03:00")),
            Status::Closed { .. }
        ));
        // -05:00: Saturday 22:00 local is Sunday 03:00 UTC.
        let west = sched(&["Sat 22:00-23:00 UTC-05:00"]);
        assert!(matches!(
            west.status(at("sun", "03:30")),
            Status::Open { .. }
        ));
        let many = sched(&[
            "Tue,Thu 01:00-02:00",
            "daily 12:00-12:30",
            "Wed 00:00-24:00",
        ]);
        assert!(matches!(
            many.status(at("thu", "01:30")),
            Status::Open { .. }
        ));
        assert!(matches!(
            many.status(at("mon", "12:10")),
            Status::Open { .. }
        ));
        assert!(matches!(
            many.status(at("wed", "23:59")),
            Status::Open { closes_in: 60 }
        ));
        assert_eq!(
            many.status(at("mon", "13:00")),
            Status::Closed {
                opens_in: 12 * 3600
            }
        );
        assert_eq!(Schedule::default().status(0), Status::Always);
    }

    #[test]
    fn the_closed_error_says_when() {
        let s = sched(&["Sat 02:00-04:00 UTC"]);
        let e = s.check(at("sat", "01:00") - 1800).unwrap_err().to_string();
        assert!(
            e.contains("2026-11-21T02:00:00Z") && e.contains("in 1h 30m"),
            "{e}"
        );
    }

    #[test]
    fn bad_windows_say_why() {
        for (bad, why) in [
            ("", "empty"),
            ("Sat", "missing"),
            ("Sat 2-4", "not a time"),
            ("Sat 25:00-26:00", "not a time"),
            ("Someday 01:00-02:00", "not a day"),
            ("Sat 01:00-01:00", "same time"),
            ("Sat 01:00-02:00 CEST", "not a zone"),
            ("Sat 01:00-02:00 UTC extra", "unexpected"),
            ("Sat 24:00-02:00", "not a time"),
        ] {
            let e = Window::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(Window::parse("saturday 00:00-24:00 z").is_ok());
        assert!(Window::parse("mon-fri 22:00-02:00 utc+01:00").is_ok());
    }
}
