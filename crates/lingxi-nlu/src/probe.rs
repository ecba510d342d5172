//! Scoring an intent model on a probe set: messages the model was never trained on, each with
//! the intent expected or `out_of_scope` (`crate::intent::OUT_OF_SCOPE`). The measure is what a
//! customer sees: in-domain accuracy counts a rejected in-domain message as wrong, and an
//! out-of-domain message is right only when the model rejects it.

use crate::intent::{DefaultLanguage, IntentResult, OUT_OF_SCOPE};

/// One probe message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeItem {
    /// Which default set it is meant for.
    pub lang: DefaultLanguage,
    /// The intent expected; `None` when the message is out of scope.
    pub expected: Option<String>,
    /// The message.
    pub text: String,
}

/// Parses `lang <TAB> intent-or-out_of_scope <TAB> text` lines (`zh` or `en`); `#` comments,
/// blank lines and malformed lines are skipped.
pub fn parse(tsv: &str) -> Vec<ProbeItem> {
    tsv.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            let lang = match parts.next()? {
                "zh" => DefaultLanguage::Chinese,
                "en" => DefaultLanguage::English,
                _ => return None,
            };
            let intent = parts.next()?.trim();
            let text = parts.next()?.trim();
            (!intent.is_empty() && !text.is_empty()).then(|| ProbeItem {
                lang,
                expected: (intent != OUT_OF_SCOPE).then(|| intent.to_owned()),
                text: text.to_owned(),
            })
        })
        .collect()
}

/// Counts and confidences over a probe set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeScore {
    /// In-domain messages.
    pub in_domain: usize,
    /// In-domain messages answered with the expected intent (not rejected).
    pub in_domain_right: usize,
    /// In-domain messages whose best guess was the expected intent (rejection ignored).
    pub in_domain_best_guess_right: usize,
    /// Out-of-domain messages.
    pub out_of_domain: usize,
    /// Out-of-domain messages the model rejected.
    pub out_of_domain_rejected: usize,
    /// Best-guess confidence of each in-domain message.
    pub in_domain_confidence: Vec<f32>,
    /// Best-guess confidence of each out-of-domain message.
    pub out_of_domain_confidence: Vec<f32>,
    /// (text, expected or `out_of_scope`, answered or `out_of_scope`) of every miss.
    pub misses: Vec<(String, String, String)>,
}

impl ProbeScore {
    /// Adds one message's result.
    pub fn add(&mut self, item: &ProbeItem, result: &IntentResult) {
        let answered = result.top.as_ref().map_or(OUT_OF_SCOPE, |m| m.intent.as_str());
        let ok = match &item.expected {
            Some(want) => {
                self.in_domain += 1;
                self.in_domain_confidence.push(result.best_guess.confidence);
                self.in_domain_best_guess_right += usize::from(result.best_guess.intent == *want);
                let ok = answered == want;
                self.in_domain_right += usize::from(ok);
                ok
            }
            None => {
                self.out_of_domain += 1;
                self.out_of_domain_confidence.push(result.best_guess.confidence);
                self.out_of_domain_rejected += usize::from(result.out_of_scope);
                result.out_of_scope
            }
        };
        if !ok {
            let want = item.expected.as_deref().unwrap_or(OUT_OF_SCOPE);
            self.misses.push((item.text.clone(), want.to_owned(), answered.to_owned()));
        }
    }

    /// Share of in-domain messages answered with the expected intent.
    pub fn in_domain_accuracy(&self) -> f64 {
        ratio(self.in_domain_right, self.in_domain)
    }

    /// Share of out-of-domain messages rejected.
    pub fn out_of_domain_rejection(&self) -> f64 {
        ratio(self.out_of_domain_rejected, self.out_of_domain)
    }

    /// One line: accuracies and the confidence quartiles (min / p25 / p50 / p75 / max) of both sides.
    pub fn summary(&self) -> String {
        format!(
            "in-domain {}/{} = {:.1} % (best guess {:.1} %), out-of-domain rejected {}/{} = {:.1} %; \
             confidence in-domain {} | out-of-domain {}",
            self.in_domain_right,
            self.in_domain,
            100.0 * self.in_domain_accuracy(),
            100.0 * ratio(self.in_domain_best_guess_right, self.in_domain),
            self.out_of_domain_rejected,
            self.out_of_domain,
            100.0 * self.out_of_domain_rejection(),
            quartiles(&self.in_domain_confidence),
            quartiles(&self.out_of_domain_confidence),
        )
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// `min/p25/p50/p75/max` of the values, two decimals.
fn quartiles(values: &[f32]) -> String {
    let mut v = values.to_vec();
    if v.is_empty() {
        return "-".into();
    }
    v.sort_by(f32::total_cmp);
    let at = |q: f32| v[((v.len() - 1) as f32 * q).round() as usize];
    format!("{:.2}/{:.2}/{:.2}/{:.2}/{:.2}", at(0.0), at(0.25), at(0.5), at(0.75), at(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::IntentMatch;

    fn result(intent: &str, confidence: f32, oos: bool) -> IntentResult {
        let m = IntentMatch { intent: intent.into(), confidence };
        IntentResult {
            top: (!oos).then(|| m.clone()),
            best_guess: m,
            alternatives: vec![],
            margin: 0.0,
            out_of_scope: oos,
            second: None,
        }
    }

    #[test]
    fn a_rejected_in_domain_message_is_wrong_and_a_rejected_out_of_domain_one_right() {
        let items = parse("# c\nzh\tinvoice\t开票\nen\tout_of_scope\ttell me a joke\nxx\ta\tb\nzh\tinvoice\n");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].expected, None);
        let mut s = ProbeScore::default();
        s.add(&items[0], &result("invoice", 0.9, false));
        s.add(&items[0], &result("invoice", 0.2, true));
        s.add(&items[1], &result("coupon", 0.94, false));
        s.add(&items[1], &result("coupon", 0.3, true));
        assert_eq!((s.in_domain_right, s.in_domain_best_guess_right, s.in_domain), (1, 2, 2));
        assert_eq!((s.out_of_domain_rejected, s.out_of_domain), (1, 2));
        assert_eq!(s.misses.len(), 2);
        assert!(s.summary().contains("in-domain 1/2 = 50.0 %"), "{}", s.summary());
    }
}
