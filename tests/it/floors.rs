//! The house's floors, checked: every `use` and every `crate::`/`super::` path in `src/`
//! is read, and an import that runs up a floor, or a circle of files that import each
//! other, fails this test. The floors, bottom to top, are [`FLOORS`]; the README's
//! layout section draws them. `cargo test --test it floors -- --nocapture` prints the
//! import graph's findings.
//!
//! Two readings keep the check about the design rather than about Rust's module syntax:
//! a folder's `mod.rs` is its children's interface, so a file's imports of its own
//! folders' `mod.rs` are not counted (the crate root is: it holds the application
//! object, the top floor); and unit tests (`#[cfg(test)] mod tests`) may import anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, bottom to top, by top-level module of `src/`. A file may import its own
/// floor and those below; within a floor, files must not import each other in a circle.
const FLOORS: &[(&str, &[&str])] = &[
    (
        "ground: what needs nothing of Gatehouse's",
        &["clock", "response_type", "routes", "scope", "signed_jwt", "workers"],
    ),
    (
        "settings: the config file and the claim mappings",
        &["config", "mapping"],
    ),
    (
        "services: the store, keys, limits, upstream kinds, telemetry, pages",
        &[
            "client_keys",
            "dpop",
            "keys",
            "limits",
            "logging",
            "public_fetch",
            "secrets",
            "store",
            "telemetry",
            "upstream",
            "verified_secrets",
            "web",
        ],
    ),
    ("domain: the rules of accounts, sessions and tokens", &["domain"]),
    (
        "steps: the authorization flow and the token grants",
        &["flow", "tokens"],
    ),
    ("bundle: the application object handlers take", &["app_state"]),
    (
        "HTTP and operators: the handlers and the operator commands",
        &["op", "operator"],
    ),
    ("application: building, serving and reloading it", &["app", "lib"]),
    (
        "binary: the command line",
        &[
            "main",
            "accounts_command",
            "check_command",
            "ldap_test_command",
            "sessions_command",
            "clients_command",
        ],
    ),
];

/// What the check finds in today's `src/` that is still to be mended. The test fails
/// on anything else, and on an entry here that no longer occurs (so the list shrinks).
const KNOWN: &[&str] = &[];

/// One source file: its module path (`["flow", "device"]`; `[]` for the crate root) and
/// whether it belongs to the binary (`main.rs` and its modules) rather than the library.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Module {
    bin: bool,
    path: Vec<String>,
}

impl Module {
    fn name(&self) -> String {
        match (self.bin, self.path.is_empty()) {
            (true, true) => "main".to_string(),
            (false, true) => "lib".to_string(),
            (_, false) => self.path.join("/"),
        }
    }

    fn top(&self) -> String {
        match self.path.first() {
            Some(first) => first.clone(),
            None if self.bin => "main".to_string(),
            None => "lib".to_string(),
        }
    }
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text with comments, string and character literals blanked out.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A character literal ('a', '\n', '\u{..}'), not a lifetime.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// The text without `#[cfg(test)] mod tests { ... }`.
fn without_unit_tests(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let rest = &out[at..];
        let Some(open) = rest.find('{') else { break };
        let mut depth = 0;
        let mut end = rest.len();
        for (k, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..at + end, "");
    }
    out
}

#[derive(Clone, PartialEq, Debug)]
enum Token {
    Word(String),
    Path,
    Other(char),
}

fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(Token::Path);
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(Token::Other(c));
            }
            i += 1;
        }
    }
    out
}

