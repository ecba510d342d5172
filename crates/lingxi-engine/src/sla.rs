//! SLA timers: per-priority targets for first response, next response and resolution, and a
//! pure check that turns a conversation's timestamps into warning and breach events, once each.
//!
//! The check keeps no state of its own: the caller stores the small [`SlaMarks`] value next to
//! the conversation and passes it back in, which is how "once each" survives restarts and
//! works across nodes. [`next_due_ms`] tells the caller when to check again instead of polling.

use std::collections::BTreeMap;

/// When to warn and when a target counts as breached, measured from the clock's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaThreshold {
    warning_ms: i64,
    breach_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("SLA durations must be non-negative with warning_ms <= breach_ms (got {warning_ms} and {breach_ms})")]
    InvalidThreshold { warning_ms: i64, breach_ms: i64 },
}

impl SlaThreshold {
    pub fn new(warning_ms: i64, breach_ms: i64) -> Result<Self, SlaError> {
        if warning_ms < 0 || warning_ms > breach_ms {
            return Err(SlaError::InvalidThreshold { warning_ms, breach_ms });
        }
        Ok(SlaThreshold { warning_ms, breach_ms })
    }

    pub fn warning_ms(self) -> i64 {
        self.warning_ms
    }

    pub fn breach_ms(self) -> i64 {
        self.breach_ms
    }
}

/// The targets that apply to one conversation; `None` means no target for that metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlaTargets {
    pub first_response: Option<SlaThreshold>,
    pub next_response: Option<SlaThreshold>,
    pub resolution: Option<SlaThreshold>,
}

/// A tenant's targets by priority level: a conversation gets the targets of the highest level
/// not above its priority (or the lowest level, if its priority is below all of them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlaPolicies {
    by_priority: BTreeMap<i32, SlaTargets>,
}

impl SlaPolicies {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, priority: i32, targets: SlaTargets) -> Self {
        self.by_priority.insert(priority, targets);
        self
    }

    pub fn for_priority(&self, priority: i32) -> SlaTargets {
        self.by_priority
            .range(..=priority)
            .next_back()
            .or_else(|| self.by_priority.iter().next())
            .map(|(_, t)| *t)
            .unwrap_or_default()
    }
}

