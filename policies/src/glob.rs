//! Glob patterns for repositories (`prod/**`, `team-*/api`) and identities (`*@example.com`).

use std::fmt;

/// How `*` treats `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `*` stays inside one path component, `**` crosses `/` (repository scopes).
    Path,
    /// `*` matches anything (identities: e-mails, URIs, DNs).
    Text,
}

/// A compiled glob: `*`, `**` (paths), `?`; everything else is literal.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    flavor: Flavor,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.pattern)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// A pattern that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern {pattern:?}: {why}")]
pub struct GlobError {
    /// The pattern.
    pub pattern: String,
    /// What is wrong.
    pub why: &'static str,
}

impl Glob {
    /// A repository pattern: `prod/**`, `team-*/api`, `**`.
    pub fn path(pattern: &str) -> Result<Self, GlobError> {
        Self::new(pattern, Flavor::Path)
    }

    /// An identity pattern where `*` matches any text: `*@example.com`, `https://github.com/org/*`.
    pub fn text(pattern: &str) -> Result<Self, GlobError> {
        Self::new(pattern, Flavor::Text)
    }

    fn new(pattern: &str, flavor: Flavor) -> Result<Self, GlobError> {
        let fail = |why| GlobError {
            pattern: pattern.to_owned(),
            why,
        };
        if pattern.is_empty() {
            return Err(fail("empty"));
        }
        if pattern.len() > 1024 {
            return Err(fail("longer than 1024 characters"));
        }
        if flavor == Flavor::Path && pattern.contains("***") {
            return Err(fail("use * within a component or ** across components"));
        }
        Ok(Self {
            pattern: pattern.to_owned(),
            flavor,
        })
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// How specific the pattern is: literal characters count, wildcards do not. The most
    /// specific matching scope wins.
    pub fn specificity(&self) -> usize {
        self.pattern
            .chars()
            .filter(|c| !matches!(c, '*' | '?'))
            .count()
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        matches(self.pattern.as_bytes(), text.as_bytes(), self.flavor)
    }
}

/// Iterative matcher with backtracking over the last star; `**` (paths) is a star that may also
/// cross `/`. Linear in practice, never recursive, so hostile patterns cannot blow the stack.
fn matches(pattern: &[u8], text: &[u8], flavor: Flavor) -> bool {
    let (mut p, mut t) = (0, 0);
    // (pattern index after the star, text index it was tried at, star crosses '/')
    let mut star: Option<(usize, usize, bool)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    let double = flavor == Flavor::Path && pattern.get(p + 1) == Some(&b'*');
                    let crosses = flavor == Flavor::Text || double;
                    p += if double { 2 } else { 1 };
                    star = Some((p, t, crosses));
                    continue;
                }
                b'?' if text[t] != b'/' || flavor == Flavor::Text => {
                    p += 1;
                    t += 1;
                    continue;
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            // Let the star swallow one more character, unless it may not cross '/'.
            Some((sp, st, crosses)) if crosses || text[st] != b'/' => {
                star = Some((sp, st + 1, crosses));
                p = sp;
                t = st + 1;
            }
            _ => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_globs_keep_star_inside_a_component() {
        let g = Glob::path("team-*/api").unwrap();
        assert!(g.matches("team-a/api"));
        assert!(g.matches("team-/api"));
        assert!(!g.matches("team-a/b/api"));
        assert!(!g.matches("team-a/apis"));
        let g = Glob::path("prod/**").unwrap();
        assert!(g.matches("prod/a"));
        assert!(g.matches("prod/a/b/c"));
        assert!(!g.matches("production/a"));
        assert!(!g.matches("dev/prod/a"));
        assert!(Glob::path("**").unwrap().matches("a/b"));
        assert!(Glob::path("a/*").unwrap().matches("a/b"));
        assert!(!Glob::path("a/*").unwrap().matches("a/b/c"));
        assert!(Glob::path("a/?").unwrap().matches("a/b"));
        assert!(!Glob::path("a?b").unwrap().matches("a/b"));
        assert!(Glob::path("exact/name").unwrap().matches("exact/name"));
        assert!(!Glob::path("exact/name").unwrap().matches("exact/nam"));
    }

    #[test]
    fn text_globs_match_anything() {
        let g = Glob::text("https://github.com/org/*").unwrap();
        assert!(g.matches("https://github.com/org/repo/.github/workflows/x.yml@refs/heads/main"));
        assert!(!g.matches("https://github.com/other/repo"));
        assert!(
            Glob::text("*@example.com")
                .unwrap()
                .matches("ci@example.com")
        );
        assert!(
            !Glob::text("*@example.com")
                .unwrap()
                .matches("ci@example.com.evil")
        );
    }

    #[test]
    fn specificity_orders_scopes() {
        assert!(
            Glob::path("prod/api").unwrap().specificity()
                > Glob::path("prod/**").unwrap().specificity()
        );
        assert!(
            Glob::path("prod/**").unwrap().specificity() > Glob::path("**").unwrap().specificity()
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Glob::path("").is_err());
        assert!(Glob::path("a/***").is_err());
        assert!(Glob::text(&"a".repeat(2000)).is_err());
    }

    #[test]
    fn pathological_patterns_finish() {
        let g = Glob::text(&"*a".repeat(30)).unwrap();
        assert!(!g.matches(&"a".repeat(29)));
        let g = Glob::path(&"**/".repeat(20)).unwrap();
        assert!(!g.matches("x"));
    }
}
