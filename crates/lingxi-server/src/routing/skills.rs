//! Skill names as agents and rules spell them: `kind:value` with kind one of `lang`,
//! `product`, `channel` or `level` (e.g. `lang:en`, `product:billing`, `channel:email`,
//! `level:2`). Parsed here at the edge; the router only sees interned bits.

/// A parsed skill name, lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkillName(String);

impl SkillName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub const SKILL_KINDS: [&str; 4] = ["lang", "product", "channel", "level"];
pub const MAX_SKILLS_PER_AGENT: usize = 32;

pub fn parse_skill(raw: &str) -> Result<SkillName, String> {
    let s = raw.trim().to_lowercase();
    let (kind, value) = s.split_once(':').ok_or_else(|| format!("skill `{}` is not kind:value", clip(raw)))?;
    if !SKILL_KINDS.contains(&kind) {
        return Err(format!("skill `{}`: the kind must be one of {}", clip(raw), SKILL_KINDS.join(", ")));
    }
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.');
    if value.is_empty() || value.len() > 40 || !value.chars().all(ok) {
        return Err(format!("skill `{}`: the value is 1 to 40 of a-z 0-9 _ - .", clip(raw)));
    }
    Ok(SkillName(s))
}

/// Parses a whole list, dropping duplicates and keeping the first-seen order.
pub fn parse_skills(raw: &[String]) -> Result<Vec<SkillName>, String> {
    if raw.len() > MAX_SKILLS_PER_AGENT {
        return Err(format!("at most {MAX_SKILLS_PER_AGENT} skills"));
    }
    let mut out: Vec<SkillName> = Vec::with_capacity(raw.len());
    for r in raw {
        let s = parse_skill(r)?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skills_parse_or_say_why() {
        assert_eq!(parse_skill(" Lang:EN ").unwrap().as_str(), "lang:en");
        assert_eq!(parse_skill("level:2").unwrap().as_str(), "level:2");
        for bad in ["lang", "color:red", "lang:", "lang:e n", "product:账单"] {
            assert!(parse_skill(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("level:{i}")).collect();
        assert!(parse_skills(&many).is_err());
        assert_eq!(parse_skills(&["lang:zh".into(), "LANG:zh".into()]).unwrap().len(), 1);
    }
}
