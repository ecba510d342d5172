//! Dates and times, absolute and relative, in Chinese and English, resolved against a given `now`.
//!
//! Conventions (documented because they are choices): weeks start on Monday; a bare weekday
//! (`周五`, `friday`) is the one of the current week, `上`/`last` the week before, `下`/`next` the week
//! after; a month-day without a year is in the current year; `5号` is the 5th of the current month.
//! A date followed (or preceded) by a time becomes one entity; a time alone is today.

use std::ops::Range;
use std::sync::OnceLock;

use regex::{Captures, Regex};

/// The current instant and the customer's UTC offset: the reference for relative expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Seconds since the Unix epoch.
    pub unix_secs: i64,
    /// Offset of local time from UTC in seconds (`28_800` for China).
    pub utc_offset_secs: i32,
}

impl Now {
    /// `unix_secs` seen from UTC+8 (China Standard Time).
    pub fn china(unix_secs: i64) -> Self {
        Now { unix_secs, utc_offset_secs: 8 * 3600 }
    }
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
}

/// A resolved date, with a time of day when one was said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeValue {
    /// Local calendar date.
    pub date: Date,
    /// Local time of day (hour, minute), if said.
    pub time: Option<(u8, u8)>,
    /// The instant: local midnight of `date` when no time was said.
    pub unix_secs: i64,
}

impl Date {
    /// The date if it exists (e.g. not 2026-02-29).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        valid_date(year, month, day).then_some(Date { year, month, day })
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// The date a day count after 1970-01-01 (negative counts are before it).
    pub fn from_days_since_epoch(days: i64) -> Date {
        civil_from_days(days)
    }

    /// Number of days of `month` (1–12) in `year`; 0 for another month number.
    pub fn month_len(year: i32, month: u8) -> u8 {
        days_in_month(year, month)
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    Date { year, month, day }
}

pub(crate) fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

pub(crate) fn valid_date(year: i32, month: u8, day: u8) -> bool {
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

struct Clock {
    offset: i64,
    today: i64,
    secs_of_day: i64,
}

impl Clock {
    fn new(now: Now) -> Self {
        let offset = i64::from(now.utc_offset_secs);
        let local = now.unix_secs.saturating_add(offset);
        Clock { offset, today: local.div_euclid(86_400), secs_of_day: local.rem_euclid(86_400) }
    }

    fn value(&self, days: i64, time: Option<(u8, u8)>) -> DateTimeValue {
        let secs = time.map_or(0, |(h, m)| i64::from(h) * 3600 + i64::from(m) * 60);
        DateTimeValue { date: civil_from_days(days), time, unix_secs: days * 86_400 + secs - self.offset }
    }

    fn at_local_secs(&self, local: i64) -> DateTimeValue {
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        self.value(days, Some(((secs / 3600) as u8, ((secs % 3600) / 60) as u8)))
    }

    fn weekday_today(&self) -> i64 {
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        (self.today + 3).rem_euclid(7)
    }
}

fn add_months(date: Date, months: i64) -> Option<Date> {
    let total = i64::from(date.year) * 12 + i64::from(date.month) - 1 + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = (total.rem_euclid(12) + 1) as u8;
    let day = date.day.min(days_in_month(year, month));
    Some(Date { year, month, day })
}

/// A date mention (possibly with its own time, for "3小时后").
struct DatePart {
    span: Range<usize>,
    value: DateTimeValue,
    /// An evening word (今晚, tonight): a following bare hour is p.m.
    evening: bool,
}

struct TimePart {
    span: Range<usize>,
    hour: u8,
    minute: u8,
}

const MONTHS: &str = "january|jan|february|feb|march|mar|april|apr|may|june|jun|july|jul|august|aug|september|sept|sep|october|oct|november|nov|december|dec";
const WEEKDAYS: &str = "monday|tuesday|wednesday|thursday|friday|saturday|sunday";

struct Patterns {
    date: Regex,
    time: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let date = format!(
            r"(?ix)
            (?P<iso>(?P<iy>\d{{4}})[-/.年](?P<im>\d{{1,2}})[-/.月](?P<id>\d{{1,2}})[日号]?)
            |(?P<md>(?:(?P<y>\d{{4}})年)?(?P<m>\d{{1,2}})月(?P<d>\d{{1,2}})[日号]?)
            |(?P<rel>大前天|前天|昨天|昨日|昨晚|今天|今日|今晚|明天|明日|明晚|大后天|后天)
            |(?P<wk>(?P<wkmod>上上|下下|上|下|这|本)?个?(?:周|星期|礼拜)(?P<wkd>[一二三四五六日天1-7]))
            |(?P<ago>(?P<n>\d{{1,3}})(?P<unit>天|周|个星期|个礼拜|个月|年)(?P<dir>以前|以后|之前|之后|前|后))
            |(?P<hago>(?P<hn>\d{{1,3}})个?(?P<hunit>小时|分钟)(?P<hdir>以前|以后|之前|之后|前|后))
            |(?P<dd>(?P<ddd>\d{{1,2}})[号日])
            |(?P<enrel>the\s+day\s+after\s+tomorrow|the\s+day\s+before\s+yesterday|day\s+after\s+tomorrow|day\s+before\s+yesterday|today|tonight|tomorrow|yesterday)
            |(?P<enwk>(?:(?P<enwkmod>next|last|this)\s+)?(?P<enwkd>{WEEKDAYS}))
            |(?P<enin>in\s+(?P<enn>\d{{1,3}}|a|an|one|two|three)\s+(?P<enunit>days?|weeks?|months?|hours?|minutes?|mins?))
            |(?P<enago>(?P<enan>\d{{1,3}}|a|an|one|two|three)\s+(?P<enaunit>days?|weeks?|months?|hours?|minutes?|mins?)\s+ago)
            |(?P<enmd>(?P<enmon>{MONTHS})\.?\s+(?P<enday>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<enyear>\d{{4}}))?)
            |(?P<endm>(?P<enday2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<enmon2>{MONTHS})(?:,?\s+(?P<enyear2>\d{{4}}))?)
            "
        );
        let time = r"(?ix)
            (?P<zh>(?P<zp>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|半夜)?(?P<zhh>\d{1,2})(?:点钟|点|时)(?:(?P<half>半)|(?P<quarter>一刻|1刻)|(?P<zhm>\d{1,2})分?)?)
            |(?P<hm>(?P<hmp>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上)?(?P<hmh>\d{1,2}):(?P<hmm>\d{2})(?:\s*(?P<hmampm>am|pm|a\.m\.|p\.m\.))?)
            |(?P<en>(?P<enh>\d{1,2})(?::(?P<enm>\d{2}))?\s*(?P<enampm>am|pm|a\.m\.|p\.m\.))
            |(?P<noon>noon|midnight)
            ";
        Patterns {
            date: Regex::new(&date).expect("date pattern compiles"),
            time: Regex::new(time).expect("time pattern compiles"),
        }
    })
}

