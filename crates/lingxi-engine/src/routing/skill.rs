//! Skill tags as bits, so "has every required skill" is one AND and one compare.

use std::collections::HashMap;

use super::RoutingError;

/// One skill tag (a language, a product line, a channel, a level), interned to a bit index.
///
/// A tenant gets [`Skill::MAX`] distinct tags; that is plenty for languages × product lines ×
/// levels and keeps [`SkillSet`] a single `u128`, which is what makes eligibility checks cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Skill(u8);

impl Skill {
    /// How many distinct skills a router can tell apart.
    pub const MAX: usize = 128;

    /// The skill with bit index `idx`, if it is below [`Skill::MAX`].
    pub fn new(idx: u8) -> Option<Skill> {
        (usize::from(idx) < Self::MAX).then_some(Skill(idx))
    }

    pub fn index(self) -> u8 {
        self.0
    }
}

/// A set of skills (bitset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SkillSet(u128);

impl SkillSet {
    pub const EMPTY: SkillSet = SkillSet(0);

    pub fn with(self, skill: Skill) -> SkillSet {
        SkillSet(self.0 | (1u128 << skill.0))
    }

    pub fn contains(self, skill: Skill) -> bool {
        self.0 & (1u128 << skill.0) != 0
    }

    /// Whether every skill of `required` is in `self`.
    pub fn contains_all(self, required: SkillSet) -> bool {
        self.0 & required.0 == required.0
    }

    /// How many skills the two sets share (used to score preferred skills).
    pub fn n_common(self, other: SkillSet) -> u32 {
        (self.0 & other.0).count_ones()
    }

    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Skill> {
        (0..Skill::MAX as u8).filter_map(move |i| {
            let s = Skill(i);
            self.contains(s).then_some(s)
        })
    }
}

impl FromIterator<Skill> for SkillSet {
    fn from_iter<I: IntoIterator<Item = Skill>>(iter: I) -> Self {
        iter.into_iter().fold(SkillSet::EMPTY, SkillSet::with)
    }
}

/// Interns skill names ("lang:zh", "product:billing", "level:2") to [`Skill`] bits.
///
/// The caller keeps one catalog per tenant next to its router and persists the name → index
/// mapping, because the bit positions must stay stable across restarts.
#[derive(Debug, Clone, Default)]
pub struct SkillCatalog {
    by_name: HashMap<String, Skill>,
    names: Vec<String>,
}

impl SkillCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// The skill for `name`, allocating the next bit if the name is new.
    pub fn intern(&mut self, name: &str) -> Result<Skill, RoutingError> {
        if let Some(&s) = self.by_name.get(name) {
            return Ok(s);
        }
        let idx = u8::try_from(self.names.len()).map_err(|_| RoutingError::TooManySkills)?;
        let skill = Skill::new(idx).ok_or(RoutingError::TooManySkills)?;
        self.by_name.insert(name.to_owned(), skill);
        self.names.push(name.to_owned());
        Ok(skill)
    }

    pub fn get(&self, name: &str) -> Option<Skill> {
        self.by_name.get(name).copied()
    }

    pub fn name(&self, skill: Skill) -> Option<&str> {
        self.names.get(usize::from(skill.0)).map(String::as_str)
    }

    /// Interns every name and returns the set.
    pub fn set<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) -> Result<SkillSet, RoutingError> {
        names.into_iter().try_fold(SkillSet::EMPTY, |acc, n| Ok(acc.with(self.intern(n)?)))
    }
}
