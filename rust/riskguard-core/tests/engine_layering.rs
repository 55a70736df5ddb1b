//! The engine's files form no import cycle, and the vocabulary file imports nothing else of the
//! engine (DESIGN.md, "Layout"). A cycle makes every file in it depend on all the others: none
//! can be read, changed or tested alone.
//!
//! The check reads `src/engine/*.rs` and takes every path into the engine that a file names:
//! `use super::x::...`, `use super::{x::A, y}`, `crate::engine::x` and inline `super::x::f(...)`,
//! comments and string literals aside. A name that `mod.rs` re-exports (`super::RiskEngine`)
//! counts as the file it comes from, so a re-export cannot hide an edge. `mod.rs` (the root that
//! re-exports) and `tests.rs` (the engine's scenario tests) are not part of the graph. Inside a
//! file's `#[cfg(test)]` module `super` is the file itself, so only `crate::engine::` paths count
//! there.
//!
//! Method calls across files (`self.evaluate(...)` on a `RiskEngine` method another file
//! defines) need no import and are not edges: the graph is the one `use` declarations build.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The vocabulary file: the engine's shared types, which import nothing else of the engine.
const VOCABULARY: &str = "vocab";

/// Files of `src/engine/` that are not part of the graph.
const ROOTS: [&str; 2] = ["mod", "tests"];

fn engine_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine")
}

