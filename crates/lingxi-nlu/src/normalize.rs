//! Text normalisation: one canonical form for what customers type, before segmentation and entities.
//!
//! Steps, in order:
//! 1. fold characters: control and zero-width characters dropped, full-width forms to ASCII
//!    (`ＡＢＣ１２３！` → `abc123!`), traditional to simplified Chinese (character table
//!    `data/t2s.txt`, generated from OpenCC), lower-casing, whitespace runs collapsed to one space;
//! 2. colloquial and internet variants (`木有` → `没有`, `肿么` → `怎么`, `thx` → `thanks`) and,
//!    in Chinese text, English service words (`这个order怎么cancel` → `这个订单怎么取消`) from
//!    `data/colloquial.tsv`;
//! 3. near-miss typos of domain terms by pinyin (`退宽` → `退款`, `发漂` → `发票`), against
//!    `data/domain_terms.txt` plus per-tenant terms;
//! 4. Chinese numerals to digits where they are numbers (`三百五十块` → `350块`, `一千二` → `1200`),
//!    never inside words such as `一样`, `一起`, `一下`, `十分`, `万一`;
//! 5. repeated punctuation collapsed (`！！！` → `!`), the extra marks counted as emphasis, and
//!    emoji (Unicode and WeChat `[微笑]` codes) listed.
//!
//! Everything is table-driven and embedded at compile time; nothing panics on any input.

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use pinyin::ToPinyin;

use crate::language::{self, is_han, Language};

const T2S_DATA: &str = include_str!("../data/t2s.txt");
const COLLOQUIAL_DATA: &str = include_str!("../data/colloquial.tsv");
const DOMAIN_TERMS_DATA: &str = include_str!("../data/domain_terms.txt");

/// The normalised form of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Normalised text: all later stages (segmentation, entities, classifiers) read this.
    pub text: String,
    /// Emoji found in the text, in order (kept in `text` too): sentiment signals.
    pub emojis: Vec<String>,
    /// Number of repeated `!`/`?` marks collapsed away (`！！！` counts 2).
    pub emphasis: u32,
    /// Rewrites made by the variant table and the typo repair, in order.
    pub corrections: Vec<Correction>,
    /// Language of the normalised text.
    pub language: Language,
}

/// One rewrite made during normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// What the customer wrote (after character folding).
    pub from: String,
    /// What it became.
    pub to: String,
    /// Why.
    pub kind: CorrectionKind,
}

/// The reason for a [`Correction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrectionKind {
    /// A colloquial or internet variant from the variant table.
    Variant,
    /// A near-miss of a domain term with the same pinyin.
    Typo,
}

/// Normalises customer text. Build one per tenant (it holds the tenant's extra terms) and share it.
#[derive(Debug, Clone)]
pub struct Normalizer {
    terms: TermIndex,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new(std::iter::empty::<&str>())
    }
}

impl Normalizer {
    /// A normaliser knowing the built-in after-sales vocabulary plus `extra_terms` (product and brand
    /// names of one tenant) for typo repair. Terms that are not at least two Han characters are ignored
    /// for typo repair.
    pub fn new<I, S>(extra_terms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut terms: Vec<String> = data_lines(DOMAIN_TERMS_DATA).map(str::to_owned).collect();
        for term in extra_terms {
            let folded = fold_chars(term.as_ref());
            if !folded.is_empty() && !terms.contains(&folded) {
                terms.push(folded);
            }
        }
        Normalizer { terms: TermIndex::new(terms) }
    }

    /// Normalises one message. Never panics; linear in the input length.
    pub fn normalize(&self, raw: &str) -> Normalized {
        let mut corrections = Vec::new();
        let folded = fold_chars(raw);
        let varied = replace_variants(&folded, &mut corrections);
        let repaired = self.terms.repair(&varied, &mut corrections);
        let numbered = convert_numerals(&repaired);
        let (text, emphasis, emojis) = collapse_punctuation(&numbered);
        let language = language::detect(&text);
        Normalized { text, emojis, emphasis, corrections, language }
    }
}

