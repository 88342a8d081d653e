//! The workspace's one glob matcher: the server's access rules match repository names with it
//! and the harness's `--filter` matches case ids with it.
//!
//! `*` matches any run of characters, `/` included (so `team/*` covers `team/a/b`); `?` matches
//! exactly one character, `/` included; every other character matches itself. A glob matches
//! the whole text. Neither repository names nor case ids can contain `*` or `?`, so no escape is
//! needed.

/// Whether `pattern` matches all of `text`. Linear backtracking over the last `*` only: time
/// O(pattern × text) at worst, no recursion, no allocation.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the pattern resumes after the last `*`, and the text position that `*` now ends at.
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = text[t..].chars().next() {
        match pattern[p..].chars().next() {
            Some('*') => {
                p += 1;
                star = Some((p, t));
                continue;
            }
            Some(pc) if pc == '?' || pc == tc => {
                p += pc.len_utf8();
                t += tc.len_utf8();
                continue;
            }
            _ => {}
        }
        // Mismatch: let the last `*` swallow one more character, or fail without one.
        let Some((sp, st)) = star else {
            return false;
        };
        let st = st + text[st..].chars().next().map_or(1, char::len_utf8);
        (p, t, star) = (sp, st, Some((sp, st)));
    }
    pattern[p..].chars().all(|c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn star_spans_slashes_and_the_whole_text_must_match() {
        assert!(glob_match("*", "a/b/c"));
        assert!(glob_match("*", ""));
        assert!(glob_match("**", ""));
        assert!(glob_match("team/*", "team/a/b"));
        assert!(!glob_match("team/*", "team"));
        assert!(!glob_match("team/*", "teamx/a"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(glob_match("a*b*c", "abbc"));
        assert!(!glob_match("a*b*c", "acb"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(glob_match("*/x", "a/b/x"));
        assert!(!glob_match("a*a*a*a*a*a*a*b", &"a".repeat(200)));
    }

    /// The server's matcher read `?` as a literal (so an access rule with `?` matched no valid
    /// repository name) while the harness's `--filter` read it as one character.
    #[test]
    fn question_mark_is_exactly_one_character_in_rules_and_filters() {
        assert!(glob_match("team/a?c", "team/abc"));
        assert!(glob_match("team/a?c", "team/a/c"));
        assert!(!glob_match("team/a?c", "team/ac"));
        assert!(!glob_match("team/a?c", "team/abbc"));
        assert!(glob_match(
            "push/?hunked/*",
            "push/chunked/out-of-order-416"
        ));
        assert!(glob_match("??", "é/"));
        assert!(!glob_match("?", ""));
        assert!(glob_match("*?", "x"));
        assert!(!glob_match("*?", ""));
    }
}