/// `src` without comments, string, byte-string and char literals (each becomes a space), so
/// that a path in a doc comment or a message is not taken for an import.
fn strip(src: &str) -> String {
    let s: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && !prev_is_ident(&s, i)
            && raw_string_start(&s, i + usize::from(c == 'b') + 1).is_some()
        {
            let start = i + usize::from(c == 'b') + 1;
            let hashes = raw_string_start(&s, start).expect("checked");
            i = start + hashes + 1;
            loop {
                if i >= s.len() {
                    break;
                }
                if s[i] == '"' && (0..hashes).all(|k| s.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < s.len() && s[i] != '"' {
                i += if s[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), else a lifetime or label ('a, 'static).
            if next == Some('\\') {
                i += 2;
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(' ');
            } else if s.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(' ');
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(s: &[char], i: usize) -> bool {
    i > 0 && (s[i - 1].is_alphanumeric() || s[i - 1] == '_')
}

/// The number of `#` of a raw string opening at `s[i]` (`#*"`), if one opens there.
fn raw_string_start(s: &[char], i: usize) -> Option<usize> {
    let hashes = s[i.min(s.len())..]
        .iter()
        .take_while(|&&c| c == '#')
        .count();
    (s.get(i + hashes) == Some(&'"')).then_some(hashes)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first segment of every path `prefix` leads to in `code` (whitespace removed): `a` for
/// `prefix a::B`, `a` and `b` for `prefix {a::B, b::{C, D}}`, `*` for a glob.
fn first_segments(code: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(k) = code[from..].find(prefix) {
        let at = from + k;
        from = at + prefix.len();
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    found.push(head(&item));
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            found.push(head(rest));
        }
    }
    found.retain(|s| !s.is_empty() && s != "self");
    found
}

/// The leading identifier of a path, or `*`.
fn head(path: &str) -> String {
    if path.starts_with('*') {
        return "*".into();
    }
    path.chars().take_while(|&c| is_ident(c)).collect()
}

/// `s` with whitespace removed except one space between two words, so that `use super :: {a,
/// b}` reads `use super::{a,b}` and `usesuper` never appears.
fn squeeze(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars() {
        if c.is_whitespace() {
            gap = true;
            continue;
        }
        if gap && is_ident(c) && out.chars().next_back().is_some_and(is_ident) {
            out.push(' ');
        }
        gap = false;
        out.push(c);
    }
    out
}

/// Every engine file (stem) and its stripped source.
fn sources() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(engine_dir()).expect("src/engine is readable") {
        let path = entry.expect("a directory entry").path();
        assert!(
            !path.is_dir(),
            "{}: the layering check reads only the files of src/engine/; extend it for directories",
            path.display()
        );
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&path).expect("a readable source file");
            files.insert(stem, strip(&text));
        }
    }
    files
}

/// Names `mod.rs` re-exports at the engine's root (`pub use file::{A, B}`), by the file they
/// come from.
fn reexports(mod_rs: &str) -> BTreeMap<String, String> {
    let top = without_inline_modules(mod_rs);
    let mut names = BTreeMap::new();
    for stmt in top.split(';') {
        let words: Vec<&str> = stmt.split_whitespace().collect();
        if words.first() != Some(&"pub") || words.get(1) != Some(&"use") {
            continue;
        }
        assert!(
            !words.contains(&"as"),
            "mod.rs renames in `{}`: extend the layering check",
            stmt.trim()
        );
        let path = squeeze(&words[2..].concat());
        let Some((file, rest)) = path.split_once("::") else {
            continue;
        };
        let items = rest.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',').filter(|s| !s.is_empty()) {
            let name = item.rsplit("::").next().unwrap_or(item);
            names.insert(name.to_string(), file.to_string());
        }
    }
    names
}

/// `src` without the bodies of inline modules (`mod old { ... }`): their re-exports go into
/// that module, not the root.
fn without_inline_modules(src: &str) -> String {
    let s: Vec<char> = src.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let word_start = i == 0 || !is_ident(s[i - 1]);
        if word_start && s[i..].starts_with(&['m', 'o', 'd']) && s.get(i + 3) == Some(&' ') {
            let mut j = i + 3;
            while j < s.len() && (s[j].is_whitespace() || is_ident(s[j])) {
                j += 1;
            }
            if s.get(j) == Some(&'{') {
                let mut depth = 0;
                while j < s.len() {
                    match s[j] {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                    if depth == 0 {
                        break;
                    }
                }
                out.push(';');
                i = j;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Each engine file and the engine files it imports. Panics on a path it cannot resolve, so
/// that nothing passes unseen.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = sources();
    let root = files.get("mod").expect("src/engine/mod.rs");
    let names = reexports(root);
    let members: BTreeSet<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|f| !ROOTS.contains(f))
        .collect();
    let mut graph = BTreeMap::new();
    for (file, code) in &files {
        if ROOTS.contains(&file.as_str()) {
            continue;
        }
        // A file's own test module starts at its first top-level `#[cfg(test)]`.
        let split = code.find("\n#[cfg(test)]").unwrap_or(code.len());
        let (body, tests) = code.split_at(split);
        let (body, tests) = (squeeze(body), squeeze(tests));
        let mut refs = first_segments(&body, "super::");
        refs.extend(first_segments(&body, "crate::engine::"));
        refs.extend(first_segments(&tests, "crate::engine::"));
        let mut deps = BTreeSet::new();
        for r in refs {
            assert!(
                r != "*",
                "{file}.rs: a glob import of the engine hides its edges"
            );
            let target = if members.contains(r.as_str()) {
                r
            } else if let Some(source) = names.get(&r) {
                source.clone()
            } else {
                panic!("{file}.rs: cannot resolve the engine path `{r}` to a file");
            };
            if &target != file {
                deps.insert(target);
            }
        }
        graph.insert(file.clone(), deps);
    }
    graph
}

fn show(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    graph
        .iter()
        .map(|(f, deps)| {
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            format!("  {f} -> {}", deps.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The strongly connected components of more than one file (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                loop {
                    let w = self.stack.pop().expect("v is on the stack");
                    self.on_stack.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.found.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

/// The files in layers: each imports only files of lower layers.
fn layers(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while placed.len() < graph.len() {
        let layer: Vec<String> = (graph.iter())
            .filter(|(f, deps)| !placed.contains(*f) && deps.iter().all(|d| placed.contains(d)))
            .map(|(f, _)| f.clone())
            .collect();
        assert!(!layer.is_empty(), "a cycle is left");
        placed.extend(layer.iter().cloned());
        out.push(layer);
    }
    out
}

#[test]
fn engine_files_form_no_import_cycle() {
    let graph = graph();
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(
        edges >= graph.len(),
        "only {edges} edges among {} files: the parser is missing imports\n{}",
        graph.len(),
        show(&graph)
    );
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "the engine's files import each other in a cycle: {}\nthe graph:\n{}",
        found
            .iter()
            .map(|c| format!("[{}] ({} files)", c.join(", "), c.len()))
            .collect::<Vec<_>>()
            .join("; "),
        show(&graph)
    );
    // `cargo test --test engine_layering -- --nocapture` shows the graph.
    println!("{}", show(&graph));
    for (k, layer) in layers(&graph).iter().enumerate() {
        println!("layer {k}: {}", layer.join(", "));
    }
}

#[test]
fn the_vocabulary_imports_nothing_else_of_the_engine() {
    let graph = graph();
    let deps = graph.get(VOCABULARY).unwrap_or_else(|| {
        panic!("src/engine/{VOCABULARY}.rs, the engine's vocabulary file, is missing")
    });
    assert!(
        deps.is_empty(),
        "{VOCABULARY}.rs imports {deps:?}: the vocabulary must import nothing else of the engine"
    );
}

#[test]
fn the_parser_sees_every_form_of_path() {
    let code = squeeze(&strip(
        r#"
        use super::a::X;
        use super::{b::Y, c::{Z, W}, self};
        use crate::engine::d;
        // use super::commented::Out;
        /* super::block::Out */
        let s = "super::in_string::Out";
        let c = '"';
        fn f<'a>(x: &'a str) -> f64 { super::e::g(x) }
        "#,
    ));
    let mut got = first_segments(&code, "super::");
    got.extend(first_segments(&code, "crate::engine::"));
    assert_eq!(got, ["a", "b", "c", "e", "d"]);
    let names = reexports(&strip(
        "pub use a::{X, Y};\npub use b::Z;\npub mod old {\n    pub use super::c::W;\n}\n",
    ));
    let want: BTreeMap<String, String> = [("X", "a"), ("Y", "a"), ("Z", "b")]
        .map(|(n, f)| (n.to_string(), f.to_string()))
        .into_iter()
        .collect();
    assert_eq!(names, want);
}