fn num(caps: &Captures<'_>, name: &str) -> Option<i64> {
    let s = caps.name(name)?.as_str();
    match s {
        "a" | "an" | "one" => Some(1),
        "two" => Some(2),
        "three" => Some(3),
        _ => s.parse().ok(),
    }
}

fn month_number(name: &str) -> Option<u8> {
    let key = name.get(..3)?;
    let idx = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        .iter()
        .position(|m| *m == key)?;
    Some(idx as u8 + 1)
}

fn weekday_index(s: &str) -> Option<i64> {
    Some(match s {
        "一" | "1" | "monday" => 0,
        "二" | "2" | "tuesday" => 1,
        "三" | "3" | "wednesday" => 2,
        "四" | "4" | "thursday" => 3,
        "五" | "5" | "friday" => 4,
        "六" | "6" | "saturday" => 5,
        "日" | "天" | "7" | "sunday" => 6,
        _ => return None,
    })
}

/// The ASCII character just before `start` or after `end` must not glue the match to a number or word.
fn bounded(text: &str, span: &Range<usize>) -> bool {
    let before = text[..span.start].chars().next_back();
    let after = text[span.end..].chars().next();
    let first = text[span.clone()].chars().next();
    let last = text[span.clone()].chars().next_back();
    let glued = |inner: Option<char>, outer: Option<char>| match (inner, outer) {
        (Some(i), Some(o)) => {
            (i.is_ascii_digit() && (o.is_ascii_digit() || o == '.' || o == '-'))
                || (i.is_ascii_alphabetic() && o.is_ascii_alphanumeric())
        }
        _ => false,
    };
    !glued(first, before) && !glued(last, after)
}

