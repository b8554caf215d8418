//! The layers of ARCHITECTURE.md, checked against the `crate::` references in `src/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The layer names, and module -> layer index, from the `layers` block of ARCHITECTURE.md.
fn layers() -> (Vec<String>, BTreeMap<String, usize>) {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let block = text
        .split("```layers\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("ARCHITECTURE.md has a ```layers block");
    let mut names = Vec::new();
    let mut of = BTreeMap::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (layer, modules) = line.split_once(':').expect("`layer: modules`");
        for m in modules.split_whitespace() {
            assert!(
                of.insert(m.to_owned(), names.len()).is_none(),
                "{m} is placed twice"
            );
        }
        names.push(layer.trim().to_owned());
    }
    (names, of)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The folders of `src/` named after a layer (`src/storage/`, `src/network/`): each holds
/// modules of that layer, `crate::<layer>::<module>`, and a `mod.rs` that only declares them.
/// (The `commands` layer's one module is `src/commands/`, a module, not a layer folder.)
fn layer_folders() -> BTreeSet<String> {
    let (names, of) = layers();
    names
        .into_iter()
        .filter(|n| !of.contains_key(n) && root().join("src").join(n).join("mod.rs").is_file())
        .collect()
}

/// The modules of `src/` (top-level, or one level down in a layer's folder) and their files,
/// with the layer folder each is in, if any.
fn placed_modules() -> BTreeMap<String, (Option<String>, Vec<PathBuf>)> {
    let folders = layer_folders();
    let mut out = BTreeMap::new();
    let mut add = |dir: &Path, folder: Option<&String>| {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if ["lib.rs", "main.rs", "mod.rs"].contains(&name.as_str()) && p.is_file() {
                continue;
            }
            if folder.is_none() && folders.contains(&name) {
                continue;
            }
            let mut files = Vec::new();
            if p.is_dir() {
                rust_files(&p, &mut files);
            } else {
                files.push(p.clone());
            }
            let name = name.trim_end_matches(".rs").to_owned();
            assert!(
                out.insert(name.clone(), (folder.cloned(), files)).is_none(),
                "two modules are called {name}"
            );
        }
    };
    let src = root().join("src");
    add(&src, None);
    for f in &folders {
        add(&src.join(f), Some(f));
    }
    out
}

fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    placed_modules()
        .into_iter()
        .map(|(name, (_, files))| (name, files))
        .collect()
}

/// The code of a file without its comment lines (doc links name modules without using them).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules a text refers to as `crate::name` or inside `crate::{a, b::c}`, looking
/// through a layer folder (`crate::network::fetch`, `crate::storage::{db, home}`).
fn references(text: &str, folders: &BTreeSet<String>) -> BTreeSet<String> {
    fn ident(s: &str) -> &str {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        &s[..end]
    }
    /// The names at the start of `path` (after `crate::` or a folder's `::`).
    fn names(path: &str, folders: &BTreeSet<String>, out: &mut BTreeSet<String>) {
        let path = path.trim_start();
        if let Some(group) = path.strip_prefix('{') {
            // The names of the group: split at commas outside nested braces.
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names(&item, folders, out);
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            names(&item, folders, out);
            return;
        }
        let first = ident(path);
        match path[first.len()..].strip_prefix("::") {
            Some(rest) if folders.contains(first) => names(rest, folders, out),
            _ => {
                out.insert(first.to_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        names(&text[i + "crate::".len()..], folders, &mut out);
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let folders = layer_folders();
    mods.iter()
        .map(|(name, files)| {
            let uses = files
                .iter()
                .flat_map(|f| references(&code(f), &folders))
                .filter(|m| m != name && mods.contains_key(m))
                .collect();
            (name.clone(), uses)
        })
        .collect()
}

#[test]
fn every_module_is_placed_in_exactly_one_layer() {
    let (_, of) = layers();
    let mods = modules();
    let unplaced: Vec<_> = mods.keys().filter(|m| !of.contains_key(*m)).collect();
    let gone: Vec<_> = of.keys().filter(|m| !mods.contains_key(*m)).collect();
    assert!(
        unplaced.is_empty(),
        "place these in ARCHITECTURE.md: {unplaced:?}"
    );
    assert!(
        gone.is_empty(),
        "ARCHITECTURE.md names no longer existing {gone:?}"
    );
}

#[test]
fn a_layer_with_a_folder_has_all_its_modules_in_it() {
    let (names, of) = layers();
    let folders = layer_folders();
    let mut misplaced = Vec::new();
    for (m, (folder, _)) in placed_modules() {
        let Some(&layer) = of.get(&m) else { continue };
        let layer = &names[layer];
        let wanted = folders.contains(layer).then_some(layer);
        if folder.as_ref() != wanted {
            misplaced.push(format!(
                "{m} (layer {layer}) is in src/{}",
                folder.map_or_else(String::new, |f| format!("{f}/"))
            ));
        }
    }
    assert!(misplaced.is_empty(), "{misplaced:#?}");
    assert!(
        ["ground", "storage", "network", "domain", "interface"]
            .iter()
            .all(|f| folders.contains(*f)),
        "{folders:?}"
    );
}

#[test]
fn modules_use_only_their_own_layer_or_lower_ones() {
    let (names, of) = layers();
    let mut upward = Vec::new();
    for (m, uses) in graph() {
        for u in uses {
            if of[&u] > of[&m] {
                upward.push(format!(
                    "{m} ({}) uses {u} ({})",
                    names[of[&m]], names[of[&u]]
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up: {upward:#?}");
}

// Depth-first search with colours: a grey module met again closes a circle.
fn visit<'a>(
    m: &'a str,
    g: &'a BTreeMap<String, BTreeSet<String>>,
    colour: &mut BTreeMap<&'a str, u8>,
    path: &mut Vec<&'a str>,
) -> Option<Vec<String>> {
    colour.insert(m, 1);
    path.push(m);
    for u in &g[m] {
        match colour.get(u.as_str()) {
            Some(1) => {
                let start = path.iter().position(|p| p == u).unwrap();
                let mut circle: Vec<String> =
                    path[start..].iter().map(|s| (*s).to_owned()).collect();
                circle.push(u.clone());
                return Some(circle);
            }
            Some(_) => {}
            None => {
                if let Some(c) = visit(u, g, colour, path) {
                    return Some(c);
                }
            }
        }
    }
    path.pop();
    colour.insert(m, 2);
    None
}

#[test]
fn no_circle_among_the_top_level_modules() {
    let g = graph();
    let mut colour = BTreeMap::new();
    for m in g.keys() {
        if !colour.contains_key(m.as_str())
            && let Some(circle) = visit(m, &g, &mut colour, &mut Vec::new())
        {
            panic!("import circle: {}", circle.join(" -> "));
        }
    }
}

#[test]
fn the_checker_sees_what_it_checks() {
    // The checks above are only as good as the reference reader: it must see grouped uses and
    // skip comments, and the real graph must have the edges everyone knows are there.
    let none = BTreeSet::new();
    let r = references(
        "use crate::{a::B, c::{d, e}, f};\n let x = crate::g::h();",
        &none,
    );
    assert_eq!(r, ["a", "c", "f", "g"].map(String::from).into());
    // Through a layer folder, alone or in a group.
    let r = references(
        "use crate::net::{fetch::Fetcher, cache};\nuse crate::{db::Db, net::mirror};",
        &["net".to_owned()].into(),
    );
    assert_eq!(
        r,
        ["cache", "db", "fetch", "mirror"].map(String::from).into()
    );
    let g = graph();
    assert!(g["commands"].contains("activation"), "{:?}", g["commands"]);
    assert!(g["install"].contains("archive"));
    assert!(g["install"].contains("store") && g["install"].contains("fetch"));
    assert!(g.values().map(BTreeSet::len).sum::<usize>() > 50);
}

#[test]
fn every_error_reason_is_registered_beside_its_impl() {
    let mut missing = Vec::new();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for f in files {
        let text = code(&f);
        for line in text.lines() {
            let Some(rest) = line
                .trim()
                .strip_prefix("impl crate::ground::exit::Reason for ")
            else {
                continue;
            };
            let ty = rest.trim_end_matches(" {").trim();
            if !text.contains(&format!("crate::ground::exit::register!({ty});")) {
                missing.push(format!("{}: {ty}", f.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add `crate::ground::exit::register!(T);`: {missing:?}"
    );
}

// Issue 35, item 3: one way to start a process. Outside `src/spawn.rs` (and unit tests), no
// module builds a `Command` of its own: every start goes through `spawn::Start`, which isolates
// it from the caller (working directory, environment, descriptors, process group, deadline).
#[test]
fn every_process_is_started_through_the_one_runner() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut found = Vec::new();
    for f in files {
        if f.ends_with("src/ground/spawn.rs") {
            continue;
        }
        let text = code(&f);
        let shipped = text.split("#[cfg(test)]").next().unwrap_or("");
        for needle in ["Command::new", "process::Command", "pre_exec("] {
            if shipped.contains(needle) {
                found.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "processes started outside spawn::Start: {found:?}"
    );
}

// Issue 39 (item 2): `unsafe` only where ARCHITECTURE.md says, each block explained.
#[test]
fn unsafe_code_is_only_in_the_modules_that_say_why() {
    let allowed = ["mapped.rs", "remove.rs", "spawn.rs"];
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut found = Vec::new();
    for f in &files {
        let text = code(f);
        let uses = text.matches("unsafe {").count() + text.matches("unsafe fn").count();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if uses > 0 && !allowed.contains(&name.as_str()) {
            found.push(f.display().to_string());
        }
        if uses > 0 {
            let safety = std::fs::read_to_string(f)
                .unwrap()
                .matches("SAFETY:")
                .count();
            assert!(
                safety >= 1,
                "{}: unsafe without a SAFETY: comment",
                f.display()
            );
        }
    }
    assert!(
        found.is_empty(),
        "unsafe outside mapped, remove, spawn: {found:?}"
    );
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    assert!(architecture.contains("`unsafe` is in three ground modules only"));
}

/// The shipped code of a file: without comment lines and without its unit tests.
fn shipped(path: &Path) -> String {
    let text = code(path);
    text.split("#[cfg(test)]").next().unwrap_or("").to_owned()
}

// Issue 39 (item 3): a workflow returns data and tells events; only the commands (and the
// command line, and the printer itself) print. Logging (`tracing`) is not printing.
#[test]
fn nothing_below_the_commands_prints() {
    let src = root().join("src");
    let printers = [
        src.join("interface/output.rs"),
        src.join("main.rs"),
        src.join("commands"),
        src.join("cli"),
    ];
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let needles = [
        "println!",
        "eprintln!",
        "print!(",
        "eprint!(",
        "stdout().write",
        "stderr().write",
        "stdout().lock",
        "stderr().lock",
        ".say(",
        ".warn(",
        ".warn_all(",
        ".alert(",
        ".data(",
        "output::Output",
    ];
    let mut found = Vec::new();
    for f in files
        .iter()
        .filter(|f| !printers.iter().any(|p| f.starts_with(p)))
    {
        let text = shipped(f);
        for needle in needles {
            if text.contains(needle) {
                found.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(found.is_empty(), "printing below the commands: {found:#?}");
    // The checker sees what it checks: the commands do print.
    let commands = shipped(&src.join("commands/gc.rs"));
    assert!(commands.contains("out.say("));
}

// Issue 39: no file a newcomer must read whole is longer than this.
#[test]
fn no_source_file_is_over_900_lines() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 900).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by job: {long:#?}");
    assert!(files.len() > 50);
}

// Issue 39 (item 2): the tree shows the layers: `src/` holds `lib.rs`, `main.rs` and a folder
// per layer (a layer's folder, or the folder of a layer's one module), nothing loose.
#[test]
fn src_holds_only_the_layer_folders() {
    let (names, of) = layers();
    let mut loose = Vec::new();
    for e in std::fs::read_dir(root().join("src")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let ok = if p.is_dir() {
            // A layer's folder, or the one module of a layer of one module.
            names.contains(&name)
                || of
                    .get(&name)
                    .is_some_and(|&l| of.values().filter(|&&m| m == l).count() == 1)
        } else {
            name == "lib.rs" || name == "main.rs"
        };
        if !ok {
            loose.push(name);
        }
    }
    assert!(
        loose.is_empty(),
        "put these in their layer's folder: {loose:?}"
    );
}
