//! The words that name each product of a knowledge base, learnt from the base itself, so that a
//! question naming a product can also be read without it ("空气净化器保修多久" → "保修多久").
//!
//! Why: a product word is shared by every entry about that product, so lexically and
//! semantically it pulls a generic question ("保修多久", "怎么退货", "能开发票吗") towards
//! whatever entry of that product is nearest: the purifier's filter entry for the purifier's
//! warranty question. Read without the product word, the question finds the generic entry.
//!
//! A word names a product when it occurs in the phrasings of at least half (and at least two)
//! of the entries scoped to that product alone, in none scoped to another product, and in few
//! unscoped ones (at most half as many). Candidates are runs of two to five Chinese
//! characters and English words (a plural `s` dropped); a word inside a longer product word
//! that covers as many entries is dropped. Learnt per language, because a language's entries
//! are counted apart.

use crate::model::{FaqEntry, Label, Lang};
use lingxi_nlu::language::is_han;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Longest Chinese candidate (characters).
const MAX_HAN: usize = 5;

/// Product words by product, and the query-side reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductWords {
    /// (word, product), longest word first. Chinese words match as substrings, English ones as
    /// whole words.
    words: Vec<(String, Label)>,
}

/// A question that names one product: the product, and the question without its name.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub product: Label,
    pub topic: String,
}

/// An English word as candidates and queries compare it: lower case, a plural `s` dropped.
fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w[..w.len() - 1].to_owned()
    } else {
        w
    }
}

/// The English word of `piece` (a space-separated piece of a question) when it is `word`.
fn english_name<'a>(piece: &'a str, word: &str) -> Option<&'a str> {
    let bare = piece.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    (!bare.is_empty() && bare.is_ascii() && stem(bare) == word).then_some(bare)
}

fn english_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| w.len() >= 3)
}

/// Every candidate of one phrasing.
fn candidates(text: &str, out: &mut BTreeSet<String>) {
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !is_han(chars[i]) {
            i += 1;
            continue;
        }
        let end = (i..chars.len()).find(|&j| !is_han(chars[j])).unwrap_or(chars.len());
        for a in i..end {
            for b in a + 2..=end.min(a + MAX_HAN) {
                out.insert(chars[a..b].iter().collect());
            }
        }
        i = end;
    }
    for w in english_words(text) {
        if w.chars().any(|c| c.is_ascii_alphabetic()) {
            out.insert(stem(w));
        }
    }
}

#[derive(Default)]
struct Counts {
    per_product: HashMap<Label, usize>,
    unscoped: usize,
}

impl ProductWords {
    /// Learns the product words of these entries.
    pub fn learn(entries: &[FaqEntry]) -> ProductWords {
        if entries.iter().all(|e| e.products().is_empty()) {
            return ProductWords::default();
        }
        let mut words: BTreeSet<(String, Label)> = BTreeSet::new();
        for lang in [Lang::Zh, Lang::En] {
            let of_lang: Vec<&FaqEntry> = entries.iter().filter(|e| e.lang() == lang).collect();
            words.extend(learn_lang(&of_lang));
        }
        let mut words: Vec<(String, Label)> = words.into_iter().collect();
        words.sort_by(|a, b| b.0.chars().count().cmp(&a.0.chars().count()).then_with(|| a.cmp(b)));
        ProductWords { words }
    }

    /// The learnt words of a product.
    pub fn words_of<'a>(&'a self, product: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.words.iter().filter(move |(_, p)| p.as_str() == product).map(|(w, _)| w.as_str())
    }

    /// The product a (normalised) question names and the question without its product words;
    /// `None` when it names none, several products, or nothing but the product.
    pub fn named(&self, text: &str) -> Option<Named> {
        if self.words.is_empty() {
            return None;
        }
        let mut topic = text.to_lowercase();
        let mut product: Option<&Label> = None;
        for (word, label) in &self.words {
            // On every message's path: the text is rebuilt only for a word it contains.
            let found = if word.chars().any(is_han) {
                let found = topic.contains(word.as_str());
                if found {
                    topic = topic.replace(word.as_str(), " ");
                }
                found
            } else {
                let names = |piece| english_name(piece, word);
                let found = topic.split(' ').any(|piece| names(piece).is_some());
                if found {
                    let kept: Vec<String> = topic
                        .split(' ')
                        .map(|piece| names(piece).map_or_else(|| piece.to_owned(), |bare| piece.replace(bare, "")))
                        .collect();
                    topic = kept.join(" ");
                }
                found
            };
            if found {
                match product {
                    Some(p) if p != label => return None,
                    _ => product = Some(label),
                }
            }
        }
        let product = product?.clone();
        let topic = topic.split_whitespace().collect::<Vec<_>>().join(" ");
        let content = topic.chars().filter(|c| c.is_alphanumeric()).count();
        (content >= 2).then_some(Named { product, topic })
    }
}