/// The paths a `use` tree names (`a::{b, c::d}` → `a::b`, `a::c::d`).
fn use_tree(tokens: &[Token], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        match tokens.get(*i) {
            Some(Token::Word(w)) if w == "as" => {
                *i += 2;
            }
            Some(Token::Word(w)) => {
                if w != "self" || path.is_empty() {
                    path.push(w.clone());
                }
                *i += 1;
            }
            Some(Token::Path) => *i += 1,
            Some(Token::Other('{')) => {
                *i += 1;
                loop {
                    use_tree(tokens, i, path.clone(), out);
                    match tokens.get(*i) {
                        Some(Token::Other(',')) => *i += 1,
                        Some(Token::Other('}')) => {
                            *i += 1;
                            break;
                        }
                        _ => break,
                    }
                    if tokens.get(*i) == Some(&Token::Other('}')) {
                        *i += 1;
                        break;
                    }
                }
                return;
            }
            Some(Token::Other('*')) => *i += 1,
            _ => {
                out.push(path);
                return;
            }
        }
    }
}

/// Every path the code names (`use` trees, and `a::b` sequences elsewhere), each with the
/// inline modules (`mod name { ... }`) it is written in, which `super` and `self` count from.
fn named_paths(tokens: &[Token]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let after_path = i > 0 && tokens[i - 1] == Token::Path;
        let within = || inline.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>();
        match &tokens[i] {
            Token::Other('{') => {
                depth += 1;
                i += 1;
            }
            Token::Other('}') => {
                if inline.last().is_some_and(|(_, at)| *at == depth) {
                    inline.pop();
                }
                depth -= 1;
                i += 1;
            }
            Token::Word(m) if m == "mod" && tokens.get(i + 2) == Some(&Token::Other('{')) => {
                if let Some(Token::Word(name)) = tokens.get(i + 1) {
                    inline.push((name.clone(), depth + 1));
                }
                i += 2;
            }
            Token::Word(w) if w == "use" && !after_path => {
                i += 1;
                let mut paths = Vec::new();
                use_tree(tokens, &mut i, Vec::new(), &mut paths);
                let within = within();
                out.extend(paths.into_iter().map(|p| (within.clone(), p)));
            }
            Token::Word(first) if !after_path && tokens.get(i + 1) == Some(&Token::Path) => {
                let mut path = vec![first.clone()];
                i += 1;
                while tokens.get(i) == Some(&Token::Path) {
                    match tokens.get(i + 1) {
                        Some(Token::Word(w)) => path.push(w.clone()),
                        _ => break,
                    }
                    i += 2;
                }
                out.push((within(), path));
            }
            _ => i += 1,
        }
    }
    out
}

