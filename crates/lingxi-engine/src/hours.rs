//! Business hours: weekly opening spans in a fixed UTC offset, whether a moment is inside them,
//! and when they next open (what an honest "we are closed" message tells the customer).

/// Minutes in a week; spans are stored as minutes since Monday 00:00 local time.
const WEEK_MIN: i64 = 7 * 24 * 60;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("business hours `{input}`: {why} (expected e.g. `mon-fri 09:00-18:00, sat 10:00-16:00`)")]
pub struct HoursError {
    input: String,
    why: &'static str,
}

/// A week of opening spans. Parse with [`BusinessHours::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    /// `[start, end)` in minutes since Monday 00:00 local, sorted.
    spans: Vec<(i64, i64)>,
    utc_offset_min: i64,
    text: String,
}

fn day(s: &str) -> Option<i64> {
    DAYS.iter().position(|d| *d == s).map(|i| i as i64)
}

fn minute_of_day(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl BusinessHours {
    /// `spec` is comma-separated `days hh:mm-hh:mm` items, days one (`sat`) or a range
    /// (`mon-fri`); `utc_offset_min` is the tenant's zone (480 for China).
    pub fn parse(spec: &str, utc_offset_min: i64) -> Result<BusinessHours, HoursError> {
        let err = |why| HoursError { input: spec.chars().take(100).collect(), why };
        if !(-14 * 60..=14 * 60).contains(&utc_offset_min) {
            return Err(err("the UTC offset must be within ±14 hours"));
        }
        let mut spans = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (days, times) = item.split_once(' ').ok_or_else(|| err("each item needs days and times"))?;
            let (first, last) = match days.trim().to_lowercase().split_once('-') {
                Some((a, b)) => (day(a), day(b)),
                None => (day(&days.trim().to_lowercase()), day(&days.trim().to_lowercase())),
            };
            let (Some(first), Some(last)) = (first, last) else { return Err(err("unknown day (mon … sun)")) };
            let (open, close) = times.trim().split_once('-').ok_or_else(|| err("times are hh:mm-hh:mm"))?;
            let (Some(open), Some(close)) = (minute_of_day(open), minute_of_day(close)) else {
                return Err(err("times are hh:mm-hh:mm"));
            };
            if open >= close {
                return Err(err("a span must close after it opens"));
            }
            let mut d = first;
            loop {
                spans.push((d * 1440 + open, d * 1440 + close));
                if d == last {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        if spans.is_empty() {
            return Err(err("no opening spans"));
        }
        spans.sort_unstable();
        Ok(BusinessHours { spans, utc_offset_min, text: spec.trim().to_owned() })
    }

    /// The specification as written, for messages to customers.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Minutes since Monday 00:00 local for a Unix time in milliseconds (1970-01-01 was a
    /// Thursday, day 3 of a Monday-first week).
    fn week_minute(&self, now_ms: i64) -> i64 {
        let local_min = now_ms.div_euclid(60_000) + self.utc_offset_min;
        (local_min + 3 * 1440).rem_euclid(WEEK_MIN)
    }

    pub fn is_open(&self, now_ms: i64) -> bool {
        let m = self.week_minute(now_ms);
        self.spans.iter().any(|&(a, b)| a <= m && m < b)
    }

    /// The next opening at or after `now_ms` (now itself if open), in Unix milliseconds.
    pub fn next_open_ms(&self, now_ms: i64) -> i64 {
        if self.is_open(now_ms) {
            return now_ms;
        }
        let m = self.week_minute(now_ms);
        let wait_min = self.spans.iter().map(|&(a, _)| (a - m).rem_euclid(WEEK_MIN)).min().unwrap_or(0);
        // Opening is on a minute boundary: drop the seconds already elapsed in this minute.
        now_ms - now_ms.rem_euclid(60_000) + wait_min * 60_000
    }

    /// A Unix time as local `(day name, hh:mm)` in this zone, for messages.
    pub fn local(&self, at_ms: i64) -> (&'static str, String) {
        let m = self.week_minute(at_ms);
        let (d, mm) = (m / 1440, m % 1440);
        (DAYS[d as usize], format!("{:02}:{:02}", mm / 60, mm % 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 was a Monday; 00:00 at UTC+8 is 2026-11-22T16:00Z.
    const MON_0000_CST: i64 = 1_795_363_200_000;
    const H: i64 = 3_600_000;

    fn hours() -> BusinessHours {
        BusinessHours::parse("mon-fri 09:00-18:00, sat 10:00-12:00", 480).unwrap()
    }

    #[test]
    fn open_inside_spans_only() {
        let h = hours();
        assert_eq!(h.local(MON_0000_CST), ("mon", "00:00".into()));
        assert!(!h.is_open(MON_0000_CST + 8 * H + 59 * 60_000));
        assert!(h.is_open(MON_0000_CST + 9 * H));
        assert!(h.is_open(MON_0000_CST + 4 * 24 * H + 17 * H + 59 * 60_000), "friday 17:59");
        assert!(!h.is_open(MON_0000_CST + 4 * 24 * H + 18 * H), "friday 18:00 is closed");
        assert!(h.is_open(MON_0000_CST + 5 * 24 * H + 11 * H), "saturday 11:00");
        assert!(!h.is_open(MON_0000_CST + 6 * 24 * H + 11 * H), "sunday");
    }

    #[test]
    fn next_opening_wraps_the_week() {
        let h = hours();
        let sat_13 = MON_0000_CST + 5 * 24 * H + 13 * H + 30_000;
        assert_eq!(h.next_open_ms(sat_13), MON_0000_CST + 7 * 24 * H + 9 * H);
        assert_eq!(h.local(h.next_open_ms(sat_13)), ("mon", "09:00".into()));
        let tue_10 = MON_0000_CST + 24 * H + 10 * H;
        assert_eq!(h.next_open_ms(tue_10), tue_10);
        let tue_7 = MON_0000_CST + 24 * H + 7 * H;
        assert_eq!(h.next_open_ms(tue_7), tue_7 + 2 * H);
    }

    #[test]
    fn wrapping_day_ranges_and_bad_specs() {
        let h = BusinessHours::parse("sat-mon 00:00-24:00", 0).unwrap();
        assert!(h.is_open(MON_0000_CST + 8 * H + 6 * 24 * H), "sunday (UTC) is open");
        for bad in ["", "mon", "mon 9-18", "xyz 09:00-18:00", "mon 18:00-09:00", "mon 09:00-25:00"] {
            assert!(BusinessHours::parse(bad, 480).is_err(), "{bad}");
        }
        assert!(BusinessHours::parse("mon 09:00-18:00", 15 * 60).is_err());
    }
}
