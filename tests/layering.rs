//! The harness's modules depend on each other in one direction: among the modules of one parent
//! (the crate's top-level modules; `fuzz`'s; `http`'s; …) the `crate::…` and `super::…` paths
//! form no cycle. Pins the cycles issue 13 found and removed (engine ↔ expected; fuzz grammar ↔
//! probe ↔ push; fuzz coverage ↔ http; http → cleanup → http; rate_limit → contract → http →
//! rate_limit; rate_limit → report → http → rate_limit) and fails with any new one, naming the files that close it.
//!
//! Tests (`#[cfg(test)] mod tests`) and comments are not read: they may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every module of `src/` (its path, `[]` for the crate root) with its code.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<Module, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, src, out);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut m: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if m.last().is_some_and(|l| l == "mod") {
                m.pop();
            }
            if m == ["lib"] || m == ["main"] {
                m.clear();
            }
            out.insert(m, std::fs::read_to_string(&p).unwrap());
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The code without comments and without its test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths named after each `crate::` / `super::` in `code`, a `{…}` group expanded one level:
/// `use super::{a::B, c}` gives `super::a::B` and `super::c`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let b = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = (b[i..].starts_with(b"crate::") || b[i..].starts_with(b"super::"))
            && (i == 0 || !ident(b[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && (ident(b[j]) || b[j] == b':') {
            j += 1;
        }
        let head: Vec<String> = code[i..j]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if j < b.len() && b[j] == b'{' {
            let end = code[j..].find('}').map_or(b.len(), |k| j + k);
            for item in code[j + 1..end].split(',') {
                let mut p = head.clone();
                p.extend(
                    item.trim()
                        .split("::")
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty() && !s.contains('{')),
                );
                out.push(p);
            }
            j = end;
        } else {
            out.push(head);
        }
        i = j.max(i + 1);
    }
    out
}

/// Sibling edges: module `a` names something in `b`, where `a` and `b` have the same parent
/// (or are inside two such siblings). Edges are named by the two siblings' paths.
fn sibling_edges(mods: &BTreeMap<Module, String>) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (m, text) in mods {
        for p in paths(&code(text)) {
            let target: Module = if p[0] == "crate" {
                p[1..].to_vec()
            } else {
                // `super` is the parent of this module, whether it is `x.rs` or `x/mod.rs`.
                let mut cur = m[..m.len().saturating_sub(1)].to_vec();
                let mut k = 1;
                while p.get(k).is_some_and(|s| s == "super") {
                    cur.pop();
                    k += 1;
                }
                cur.extend(p[k..].iter().cloned());
                cur
            };
            let common = m.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common >= m.len() || common >= target.len() {
                continue; // its own ancestor or descendant: not a sibling
            }
            let (a, b) = (&m[..=common], &target[..=common]);
            if !mods.contains_key(b) {
                continue; // an item of the parent, not a module
            }
            edges
                .entry((a.join("::"), b.join("::")))
                .or_default()
                .insert(format!("src/{}", m.join("/")));
        }
    }
    edges
}

/// A cycle in `edges`, if there is one (depth-first search).
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    fn visit<'a>(
        v: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        done: &mut BTreeSet<&'a str>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| *s == v) {
            let mut c: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
            c.push(v.to_string());
            return Some(c);
        }
        if !done.insert(v) {
            return None;
        }
        stack.push(v);
        for w in next.get(v).into_iter().flatten() {
            if let Some(c) = visit(w, next, done, stack) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for v in next.keys() {
        if let Some(c) = visit(v, &next, &mut done, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn modules_of_one_parent_import_each_other_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = sibling_edges(&modules(&src));
    let all: BTreeSet<(String, String)> = edges.keys().cloned().collect();
    if let Some(cycle) = find_cycle(&all) {
        let why: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let files = &edges[&(w[0].clone(), w[1].clone())];
                format!(
                    "  {} -> {} (in {})",
                    w[0],
                    w[1],
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        panic!("import cycle: {}\n{}", cycle.join(" -> "), why.join("\n"));
    }
}

/// The checker itself finds a cycle, and reads grouped and relative paths.
#[test]
fn the_checker_finds_a_planted_cycle() {
    let mut mods = BTreeMap::new();
    mods.insert(vec![], "mod a;\nmod b;".to_string());
    mods.insert(vec!["a".into()], "use crate::{b::X, c};".to_string());
    mods.insert(vec!["b".into()], "fn f() { super::a::g() }".to_string());
    mods.insert(vec!["c".into()], "// crate::a::g in a comment".to_string());
    let edges = sibling_edges(&mods);
    let keys: BTreeSet<(String, String)> = edges.keys().cloned().collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            ("a".to_string(), "b".to_string()),
            ("a".to_string(), "c".to_string()),
            ("b".to_string(), "a".to_string()),
        ])
    );
    let cycle = find_cycle(&keys).expect("a cycle");
    assert!(cycle.contains(&"a".to_string()) && cycle.contains(&"b".to_string()));
}