/// The child modules a file declares (`mod x;`, `pub mod x;`).
fn declared_children(tokens: &[Token]) -> BTreeSet<String> {
    tokens
        .windows(3)
        .filter_map(|w| match w {
            [Token::Word(m), Token::Word(name), Token::Other(';')] if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect()
}

struct Graph {
    modules: BTreeSet<Module>,
    edges: BTreeMap<Module, BTreeSet<Module>>,
}

/// What a file names, for resolving paths in it.
struct Parsed {
    tokens: Vec<Token>,
    children: BTreeSet<String>,
    /// `pub use a::b::Item;` → `Item` → `a::b::Item`: a path through this module to
    /// `Item` is an import of `a::b`.
    reexports: BTreeMap<String, Vec<String>>,
}

fn reexports(tokens: &[Token]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (i, token) in tokens.iter().enumerate() {
        let is_pub_use = *token == Token::Word("use".into())
            && (tokens[..i].ends_with(&[Token::Word("pub".into())])
                || tokens[..i].ends_with(&[
                    Token::Word("pub".into()),
                    Token::Other('('),
                    Token::Word("crate".into()),
                    Token::Other(')'),
                ]));
        if is_pub_use {
            let mut paths = Vec::new();
            use_tree(tokens, &mut (i + 1), Vec::new(), &mut paths);
            for path in paths {
                if let Some(name) = path.last() {
                    out.insert(name.clone(), path);
                }
            }
        }
    }
    out
}

struct Resolver {
    files: BTreeMap<Module, Parsed>,
}

impl Resolver {
    /// The module a path named in `module` leads to, through re-exports.
    fn resolve(&self, module: &Module, within: &[String], path: &[String], depth: usize) -> Option<Module> {
        let first = path.first()?;
        let absolute: Vec<String> = match first.as_str() {
            "crate" => path[1..].to_vec(),
            "gatehouse" if module.bin => {
                let lib = Module {
                    bin: false,
                    path: Vec::new(),
                };
                let mut rooted = vec!["crate".to_string()];
                rooted.extend(path[1..].iter().cloned());
                return self.resolve(&lib, &[], &rooted, depth);
            }
            "super" | "self" => {
                let mut base = module.path.clone();
                base.extend(within.iter().cloned());
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                if rest.first().is_some_and(|s| s == "self") {
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                base
            }
            name if self.files.get(module).is_some_and(|p| p.children.contains(name)) => {
                let mut base = module.path.clone();
                base.extend(path.iter().cloned());
                base
            }
            _ => return None,
        };
        let (found, rest) = (0..=absolute.len()).rev().find_map(|n| {
            let candidate = Module {
                bin: module.bin,
                path: absolute[..n].to_vec(),
            };
            self.files.contains_key(&candidate).then(|| (candidate, &absolute[n..]))
        })?;
        let reexported = rest
            .first()
            .and_then(|name| self.files[&found].reexports.get(name))
            .filter(|_| depth < 8);
        match reexported {
            Some(target) => {
                let mut through = target.clone();
                through.extend(rest[1..].iter().cloned());
                self.resolve(&found, &[], &through, depth + 1).or(Some(found))
            }
            None => Some(found),
        }
    }
}

fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    source_files(src, &mut files);
    let main_children = declared_children(&tokens(&code_only(
        &std::fs::read_to_string(src.join("main.rs")).unwrap(),
    )));
    let mut parsed = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap().with_extension("");
        let mut path: Vec<String> = relative.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        let bin = path == ["main"] || path.first().is_some_and(|f| main_children.contains(f));
        if path == ["lib"] || path == ["main"] {
            path.clear();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let tokens = tokens(&without_unit_tests(&code_only(&text)));
        let file = Parsed {
            children: declared_children(&tokens),
            reexports: reexports(&tokens),
            tokens,
        };
        parsed.insert(Module { bin, path }, file);
    }
    let resolver = Resolver { files: parsed };
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, file) in &resolver.files {
        let mut targets = BTreeSet::new();
        for (within, path) in named_paths(&file.tokens) {
            // A file's own folders' interfaces (the library's root excepted) are not counted.
            if let Some(target) = resolver.resolve(module, &within, &path, 0)
                && target != *module
                && !(target.bin == module.bin
                    && (target.bin || !target.path.is_empty())
                    && module.path.starts_with(&target.path))
            {
                targets.insert(target);
            }
        }
        edges.insert(module.clone(), targets);
    }
    Graph {
        modules: resolver.files.keys().cloned().collect(),
        edges,
    }
}

/// Circles of files (strongly connected components of more than one file).
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in &self.graph.edges[v] {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(w.name());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for module in &graph.modules {
        if !tarjan.index.contains_key(module) {
            tarjan.visit(module);
        }
    }
    tarjan.found.sort();
    tarjan.found
}

fn floor_of(top: &str) -> Option<usize> {
    FLOORS.iter().position(|(_, modules)| modules.contains(&top))
}

/// Every finding in the source tree at `src`: imports up a floor, circles, and modules
/// no floor names.
fn findings(src: &Path) -> Vec<String> {
    let graph = graph(src);
    let mut found = Vec::new();
    for module in &graph.modules {
        let Some(floor) = floor_of(&module.top()) else {
            found.push(format!("{} is on no floor", module.name()));
            continue;
        };
        for target in &graph.edges[module] {
            if let Some(to) = floor_of(&target.top())
                && to > floor
            {
                found.push(format!(
                    "{} imports {} (up from \"{}\" to \"{}\")",
                    module.name(),
                    target.name(),
                    FLOORS[floor].0.split(':').next().unwrap_or(""),
                    FLOORS[to].0.split(':').next().unwrap_or("")
                ));
            }
        }
    }
    for circle in circles(&graph) {
        found.push(format!("circle: {}", circle.join(" <-> ")));
    }
    found
}

#[test]
fn no_import_runs_up_a_floor_and_no_files_import_each_other_in_a_circle() {
    let found = findings(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for line in &found {
        println!("{line}");
    }
    let new: Vec<&String> = found.iter().filter(|f| !KNOWN.contains(&f.as_str())).collect();
    let mended: Vec<&&str> = KNOWN.iter().filter(|k| !found.iter().any(|f| f == *k)).collect();
    assert!(
        new.is_empty() && mended.is_empty(),
        "new findings:\n{}\nmended (take them off KNOWN):\n{}",
        new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        mended.iter().map(|s| **s).collect::<Vec<_>>().join("\n")
    );
}

/// The README's promise: handlers and the floors below them are given narrow handles,
/// never the application object (`AppState`, `Inner`); the grep it gives finds nothing.
#[test]
fn no_handler_flow_token_or_domain_code_names_the_application_object() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for folder in ["op", "flow", "tokens", "domain"] {
        source_files(&src.join(folder), &mut files);
    }
    let named: Vec<String> = files
        .iter()
        .filter(|file| {
            let code = code_only(&std::fs::read_to_string(file).unwrap());
            tokens_of(&code)
                .iter()
                .any(|token| matches!(token, Token::Word(name) if name == "AppState" || name == "Inner"))
        })
        .map(|file| file.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert!(named.is_empty(), "these files name the application object: {named:?}");
}

fn tokens_of(code: &str) -> Vec<Token> {
    tokens(&without_unit_tests(&code_only(code)))
}

#[test]
fn the_check_reads_the_paths_a_file_names() {
    let tokens = tokens(&without_unit_tests(&code_only(
        "use crate::{a::{b, c as d}, e};\n// use crate::comment;\nlet s = \"crate::string\";\n\
         fn f() { super::g::h(); }\n#[cfg(test)]\nmod tests { use crate::test_only; }",
    )));
    let paths: Vec<String> = named_paths(&tokens).iter().map(|(_, p)| p.join("::")).collect();
    assert_eq!(paths, ["crate::a::b", "crate::a::c", "crate::e", "super::g::h"]);
    let inline = tokens_of("mod outer { pub use super::x::Y; }\nuse super::z;");
    let found: Vec<(Vec<String>, String)> = named_paths(&inline)
        .into_iter()
        .map(|(w, p)| (w, p.join("::")))
        .collect();
    assert_eq!(
        found,
        [
            (vec!["outer".to_string()], "super::x::Y".to_string()),
            (vec![], "super::z".to_string())
        ]
    );
}

#[test]
fn the_check_finds_an_import_up_a_floor_and_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |name: &str, text: &str| {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "lib.rs",
        "pub mod clock;\npub mod domain;\npub mod flow;\npub mod tokens;\n",
    );
    write("main.rs", "fn main() { gatehouse::flow::run(); }\n");
    write("clock.rs", "pub fn now() -> i64 { crate::domain::rules::today() }\n");
    write("domain/mod.rs", "pub mod rules;\n");
    write("domain/rules.rs", "pub fn today() -> i64 { 0 }\n");
    write("flow/mod.rs", "use crate::tokens::grant;\npub fn run() { grant(); }\n");
    write("tokens.rs", "pub fn grant() { crate::flow::run(); }\n");
    assert_eq!(
        findings(src),
        [
            "clock imports domain/rules (up from \"ground\" to \"domain\")",
            "circle: flow <-> tokens",
        ]
    );
}