/// Non-comment, non-empty lines of an embedded data file.
fn data_lines(data: &'static str) -> impl Iterator<Item = &'static str> {
    data.lines().map(|line| line.trim_end_matches('\r')).filter(|line| !line.is_empty() && !line.starts_with('#'))
}

// ---------------------------------------------------------------------------------------------
// Step 1: character folding.

/// Traditional → simplified pairs, sorted by the traditional character for binary search.
fn t2s_table() -> &'static [(char, char)] {
    static TABLE: OnceLock<Vec<(char, char)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut pairs: Vec<(char, char)> = data_lines(T2S_DATA)
            .filter_map(|line| {
                let mut chars = line.chars();
                Some((chars.next()?, chars.next()?))
            })
            .collect();
        pairs.sort_unstable();
        pairs.dedup_by_key(|p| p.0);
        pairs
    })
}

fn lookup_simplified(table: &[(char, char)], c: char) -> Option<char> {
    if c.is_ascii() {
        return None;
    }
    table.binary_search_by_key(&c, |&(t, _)| t).ok().map(|i| table[i].1)
}

/// Traditional to simplified for one character (identity when not traditional).
pub fn to_simplified(c: char) -> char {
    lookup_simplified(t2s_table(), c).unwrap_or(c)
}

/// Folds characters: drops controls and zero-width marks, maps full-width forms to ASCII,
/// traditional to simplified, lower-cases and collapses whitespace (trimmed at both ends).
/// Identifiers keep their case (see [`IDENTIFIER_DIGITS`]).
pub fn fold_chars(raw: &str) -> String {
    let table = t2s_table();
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.chars() {
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            0xFFE5 => '¥',
            0xFFE0 => '¢',
            0xFFE1 => '£',
            // Zero-width space, word joiner, BOM, soft hyphen: invisible, dropped.
            0x200B | 0x2060 | 0xFEFF | 0x00AD => continue,
            _ => c,
        };
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if let Some(simplified) = lookup_simplified(table, c) {
            out.push(simplified);
        } else if c.is_uppercase() && !c.is_ascii() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    lowercase_words(&mut out);
    out
}

/// An ASCII run of letters and digits (joined by `-` or `_`) with at least this many digits is an identifier (order,
/// tracking, member or model number): it keeps the case the customer wrote, because the
/// business system it is looked up in may care, and `/nlu/parse` shows it as written. Words
/// (`iPhone`, `4G`, `USB3`) are lower-cased; the classifiers fold case themselves either way.
pub const IDENTIFIER_DIGITS: usize = 6;

/// Lower-cases the ASCII letters of every run that is not an identifier (in place: ASCII case
/// changes keep every byte offset).
fn lowercase_words(text: &mut str) {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut start = None;
    let mut digits = 0;
    for (i, &b) in bytes.iter().chain(std::iter::once(&b' ')).enumerate() {
        // `-` and `_` join an identifier's parts (`LX-123456`, `JD_2026…`).
        if b.is_ascii_alphanumeric() || (start.is_some() && matches!(b, b'-' | b'_')) {
            start.get_or_insert(i);
            digits += usize::from(b.is_ascii_digit());
        } else if let Some(s) = start.take() {
            if digits < IDENTIFIER_DIGITS && bytes[s..i].iter().any(u8::is_ascii_uppercase) {
                runs.push(s..i);
            }
            digits = 0;
        }
    }
    for r in runs {
        text[r].make_ascii_lowercase();
    }
}

// ---------------------------------------------------------------------------------------------
// Step 2: colloquial variants.

struct Variant {
    standard: &'static str,
    /// Matches only as a standalone address term (`^亲`).
    standalone: bool,
    /// ASCII variant: needs non-word neighbours.
    ascii_word: bool,
    /// An English service word in Chinese text (`~order`): matches only where the text has
    /// Han characters, and may touch them ("这个order怎么cancel"), not other letters or digits.
    in_chinese: bool,
}

struct VariantTable {
    matcher: AhoCorasick,
    variants: Vec<Variant>,
}

fn variant_table() -> &'static VariantTable {
    static TABLE: OnceLock<VariantTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut patterns = Vec::new();
        let mut variants = Vec::new();
        for line in data_lines(COLLOQUIAL_DATA) {
            let (variant, standard) = line.split_once('\t').unwrap_or((line, ""));
            let (variant, standalone) = match variant.strip_prefix('^') {
                Some(rest) => (rest, true),
                None => (variant, false),
            };
            let (variant, in_chinese) = match variant.strip_prefix('~') {
                Some(rest) => (rest, true),
                None => (variant, false),
            };
            if variant.is_empty() {
                continue;
            }
            patterns.push(variant);
            variants.push(Variant {
                standard,
                standalone,
                ascii_word: variant.bytes().all(|b| b.is_ascii_alphanumeric()),
                in_chinese,
            });
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("variant table builds");
        VariantTable { matcher, variants }
    })
}