fn date_part(caps: &Captures<'_>, clock: &Clock, text: &str) -> Option<DatePart> {
    let whole = caps.get(0)?;
    let span = whole.range();
    let today = civil_from_days(clock.today);
    let on = |days: i64| clock.value(days, None);
    let ymd = |y: i32, m: i64, d: i64| -> Option<DateTimeValue> {
        let (m, d) = (u8::try_from(m).ok()?, u8::try_from(d).ok()?);
        valid_date(y, m, d).then(|| on(days_from_civil(y, m, d)))
    };
    let mut evening = false;
    let value = if caps.name("iso").is_some() {
        ymd(num(caps, "iy")? as i32, num(caps, "im")?, num(caps, "id")?)?
    } else if caps.name("md").is_some() {
        let year = num(caps, "y").map_or(today.year, |y| y as i32);
        ymd(year, num(caps, "m")?, num(caps, "d")?)?
    } else if let Some(rel) = caps.name("rel") {
        let word = rel.as_str();
        evening = word.ends_with('晚');
        let delta = match word {
            "大前天" => -3,
            "前天" => -2,
            "昨天" | "昨日" | "昨晚" => -1,
            "今天" | "今日" | "今晚" => 0,
            "明天" | "明日" | "明晚" => 1,
            "后天" => 2,
            "大后天" => 3,
            _ => return None,
        };
        on(clock.today + delta)
    } else if caps.name("wk").is_some() {
        let weekday = weekday_index(caps.name("wkd")?.as_str())?;
        let week_shift = match caps.name("wkmod").map(|m| m.as_str()) {
            Some("上上") => -2,
            Some("上") => -1,
            Some("下") => 1,
            Some("下下") => 2,
            _ => 0,
        };
        on(clock.today - clock.weekday_today() + week_shift * 7 + weekday)
    } else if caps.name("ago").is_some() {
        let n = num(caps, "n")?;
        let sign = if caps.name("dir")?.as_str().contains('前') { -1 } else { 1 };
        match caps.name("unit")?.as_str() {
            "天" => on(clock.today + sign * n),
            "周" | "个星期" | "个礼拜" => on(clock.today + sign * n * 7),
            "个月" => on(days_from_civil_date(add_months(today, sign * n)?)),
            _ => on(days_from_civil_date(add_months(today, sign * n * 12)?)),
        }
    } else if caps.name("hago").is_some() {
        let n = num(caps, "hn")?;
        let sign = if caps.name("hdir")?.as_str().contains('前') { -1 } else { 1 };
        let unit = if caps.name("hunit")?.as_str() == "小时" { 3600 } else { 60 };
        clock.at_local_secs(clock.today * 86_400 + clock.secs_of_day + sign * n * unit)
    } else if caps.name("dd").is_some() {
        // "5号楼", "3号线" are places, not dates.
        let after = text[span.end..].chars().next();
        if after.is_some_and(|c| "楼线门床店仓窗柜箱机位座".contains(c)) {
            return None;
        }
        ymd(today.year, i64::from(today.month), num(caps, "ddd")?)?
    } else if let Some(rel) = caps.name("enrel") {
        let word = rel.as_str().to_ascii_lowercase();
        evening = word == "tonight";
        let delta = if word.ends_with("after tomorrow") {
            2
        } else if word.ends_with("before yesterday") {
            -2
        } else {
            match word.as_str() {
                "yesterday" => -1,
                "tomorrow" => 1,
                _ => 0,
            }
        };
        on(clock.today + delta)
    } else if caps.name("enwk").is_some() {
        let weekday = weekday_index(&caps.name("enwkd")?.as_str().to_ascii_lowercase())?;
        let week_shift = match caps.name("enwkmod").map(|m| m.as_str().to_ascii_lowercase()) {
            Some(m) if m == "next" => 1,
            Some(m) if m == "last" => -1,
            _ => 0,
        };
        on(clock.today - clock.weekday_today() + week_shift * 7 + weekday)
    } else if caps.name("enin").is_some() || caps.name("enago").is_some() {
        let (n, unit, sign) = if caps.name("enin").is_some() {
            (num(caps, "enn")?, caps.name("enunit")?.as_str(), 1)
        } else {
            (num(caps, "enan")?, caps.name("enaunit")?.as_str(), -1)
        };
        let unit = unit.to_ascii_lowercase();
        if unit.starts_with("day") {
            on(clock.today + sign * n)
        } else if unit.starts_with("week") {
            on(clock.today + sign * n * 7)
        } else if unit.starts_with("month") {
            on(days_from_civil_date(add_months(today, sign * n)?))
        } else {
            let secs = if unit.starts_with("hour") { 3600 } else { 60 };
            clock.at_local_secs(clock.today * 86_400 + clock.secs_of_day + sign * n * secs)
        }
    } else if caps.name("enmd").is_some() || caps.name("endm").is_some() {
        let (mon, day, year) = if caps.name("enmd").is_some() {
            (caps.name("enmon")?, num(caps, "enday")?, num(caps, "enyear"))
        } else {
            (caps.name("enmon2")?, num(caps, "enday2")?, num(caps, "enyear2"))
        };
        let month = month_number(&mon.as_str().to_ascii_lowercase())?;
        let year = year.map_or(today.year, |y| y as i32);
        ymd(year, i64::from(month), day)?
    } else {
        return None;
    };
    Some(DatePart { span, value, evening })
}