fn learn_lang(entries: &[&FaqEntry]) -> Vec<(String, Label)> {
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut sizes: HashMap<Label, usize> = HashMap::new();
    for e in entries {
        let mut seen = BTreeSet::new();
        for q in e.phrasings() {
            candidates(q.as_str(), &mut seen);
        }
        match e.products() {
            [] => seen.into_iter().for_each(|w| counts.entry(w).or_default().unscoped += 1),
            [p] => {
                *sizes.entry(p.clone()).or_default() += 1;
                for w in seen {
                    *counts.entry(w).or_default().per_product.entry(p.clone()).or_default() += 1;
                }
            }
            // An entry about several products says nothing about which words name which.
            _ => {}
        }
    }
    let mut kept: Vec<(String, Label, usize)> = Vec::new();
    for (word, c) in &counts {
        let [(label, &n)] = c.per_product.iter().collect::<Vec<_>>()[..] else { continue };
        let size = sizes.get(label).copied().unwrap_or(0);
        if n >= 2 && 2 * n >= size && 2 * c.unscoped <= n {
            kept.push((word.clone(), label.clone(), n));
        }
    }
    kept.iter()
        .filter(|(w, l, n)| !kept.iter().any(|(w2, l2, n2)| l2 == l && w2 != w && w2.contains(w.as_str()) && n2 >= n))
        .map(|(w, l, _)| (w.clone(), l.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Answer, EntryId, FaqParts, Question, Status, Validity};

    fn entry(id: &str, lang: Lang, products: &[&str], phrasings: &[&str]) -> FaqEntry {
        FaqEntry::new(FaqParts {
            id: EntryId::parse(id).unwrap(),
            lang,
            question: Question::parse(phrasings[0]).unwrap(),
            similar: phrasings[1..].iter().map(|p| Question::parse(p).unwrap()).collect(),
            answer: Answer::parse("答", vec![]).unwrap(),
            variants: vec![],
            tags: vec![],
            products: products.iter().map(|p| Label::parse(p).unwrap()).collect(),
            channels: vec![],
            validity: Validity::ALWAYS,
            status: Status::Published,
            version: 1,
        })
        .unwrap()
    }

    fn base() -> Vec<FaqEntry> {
        vec![
            entry("air-smell", Lang::Zh, &["air_purifier"], &["净化器有异味", "空气净化器出风有味道"]),
            entry("air-filter", Lang::Zh, &["air_purifier"], &["净化器滤芯多久换一次", "空气净化器滤网多久换"]),
            entry("air-red", Lang::Zh, &["air_purifier"], &["净化器一直显示红灯"]),
            entry("vac-charge", Lang::Zh, &["robot_vacuum"], &["扫地机不充电", "扫地机器人电充不进去"]),
            entry("vac-noise", Lang::Zh, &["robot_vacuum"], &["扫地机声音很大", "滤网堵了"]),
            entry("warranty", Lang::Zh, &[], &["保修多久", "整机保修几年"]),
            entry("return", Lang::Zh, &[], &["怎么申请退货", "不想要了能退吗"]),
            entry("en-air-smell", Lang::En, &["air_purifier"], &["My air purifier smells"]),
            entry("en-air-filter", Lang::En, &["air_purifier"], &["How often should I replace the purifier filter?"]),
            entry("en-warranty", Lang::En, &[], &["How long is the warranty?", "warranty on my purifier"]),
            entry("en-vac", Lang::En, &["robot_vacuum"], &["The vacuum is loud", "vacuums that do not charge"]),
            entry("en-vac-2", Lang::En, &["robot_vacuum"], &["Where can I buy vacuum brushes?"]),
        ]
    }

    #[test]
    fn learns_the_words_every_entry_of_a_product_shares() {
        let w = ProductWords::learn(&base());
        let air: BTreeSet<&str> = w.words_of("air_purifier").collect();
        // 空气净化器 covers two of three entries (at least half), 净化器 all three; 滤网 is
        // shared with a vacuum entry, 化器 lies inside 净化器 with the same cover.
        assert!(air.contains("净化器") && air.contains("空气净化器"), "{air:?}");
        assert!(!air.contains("滤网") && !air.contains("化器") && !air.contains("滤芯"), "{air:?}");
        let vac: BTreeSet<&str> = w.words_of("robot_vacuum").collect();
        assert!(vac.contains("扫地机") && vac.contains("vacuum"), "{vac:?}");
        // "purifier" phrases both English purifier entries and one unscoped entry (at most half
        // as many); "warranty" phrases no purifier entry, "air" only one of two.
        assert!(air.contains("purifier") && !air.contains("air"), "{air:?}");
    }

    #[test]
    fn reads_a_question_without_the_product_it_names() {
        let w = ProductWords::learn(&base());
        let n = w.named("空气净化器保修多久").unwrap();
        assert_eq!((n.product.as_str(), n.topic.as_str()), ("air_purifier", "保修多久"));
        let n = w.named("how long is the warranty on the vacuums?").unwrap();
        assert_eq!((n.product.as_str(), n.topic.as_str()), ("robot_vacuum", "how long is the warranty on the ?"));
        // No product, two products, or the product alone: nothing to read apart.
        assert_eq!(w.named("保修多久"), None);
        assert_eq!(w.named("净化器和扫地机哪个好"), None);
        assert_eq!(w.named("净化器"), None);
        assert_eq!(w.named("vacuum?"), None);
        assert_eq!(ProductWords::default().named("净化器保修多久"), None);
    }
}

#[cfg(test)]
mod demo_tests {
    use super::*;

    /// The shipped demo base: its products' everyday names are learnt, and no generic word is.
    #[test]
    fn the_demo_base_names_its_products() {
        let entries = crate::demo::demo_entries().entries;
        let w = ProductWords::learn(&entries);
        let of = |p: &'static str| w.words_of(p).collect::<BTreeSet<&str>>();
        for (product, words) in [
            ("air_purifier", &["净化器", "空气净化器", "purifier"][..]),
            ("robot_vacuum", &["扫地机", "扫地机器人", "vacuum"]),
            ("smart_camera", &["摄像头", "监控", "camera"]),
            ("earbuds", &["耳机", "earbud"]),
            ("smart_lock", &["门锁", "智能锁", "lock"]),
        ] {
            let learnt = of(product);
            assert!(words.iter().all(|w| learnt.contains(w)), "{product}: {learnt:?}");
        }
        let generic = ["保修", "怎么", "充电", "退货", "wifi", "battery", "filter", "how"];
        assert!(w.words.iter().all(|(word, _)| !generic.contains(&word.as_str())), "{:?}", w.words);
    }
}