/// The timestamps the SLA clocks run on, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConversationTimes {
    /// When the customer first asked for (or was handed to) a human: first response and
    /// resolution clocks start here.
    pub opened_at_ms: i64,
    /// The first agent reply; stops the first-response clock.
    pub first_response_at_ms: Option<i64>,
    /// The oldest customer message the agent has not replied to yet, after the first
    /// response; `None` once the agent replies. Each value starts a new next-response clock.
    pub awaiting_reply_since_ms: Option<i64>,
    /// Stops every clock.
    pub resolved_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlaMetric {
    FirstResponse,
    NextResponse,
    Resolution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlaLevel {
    Warning,
    Breach,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaEvent {
    pub metric: SlaMetric,
    pub level: SlaLevel,
    /// When the threshold was crossed (not when it was noticed).
    pub due_at_ms: i64,
}

/// Which events were already emitted; store it with the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlaMarks {
    first_response: [bool; 2],
    resolution: [bool; 2],
    /// The `awaiting_reply_since_ms` each next-response level was last emitted for.
    next_response: [Option<i64>; 2],
}

impl SlaMarks {
    pub fn is_emitted(&self, metric: SlaMetric, level: SlaLevel) -> bool {
        let l = level as usize;
        match metric {
            SlaMetric::FirstResponse => self.first_response[l],
            SlaMetric::Resolution => self.resolution[l],
            SlaMetric::NextResponse => self.next_response[l].is_some(),
        }
    }
}

/// One running or stopped clock: started at `start`, stopped at `stop` if it has.
struct Clock {
    metric: SlaMetric,
    start: i64,
    stop: Option<i64>,
    threshold: SlaThreshold,
}

impl Clock {
    fn due(&self, level: SlaLevel) -> i64 {
        let d = match level {
            SlaLevel::Warning => self.threshold.warning_ms,
            SlaLevel::Breach => self.threshold.breach_ms,
        };
        self.start.saturating_add(d)
    }

    /// Whether `level` is crossed by `now`. Stopping exactly at the due instant meets the
    /// target; a running clock crosses it at the due instant.
    fn crossed(&self, level: SlaLevel, now_ms: i64) -> bool {
        let due = self.due(level);
        now_ms >= due && self.stop.is_none_or(|s| s > due)
    }
}

fn clocks(targets: &SlaTargets, times: &ConversationTimes) -> Vec<Clock> {
    let mut out = Vec::with_capacity(3);
    let resolved = times.resolved_at_ms;
    if let Some(threshold) = targets.first_response {
        // Resolving without a reply (the customer left) also stops the clock.
        let stop = match (times.first_response_at_ms, resolved) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        out.push(Clock { metric: SlaMetric::FirstResponse, start: times.opened_at_ms, stop, threshold });
    }
    if let (Some(threshold), Some(_), Some(since)) =
        (targets.next_response, times.first_response_at_ms, times.awaiting_reply_since_ms)
    {
        out.push(Clock { metric: SlaMetric::NextResponse, start: since, stop: resolved, threshold });
    }
    if let Some(threshold) = targets.resolution {
        out.push(Clock { metric: SlaMetric::Resolution, start: times.opened_at_ms, stop: resolved, threshold });
    }
    out
}

fn already(marks: &SlaMarks, clock: &Clock, level: SlaLevel) -> bool {
    let l = level as usize;
    match clock.metric {
        SlaMetric::FirstResponse => marks.first_response[l],
        SlaMetric::Resolution => marks.resolution[l],
        SlaMetric::NextResponse => marks.next_response[l] == Some(clock.start),
    }
}

fn mark(marks: &mut SlaMarks, clock: &Clock, level: SlaLevel) {
    let l = level as usize;
    match clock.metric {
        SlaMetric::FirstResponse => marks.first_response[l] = true,
        SlaMetric::Resolution => marks.resolution[l] = true,
        SlaMetric::NextResponse => marks.next_response[l] = Some(clock.start),
    }
}

/// The warning and breach events crossed by `now_ms` that `marks` has not seen, and the marks
/// to store afterwards. Events come in order of `due_at_ms`.
pub fn check(
    targets: &SlaTargets,
    times: &ConversationTimes,
    marks: SlaMarks,
    now_ms: i64,
) -> (Vec<SlaEvent>, SlaMarks) {
    let mut marks = marks;
    let mut events = Vec::new();
    for clock in clocks(targets, times) {
        for level in [SlaLevel::Warning, SlaLevel::Breach] {
            if clock.crossed(level, now_ms) && !already(&marks, &clock, level) {
                mark(&mut marks, &clock, level);
                events.push(SlaEvent { metric: clock.metric, level, due_at_ms: clock.due(level) });
            }
        }
    }
    events.sort_by_key(|e| (e.due_at_ms, e.metric, e.level));
    (events, marks)
}

/// The earliest time at which [`check`] would emit something new, if any clock still can.
/// It may be in the past, meaning "check now".
pub fn next_due_ms(targets: &SlaTargets, times: &ConversationTimes, marks: SlaMarks) -> Option<i64> {
    clocks(targets, times)
        .iter()
        .flat_map(|clock| {
            [SlaLevel::Warning, SlaLevel::Breach]
                .into_iter()
                .filter(|&level| !already(&marks, clock, level) && clock.stop.is_none_or(|s| s > clock.due(level)))
                .map(|level| clock.due(level))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn targets() -> SlaTargets {
        SlaTargets {
            first_response: Some(SlaThreshold::new(4 * MIN, 5 * MIN).unwrap()),
            next_response: Some(SlaThreshold::new(8 * MIN, 10 * MIN).unwrap()),
            resolution: Some(SlaThreshold::new(50 * MIN, 60 * MIN).unwrap()),
        }
    }

    /// Runs `check` at each time in `checks`, threading the marks through, and renders every
    /// event as `at: metric level due` so a whole timeline reads as one expectation.
    fn check_timeline(times: ConversationTimes, checks: &[i64], expected: &[&str]) {
        let mut marks = SlaMarks::default();
        let mut got = Vec::new();
        for &now in checks {
            let (events, m) = check(&targets(), &times, marks, now);
            marks = m;
            for e in events {
                got.push(format!("{}: {:?} {:?} {}", now / MIN, e.metric, e.level, e.due_at_ms / MIN));
            }
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn first_response_warns_then_breaches_once_each() {
        check_timeline(
            ConversationTimes::default(),
            &[0, 3 * MIN, 4 * MIN, 4 * MIN, 6 * MIN, 7 * MIN],
            &["4: FirstResponse Warning 4", "6: FirstResponse Breach 5"],
        );
    }

    #[test]
    fn late_check_emits_both_in_due_order() {
        check_timeline(
            ConversationTimes::default(),
            &[61 * MIN],
            &[
                "61: FirstResponse Warning 4",
                "61: FirstResponse Breach 5",
                "61: Resolution Warning 50",
                "61: Resolution Breach 60",
            ],
        );
    }

    #[test]
    fn reply_before_warning_stops_first_response_clock() {
        let times = ConversationTimes { first_response_at_ms: Some(3 * MIN), ..Default::default() };
        check_timeline(times, &[5 * MIN, 20 * MIN], &[]);
    }

    #[test]
    fn reply_exactly_at_breach_meets_target() {
        let times = ConversationTimes { first_response_at_ms: Some(5 * MIN), ..Default::default() };
        check_timeline(times, &[6 * MIN], &["6: FirstResponse Warning 4"]);
    }

    #[test]
    fn reply_after_breach_still_reports_it_once() {
        let times = ConversationTimes { first_response_at_ms: Some(7 * MIN), ..Default::default() };
        check_timeline(times, &[8 * MIN, 9 * MIN], &["8: FirstResponse Warning 4", "8: FirstResponse Breach 5"]);
    }

    #[test]
    fn next_response_restarts_for_each_unanswered_message() {
        let mut marks = SlaMarks::default();
        let mut times = ConversationTimes {
            first_response_at_ms: Some(MIN),
            awaiting_reply_since_ms: Some(2 * MIN),
            ..Default::default()
        };
        let t = targets();
        let (e, m) = check(&t, &times, marks, 11 * MIN);
        marks = m;
        assert_eq!(e.len(), 1, "warning at 10 only: {e:?}");
        let (e, m) = check(&t, &times, marks, 12 * MIN);
        marks = m;
        assert_eq!(e[0].level, SlaLevel::Breach);
        assert!(check(&t, &times, marks, 13 * MIN).0.is_empty());
        // The agent replied; a new customer message starts a fresh clock.
        times.awaiting_reply_since_ms = Some(20 * MIN);
        assert_eq!(next_due_ms(&t, &times, marks), Some(28 * MIN));
        let (e, _) = check(&t, &times, marks, 31 * MIN);
        assert_eq!(e.iter().map(|e| e.due_at_ms / MIN).collect::<Vec<_>>(), [28, 30]);
    }

    #[test]
    fn resolution_stops_every_clock() {
        let times = ConversationTimes { resolved_at_ms: Some(2 * MIN), ..Default::default() };
        check_timeline(times, &[100 * MIN], &[]);
        assert_eq!(next_due_ms(&targets(), &times, SlaMarks::default()), None);
    }

    #[test]
    fn next_due_skips_emitted_levels() {
        let times = ConversationTimes::default();
        let t = targets();
        assert_eq!(next_due_ms(&t, &times, SlaMarks::default()), Some(4 * MIN));
        let (_, marks) = check(&t, &times, SlaMarks::default(), 4 * MIN);
        assert_eq!(next_due_ms(&t, &times, marks), Some(5 * MIN));
    }

    #[test]
    fn policies_pick_highest_level_not_above_priority() {
        let fast = SlaTargets { first_response: Some(SlaThreshold::new(MIN, 2 * MIN).unwrap()), ..Default::default() };
        let p = SlaPolicies::new().with(0, targets()).with(2, fast);
        assert_eq!(p.for_priority(0), targets());
        assert_eq!(p.for_priority(1), targets());
        assert_eq!(p.for_priority(5), fast);
        assert_eq!(p.for_priority(-3), targets());
        assert_eq!(SlaPolicies::new().for_priority(1), SlaTargets::default());
    }

    #[test]
    fn threshold_rejects_warning_after_breach() {
        assert!(SlaThreshold::new(5, 4).is_err());
        assert!(SlaThreshold::new(-1, 4).is_err());
        assert!(SlaThreshold::new(4, 4).is_ok());
    }
}