fn days_from_civil_date(date: Date) -> i64 {
    days_from_civil(date.year, date.month, date.day)
}

fn time_part(caps: &Captures<'_>) -> Option<TimePart> {
    let span = caps.get(0)?.range();
    let (mut hour, minute, period, ampm) = if caps.name("zh").is_some() {
        let minute = if caps.name("half").is_some() {
            30
        } else if caps.name("quarter").is_some() {
            15
        } else {
            num(caps, "zhm").unwrap_or(0)
        };
        (num(caps, "zhh")?, minute, caps.name("zp"), None)
    } else if caps.name("hm").is_some() {
        (num(caps, "hmh")?, num(caps, "hmm")?, caps.name("hmp"), caps.name("hmampm"))
    } else if caps.name("en").is_some() {
        (num(caps, "enh")?, num(caps, "enm").unwrap_or(0), None, caps.name("enampm"))
    } else {
        let word = caps.name("noon")?.as_str().to_ascii_lowercase();
        let hour = if word == "noon" { 12 } else { 0 };
        return Some(TimePart { span, hour, minute: 0 });
    };
    if !(0..=24).contains(&hour) || !(0..60).contains(&minute) {
        return None;
    }
    if let Some(period) = period {
        match period.as_str() {
            "下午" | "傍晚" | "晚上" | "夜里" if hour < 12 => hour += 12,
            "中午" if hour < 6 => hour += 12,
            "半夜" | "凌晨" if hour == 12 => hour = 0,
            _ => {}
        }
    }
    if let Some(ampm) = ampm {
        let pm = ampm.as_str().to_ascii_lowercase().starts_with('p');
        if hour > 12 || hour == 0 {
            return None;
        }
        hour = match (pm, hour) {
            (true, 12) => 12,
            (true, h) => h + 12,
            (false, 12) => 0,
            (false, h) => h,
        };
    }
    if hour == 24 {
        hour = 0;
    }
    Some(TimePart { span, hour: hour as u8, minute: minute as u8 })
}

/// Only these may stand between a date and its time ("明天 下午3点", "tomorrow at 3pm").
fn joins(gap: &str) -> bool {
    let gap = gap.trim();
    gap.is_empty() || matches!(gap, "的" | "at" | "," | "，" | "@" | "t")
}

/// All date/time mentions of `text`, resolved against `now`.
pub(crate) fn extract(text: &str, now: Now) -> Vec<(Range<usize>, DateTimeValue)> {
    let clock = Clock::new(now);
    let patterns = patterns();
    let dates: Vec<DatePart> = patterns
        .date
        .captures_iter(text)
        .filter_map(|caps| date_part(&caps, &clock, text))
        .filter(|d| bounded(text, &d.span))
        .collect();
    let times: Vec<TimePart> = patterns
        .time
        .captures_iter(text)
        .filter_map(|caps| time_part(&caps))
        .filter(|t| bounded(text, &t.span))
        .filter(|t| !dates.iter().any(|d| d.span.start < t.span.end && t.span.start < d.span.end))
        .collect();
    let mut used_times = vec![false; times.len()];
    let mut out = Vec::new();
    for date in &dates {
        let partner = times.iter().enumerate().find(|(k, t)| {
            !used_times[*k]
                && date.value.time.is_none()
                && ((t.span.start >= date.span.end && joins(&text[date.span.end..t.span.start]))
                    || (t.span.end <= date.span.start && joins(&text[t.span.end..date.span.start])))
        });
        match partner {
            Some((k, time)) => {
                used_times[k] = true;
                let hour = if date.evening && time.hour < 12 { time.hour + 12 } else { time.hour };
                let days = days_from_civil_date(date.value.date);
                let span = date.span.start.min(time.span.start)..date.span.end.max(time.span.end);
                out.push((span, clock.value(days, Some((hour, time.minute)))));
            }
            None => out.push((date.span.clone(), date.value)),
        }
    }
    for (k, time) in times.iter().enumerate() {
        if !used_times[k] {
            out.push((time.span.clone(), clock.value(clock.today, Some((time.hour, time.minute)))));
        }
    }
    out.sort_by_key(|(span, _)| span.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000_i64, -1, 0, 1, 20_000, 20_517, 2_000_000] {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(d.year, d.month, d.day), days);
        }
        assert_eq!(civil_from_days(0), Date { year: 1970, month: 1, day: 1 });
    }
}