/// A neighbour that separates words: nothing, whitespace or punctuation (not a letter, digit, Han).
fn is_separator(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => !(c.is_alphanumeric() || c == '\'' || is_han(c)),
    }
}

/// A neighbour that ends an English word inside Chinese text: anything but a letter or digit
/// of the Latin alphabet (a Han character does).
fn ends_latin_word(c: Option<char>) -> bool {
    c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '\''))
}

fn replace_variants(text: &str, corrections: &mut Vec<Correction>) -> String {
    let table = variant_table();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut has_han = None;
    for m in table.matcher.find_iter(text) {
        let Some(variant) = table.variants.get(m.pattern().as_usize()) else {
            continue;
        };
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        if variant.in_chinese {
            let han = *has_han.get_or_insert_with(|| text.chars().any(is_han));
            if !(han && ends_latin_word(before) && ends_latin_word(after)) {
                continue;
            }
        } else if (variant.standalone || variant.ascii_word) && !(is_separator(before) && is_separator(after)) {
            continue;
        }
        out.push_str(&text[last..m.start()]);
        out.push_str(variant.standard);
        corrections.push(Correction {
            from: text[m.start()..m.end()].to_owned(),
            to: variant.standard.to_owned(),
            kind: CorrectionKind::Variant,
        });
        last = m.end();
    }
    out.push_str(&text[last..]);
    if out.starts_with([' ', ',', '.', '!', '?', '，', '。']) {
        // A removed leading address term ("亲，在吗") leaves its separator behind.
        out = out.trim_start_matches([' ', ',', '，']).to_owned();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Step 3: typo repair by pinyin.

/// Characters too common to be the wrong half of a typo (`只付` stays, it is not `支付`).
const FUNCTION_CHARS: &str = "的了是在不有就都也还只和与及或要会能可这那我你他她它们个么吗呢吧啊呀";

#[derive(Debug, Clone)]
struct Term {
    chars: Vec<char>,
    syllables: Vec<u64>,
}

#[derive(Debug, Clone)]
struct TermIndex {
    terms: Vec<Term>,
    by_key: HashMap<u64, Vec<usize>>,
    /// Distinct term lengths in characters, longest first.
    lengths: Vec<usize>,
}

/// Hash of the toneless pinyin of a character, with common fuzzy pairs merged
/// (zh/z, ch/c, sh/s, -ng/-n), or `None` for a character without pinyin.
fn syllable_hash(c: char) -> Option<u64> {
    let plain = c.to_pinyin()?.plain().as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < plain.len() {
        let b = plain[i];
        let skip = (i == 1 && b == b'h' && matches!(plain[0], b'z' | b'c' | b's'))
            || (i + 1 == plain.len() && b == b'g' && i > 0 && plain[i - 1] == b'n');
        if !skip {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        i += 1;
    }
    Some(hash)
}

fn window_key<'a>(syllables: impl IntoIterator<Item = &'a u64>) -> u64 {
    syllables
        .into_iter()
        .fold(0x9e37_79b9_7f4a_7c15_u64, |acc, s| (acc.rotate_left(5) ^ s).wrapping_mul(0x0100_0000_01b3))
}

impl TermIndex {
    fn new(terms: Vec<String>) -> Self {
        let mut index = TermIndex { terms: Vec::new(), by_key: HashMap::new(), lengths: Vec::new() };
        for text in terms {
            let chars: Vec<char> = text.chars().collect();
            if chars.len() < 2 || !chars.iter().all(|&c| is_han(c)) {
                continue;
            }
            let Some(syllables) = chars.iter().map(|&c| syllable_hash(c)).collect::<Option<Vec<u64>>>() else {
                continue;
            };
            let id = index.terms.len();
            index.by_key.entry(window_key(&syllables)).or_default().push(id);
            if !index.lengths.contains(&chars.len()) {
                index.lengths.push(chars.len());
            }
            index.terms.push(Term { chars, syllables });
        }
        index.lengths.sort_unstable_by(|a, b| b.cmp(a));
        index
    }

    /// The term a window of Han characters is a near miss of, if any.
    fn near_miss(&self, window: &[char], syllables: &[u64]) -> Option<&Term> {
        let candidates = self.by_key.get(&window_key(syllables))?;
        candidates.iter().filter_map(|&id| self.terms.get(id)).find(|term| {
            if term.syllables != syllables || term.chars == window {
                return false;
            }
            let differing: Vec<char> =
                window.iter().zip(&term.chars).filter(|(a, b)| a != b).map(|(a, _)| *a).collect();
            let max_differing = (window.len() / 3).max(1);
            differing.len() <= max_differing && !differing.iter().any(|c| FUNCTION_CHARS.contains(*c))
        })
    }

    fn repair(&self, text: &str, corrections: &mut Vec<Correction>) -> String {
        if self.terms.is_empty() || !text.chars().any(is_han) {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut run: Vec<char> = Vec::new();
        for c in text.chars() {
            if is_han(c) {
                run.push(c);
            } else {
                self.repair_run(&run, &mut out, corrections);
                run.clear();
                out.push(c);
            }
        }
        self.repair_run(&run, &mut out, corrections);
        out
    }

    fn repair_run(&self, run: &[char], out: &mut String, corrections: &mut Vec<Correction>) {
        if run.len() < 2 {
            out.extend(run);
            return;
        }
        let syllables: Vec<Option<u64>> = run.iter().map(|&c| syllable_hash(c)).collect();
        let mut i = 0;
        while i < run.len() {
            let mut replaced = false;
            for &len in &self.lengths {
                let end = i + len;
                if end > run.len() {
                    continue;
                }
                let window_syllables = &syllables[i..end];
                if window_syllables.iter().any(Option::is_none) {
                    continue;
                }
                let key = window_key(window_syllables.iter().flatten());
                if !self.by_key.contains_key(&key) {
                    continue;
                }
                let window_syllables: Vec<u64> = window_syllables.iter().flatten().copied().collect();
                let window = &run[i..end];
                let Some(term) = self.near_miss(window, &window_syllables) else {
                    continue;
                };
                let window_text: String = window.iter().collect();
                // A real word with the same sound (收获 for 收货) is not a typo.
                if crate::segment::is_dictionary_word(&window_text) {
                    continue;
                }
                let term_text: String = term.chars.iter().collect();
                out.push_str(&term_text);
                corrections.push(Correction { from: window_text, to: term_text, kind: CorrectionKind::Typo });
                i = end;
                replaced = true;
                break;
            }
            if !replaced {
                out.push(run[i]);
                i += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Step 4: Chinese numerals.

/// Words and idioms whose numerals are not numbers (also what the knowledge base's LLM intro
/// check lets pass: `lingxi_knowledge::numerals`).
pub const NUMERAL_IDIOMS: &[&str] = &[
    "一样",
    "一起",
    "一下",
    "一些",
    "一直",
    "一定",
    "一般",
    "一切",
    "一共",
    "一旦",
    "一向",
    "一律",
    "一会",
    "一口气",
    "一模一样",
    "一五一十",
    "三心二意",
    "七上八下",
    "乱七八糟",
    "十全十美",
    "一心一意",
    "不三不四",
    "接二连三",
    "独一无二",
    "五颜六色",
    "四面八方",
    "九牛一毛",
    "万无一失",
    "一石二鸟",
    "三番五次",
    "五花八门",
    "七嘴八舌",
    "一清二楚",
    "千方百计",
    "百分百",
    "万一",
    "统一",
    "唯一",
    "万万",
    "一一",
    "第一",
    "之一",
    "三天两头",
    "一天到晚",
    "三年五载",
    "一年到头",
    "五湖四海",
    "四海为家",
    "一言为定",
    "一路顺风",
    "一帆风顺",
    "一举两得",
    "三思",
    "九九",
    "七七八八",
    "三三两两",
    "一条龙",
    "一手",
    "一家人",
    "二手",
    "五星",
    "四星",
    "三星",
    "一体",
];

fn idiom_matcher() -> &'static AhoCorasick {
    static MATCHER: OnceLock<AhoCorasick> = OnceLock::new();
    MATCHER.get_or_init(|| {
        AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(NUMERAL_IDIOMS).expect("idiom table builds")
    })
}

fn numeral_digit(c: char) -> Option<u64> {
    Some(match c {
        '零' | '〇' => 0,
        '一' | '壹' => 1,
        '二' | '两' | '贰' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn numeral_unit(c: char) -> Option<u64> {
    Some(match c {
        '十' | '拾' => 10,
        '百' | '佰' => 100,
        '千' | '仟' => 1_000,
        '万' => 10_000,
        '亿' => 100_000_000,
        _ => return None,
    })
}

fn is_numeral(c: char) -> bool {
    numeral_digit(c).is_some() || numeral_unit(c).is_some()
}

/// Parses a numeral run with units (`三百五十`, `一千二`, `三万五`, `一百零五`).
fn parse_structured(run: &[char]) -> Option<u64> {
    let mut total: u64 = 0;
    let mut section: u64 = 0;
    let mut number: Option<u64> = None;
    let mut last_unit: u64 = 0;
    let mut last_big: u64 = 0;
    let mut zero_seen = false;
    for &c in run {
        if let Some(d) = numeral_digit(c) {
            if number.is_some() {
                return None;
            }
            if d == 0 {
                zero_seen = true;
            } else {
                number = Some(d);
            }
            continue;
        }
        let unit = numeral_unit(c)?;
        if unit < 10_000 {
            let n = match number {
                Some(n) => n,
                None if unit == 10 => 1,
                None => return None,
            };
            if last_unit != 0 && unit >= last_unit {
                return None;
            }
            section = section.checked_add(n.checked_mul(unit)?)?;
            last_unit = unit;
        } else {
            let value = section.checked_add(number.unwrap_or(0))?;
            if value == 0 || (last_big != 0 && unit >= last_big) {
                return None;
            }
            total = total.checked_add(value.checked_mul(unit)?)?;
            section = 0;
            last_unit = 0;
            last_big = unit;
        }
        number = None;
        zero_seen = false;
    }
    if let Some(n) = number {
        // 一千二 is 1200 and 三万五 is 35000: a bare digit right after a unit is one step below it.
        let value = if zero_seen {
            n
        } else if last_unit >= 100 && section > 0 {
            n * (last_unit / 10)
        } else if last_unit == 0 && last_big != 0 && section == 0 {
            n * (last_big / 10)
        } else {
            n
        };
        section = section.checked_add(value)?;
    }
    total.checked_add(section)
}

/// Measure words after which a lone numeral is a number (`三块`, `五号`, `两点`).
const UNITS: &str = "块元个件天号月日年点分秒岁斤周次单台张瓶盒箱份位折倍米毛角楼层人遍条双套包本支只部克升%";
/// The stricter list for a lone 一, which is usually "a/one" in a phrase (一个, 一次).
const UNITS_FOR_YI: &str = "块元天号月日年件单台张瓶盒箱份岁斤周倍毛角楼层折";

fn lone_numeral_is_number(c: char, prev: Option<char>, next: Option<char>, next2: Option<char>) -> bool {
    if matches!(prev, Some('周' | '期' | '拜' | '第' | '几')) || next == Some('几') {
        return false;
    }
    // 一块五 is 1块5: a digit after a money unit is the fraction.
    if matches!(prev, Some('块' | '毛')) && !next.is_some_and(is_han) {
        return true;
    }
    let Some(next) = next else {
        return false;
    };
    let two_char_unit = matches!(
        (next, next2),
        ('小', Some('时'))
            | ('分', Some('钟'))
            | ('公', Some('斤' | '里'))
            | ('星', Some('期'))
            | ('礼', Some('拜'))
            | ('个', Some('月' | '小' | '星' | '礼'))
    );
    if c == '一' {
        if next == '点' {
            return matches!(prev, Some('午' | '晚' | '上' | '早' | '晨' | '夜'));
        }
        return two_char_unit || UNITS_FOR_YI.contains(next);
    }
    if c == '十' && next == '分' {
        return next2 == Some('钟');
    }
    two_char_unit || (UNITS.contains(next) && next != '星' && next != '小')
}

/// Rewrites Chinese numerals that are numbers as ASCII digits.
pub fn convert_numerals(text: &str) -> String {
    if !text.chars().any(is_numeral) {
        return text.to_owned();
    }
    let protected: Vec<(usize, usize)> = idiom_matcher().find_iter(text).map(|m| (m.start(), m.end())).collect();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if !is_numeral(c) {
            out.push(c);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && is_numeral(chars[j].1) {
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |&(b, _)| b);
        let run: Vec<char> = chars[i..j].iter().map(|&(_, c)| c).collect();
        let prev = i.checked_sub(1).map(|k| chars[k].1);
        let next = chars.get(j).map(|&(_, c)| c);
        let next2 = chars.get(j + 1).map(|&(_, c)| c);
        let is_protected = protected.iter().any(|&(s, e)| s < end && start < e);
        let value = if is_protected { None } else { numeral_run_value(&run, prev, next, next2) };
        match value {
            Some(digits) => {
                if out.ends_with("百分之") {
                    out.truncate(out.len() - "百分之".len());
                    out.push_str(&digits);
                    out.push('%');
                } else {
                    out.push_str(&digits);
                }
            }
            None => out.push_str(&text[start..end]),
        }
        i = j;
    }
    out
}

fn numeral_run_value(run: &[char], prev: Option<char>, next: Option<char>, next2: Option<char>) -> Option<String> {
    let first = *run.first()?;
    let has_unit = run.iter().any(|&c| numeral_unit(c).is_some());
    if matches!(prev, Some('几')) || matches!(next, Some('几')) {
        return None;
    }
    if run.len() == 1 {
        return lone_numeral_is_number(first, prev, next, next2)
            .then(|| parse_structured(run).map(|n| n.to_string()))
            .flatten();
    }
    if has_unit {
        // 百/千/万 leading a run is a word (千万, 万一, 百货), not a number.
        if matches!(numeral_unit(first), Some(u) if u >= 100) {
            return None;
        }
        return parse_structured(run).map(|n| n.to_string());
    }
    // Digit strings: 二〇二六 → 2026, 一三八… → 138…; two digits (七八, 五一) stay words.
    if run.len() >= 3 && !run.contains(&'两') {
        return run.iter().map(|&c| numeral_digit(c).and_then(|d| char::from_digit(d as u32, 10))).collect();
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Step 5: punctuation runs and emoji.

/// WeChat and QQ emoticon codes (`[微笑]`), listed as emoji.
const EMOTICON_CODES: &[&str] = &[
    "微笑",
    "撇嘴",
    "色",
    "发呆",
    "得意",
    "流泪",
    "害羞",
    "闭嘴",
    "睡",
    "大哭",
    "尴尬",
    "发怒",
    "调皮",
    "呲牙",
    "惊讶",
    "难过",
    "酷",
    "冷汗",
    "抓狂",
    "吐",
    "偷笑",
    "愉快",
    "白眼",
    "傲慢",
    "困",
    "惊恐",
    "流汗",
    "憨笑",
    "奋斗",
    "咒骂",
    "疑问",
    "嘘",
    "晕",
    "衰",
    "再见",
    "擦汗",
    "鼓掌",
    "坏笑",
    "鄙视",
    "委屈",
    "快哭了",
    "阴险",
    "亲亲",
    "可怜",
    "菜刀",
    "玫瑰",
    "凋谢",
    "爱心",
    "心碎",
    "炸弹",
    "便便",
    "拥抱",
    "强",
    "弱",
    "握手",
    "胜利",
    "抱拳",
    "拳头",
    "ok",
    "捂脸",
    "奸笑",
    "机智",
    "皱眉",
    "耶",
    "吃瓜",
    "加油",
    "汗",
    "天啊",
    "旺柴",
    "好的",
    "打脸",
    "哇",
    "翻白眼",
    "666",
    "叹气",
    "苦涩",
    "裂开",
    "生气",
    "哭",
    "笑",
    "怒",
    "赞",
    "合十",
    "社会社会",
    "无语",
    "失望",
];

/// True for characters that start an emoji (pictographs, dingbats, symbols, flags).
pub fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F300..=0x1F5FF | 0x1F600..=0x1F64F | 0x1F680..=0x1F6FF | 0x1F900..=0x1F9FF
        | 0x1FA70..=0x1FAFF | 0x1F1E6..=0x1F1FF | 0x2600..=0x26FF | 0x2700..=0x27BF
        | 0x1F004 | 0x1F0CF | 0x1F170..=0x1F251 | 0x2B50 | 0x2B55 | 0x2B05..=0x2B07
        | 0x2B1B | 0x2B1C | 0x231A | 0x231B | 0x23E9..=0x23FA | 0x2934 | 0x2935 | 0x3030 | 0x303D)
}

/// Characters that continue an emoji sequence (joiner, variation selector, skin tones, keycap, tags).
fn continues_emoji(c: char) -> bool {
    matches!(c as u32, 0x200D | 0xFE0F | 0xFE0E | 0x1F3FB..=0x1F3FF | 0x20E3 | 0xE0020..=0xE007F)
}

/// Punctuation whose runs collapse to one mark.
fn collapses(c: char) -> bool {
    matches!(c, '!' | '?' | '~' | '。' | ',' | '、' | '…' | '.' | '-' | '=' | '*' | '～' | '！' | '？')
}

fn collapse_punctuation(text: &str) -> (String, u32, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut emphasis: u32 = 0;
    let mut emojis: Vec<String> = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((idx, c)) = chars.next() {
        if is_emoji(c) {
            let mut emoji = String::from(c);
            // Regional-indicator pairs are one flag.
            if (0x1F1E6..=0x1F1FF).contains(&(c as u32)) {
                if let Some(&(_, n)) = chars.peek() {
                    if (0x1F1E6..=0x1F1FF).contains(&(n as u32)) {
                        emoji.push(n);
                        chars.next();
                    }
                }
            }
            while let Some(&(_, n)) = chars.peek() {
                if continues_emoji(n) {
                    emoji.push(n);
                    chars.next();
                    if n == '\u{200D}' {
                        if let Some(&(_, joined)) = chars.peek() {
                            if is_emoji(joined) {
                                emoji.push(joined);
                                chars.next();
                            }
                        }
                    }
                } else {
                    break;
                }
            }
            out.push_str(&emoji);
            emojis.push(emoji);
            continue;
        }
        if c == '[' {
            let rest = &text[idx + 1..];
            if let Some(close) = rest.find(']').filter(|&n| n <= 12) {
                let code = &rest[..close];
                if EMOTICON_CODES.contains(&code) {
                    out.push('[');
                    out.push_str(code);
                    out.push(']');
                    emojis.push(format!("[{code}]"));
                    // Skip the code and the closing bracket.
                    while let Some(&(k, _)) = chars.peek() {
                        if k > idx + close + 1 {
                            break;
                        }
                        chars.next();
                    }
                    continue;
                }
            }
        }
        if collapses(c) {
            let mut n_repeats: u32 = 0;
            while chars.peek().is_some_and(|&(_, n)| n == c) {
                chars.next();
                n_repeats += 1;
            }
            // "..." and "。。。" are an ellipsis, not emphasis; keep one mark either way.
            if matches!(c, '!' | '?' | '！' | '？') {
                emphasis = emphasis.saturating_add(n_repeats);
            }
            // A digit run like "1.5" never repeats '.', so only real runs are affected.
            out.push(c);
            continue;
        }
        out.push(c);
    }
    (out, emphasis, emojis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_numerals() {
        let parse = |s: &str| parse_structured(&s.chars().collect::<Vec<_>>());
        assert_eq!(parse("三百五十"), Some(350));
        assert_eq!(parse("一千二"), Some(1200));
        assert_eq!(parse("两百"), Some(200));
        assert_eq!(parse("三万五"), Some(35000));
        assert_eq!(parse("一百零五"), Some(105));
        assert_eq!(parse("十五"), Some(15));
        assert_eq!(parse("二十"), Some(20));
        assert_eq!(parse("一千零二十"), Some(1020));
        assert_eq!(parse("一千万"), Some(10_000_000));
        assert_eq!(parse("一五一十"), None);
        assert_eq!(parse("十十"), None);
    }

    #[test]
    fn identifiers_keep_their_case_and_words_do_not() {
        assert_eq!(fold_chars("订单LX20261101001到哪了"), "订单LX20261101001到哪了");
        assert_eq!(fold_chars("顺丰ＳＦ１２３４５６７８９０１２"), "顺丰SF123456789012");
        assert_eq!(fold_chars("My iPhone15 and USB3 4G ORDER Ab12345"), "my iphone15 and usb3 4g order ab12345");
        assert_eq!(fold_chars("Order AB123456-x LX-123456 USB-C"), "order AB123456-x LX-123456 usb-c");
        assert_eq!(fold_chars("ÄRGER Ωmega"), "ärger ωmega");
    }
}
