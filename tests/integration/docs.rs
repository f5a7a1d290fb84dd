//! The project's own documentation stays the one comments point to: no file of the repository
//! names a specification kept outside it, no relative path climbs out of it, and every link to
//! `docs/<page>.md#<anchor>` — in a code comment, a README or the pages themselves — reaches a
//! heading of that page. Plain file reads: no servers needed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Folders and files that hold what tools make or fetch, not what the project writes (the
/// `.gitignore` files' entries).
const SKIPPED_DIRS: &[&str] = &[
    "target",
    "node_modules",
    ".local",
    ".git",
    "dist",
    ".aws-sam",
    ".schemathesis",
    "__pycache__",
    "test-results",
    "playwright-report",
];
const SKIPPED_FILES: &[&str] = &["schema.gen.ts"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository holds tests/").to_path_buf()
}

/// Every text file of the repository (path relative to the root, text), skipped folders aside.
fn repo_files(root: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a readable folder") {
            let path = entry.expect("a folder entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                if !SKIPPED_DIRS.contains(&name) {
                    dirs.push(path);
                }
                continue;
            }
            if SKIPPED_FILES.contains(&name) {
                continue;
            }
            // Binary files (images, workbooks) are not text: nothing in them is a pointer.
            if let Ok(text) = std::fs::read_to_string(&path) {
                let rel = path.strip_prefix(root).expect("below the root").to_string_lossy().replace('\\', "/");
                found.push((rel, text));
            }
        }
    }
    found.sort();
    found
}

/// The names of the specifications kept beside the repository, which a clone does not have
/// (spelled out here only at run time, so this file does not name them itself).
fn outside_names() -> Vec<String> {
    let mut names: Vec<String> = ["DOMAIN", "API", "STYLE"].iter().map(|n| format!("{n}.md")).collect();
    names.push(["seeds", "/"].concat());
    names
}

/// Whether `text` mentions a numbered help page kept outside the repository (the word, a space,
/// three digits).
fn names_a_numbered_page(text: &str) -> bool {
    let word = ["se", "ed"].concat();
    text.match_indices(&word).any(|(at, _)| {
        let rest = &text[at + word.len()..];
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        let digits: Vec<char> = rest.strip_prefix(' ').unwrap_or("").chars().take(4).collect();
        digits.len() >= 3
            && digits[..3].iter().all(char::is_ascii_digit)
            && !digits.get(3).is_some_and(char::is_ascii_digit)
    })
}

/// Whether `c` may be part of a path token (so a `../` after it does not start one).
fn in_path(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// The relative paths of `text` (in the file at `rel`) that climb above the repository's root:
/// a token starting with more `../` than the file's folder is deep.
fn paths_leaving_the_repo(rel: &str, text: &str) -> Vec<String> {
    let depth = rel.matches('/').count();
    let mut out = Vec::new();
    for (at, _) in text.match_indices("../") {
        if text[..at].chars().next_back().is_some_and(in_path) {
            continue;
        }
        let ups = text.as_bytes()[at..].chunks(3).take_while(|c| *c == b"../").count();
        if ups > depth {
            out.push(text[at..].chars().take_while(|c| in_path(*c)).collect());
        }
    }
    out
}

/// The anchor GitHub gives a heading: lower case, letters, digits, `-` and `_` kept, spaces to
/// `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a Markdown page: one per heading outside code blocks, a repeated one numbered
/// `-1`, `-2` as GitHub numbers them.
fn anchors(page: &str) -> HashSet<String> {
    let mut found = HashSet::new();
    let mut in_code = false;
    for line in page.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !in_code) else { continue };
        let text = heading.trim_start_matches('#');
        if !text.starts_with(' ') {
            continue;
        }
        let base = slug(text);
        let mut anchor = base.clone();
        let mut n = 0;
        while !found.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    found
}

/// A link to a page of `docs/`: the page's file name and the anchor, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DocLink {
    page: String,
    anchor: Option<String>,
}

fn anchor_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_'
}

/// Every `docs/<page>.md[#anchor]` in `text` that names the repository's `docs/` (alone, or as
/// `../docs/`), not another folder's `…/docs/`.
fn doc_links(text: &str) -> Vec<DocLink> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("docs/") {
        let before = &text[..at];
        let starts_token = !before.chars().next_back().is_some_and(in_path) || before.ends_with("../");
        if !starts_token {
            continue;
        }
        let rest = &text[at + "docs/".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect();
        let Some(after) = rest[name.len()..].strip_prefix(".md") else { continue };
        let anchor = after.strip_prefix('#').map(|a| a.chars().take_while(|c| anchor_char(*c)).collect::<String>());
        out.push(DocLink { page: format!("{name}.md"), anchor: anchor.filter(|a| !a.is_empty()) });
    }
    out
}

/// The links of a page of `docs/` to itself and its sibling pages: `[…](page.md#anchor)`,
/// `[…](#anchor)`. Links to other places (`https://…`, `../README.md`) are left to their owners.
fn page_links(this_page: &str, text: &str) -> Vec<DocLink> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("](") {
        let target: String = text[at + 2..].chars().take_while(|c| *c != ')' && !c.is_whitespace()).collect();
        let (page, anchor) = match target.split_once('#') {
            Some((page, anchor)) => (page, Some(anchor.to_string())),
            None => (target.as_str(), None),
        };
        if page.contains('/') || page.contains(':') || !(page.is_empty() || page.ends_with(".md")) {
            continue;
        }
        let page = if page.is_empty() { this_page.to_string() } else { page.to_string() };
        out.push(DocLink { page, anchor });
    }
    out
}

/// What is wrong with `link` (found in `rel`), given the repository's `docs/` folder.
fn broken(rel: &str, link: &DocLink, docs: &Path) -> Option<String> {
    let Ok(page) = std::fs::read_to_string(docs.join(&link.page)) else {
        return Some(format!("{rel}: docs/{} does not exist", link.page));
    };
    let anchor = link.anchor.as_ref()?;
    (!anchors(&page).contains(anchor)).then(|| format!("{rel}: docs/{}#{anchor} is no heading of that page", link.page))
}

#[test]
fn no_file_points_outside_the_repository() {
    let root = repo_root();
    let names = outside_names();
    let mut found = Vec::new();
    for (rel, text) in repo_files(&root) {
        for (i, line) in text.lines().enumerate() {
            let at = format!("{rel}:{}", i + 1);
            found.extend(names.iter().filter(|n| line.contains(n.as_str())).map(|n| format!("{at}: names {n}")));
            if names_a_numbered_page(line) {
                found.push(format!("{at}: names a numbered help page kept outside the repository"));
            }
            found.extend(paths_leaving_the_repo(&rel, line).into_iter().map(|p| format!("{at}: {p} leaves the repo")));
        }
    }
    assert!(found.is_empty(), "point to docs/ instead:\n{}", found.join("\n"));
}

#[test]
fn every_link_to_docs_reaches_a_heading() {
    let root = repo_root();
    let docs = root.join("docs");
    let mut links = 0;
    let mut found = Vec::new();
    for (rel, text) in repo_files(&root) {
        let mut all = doc_links(&text);
        if let Some(page) = rel.strip_prefix("docs/").filter(|p| !p.contains('/')) {
            all.extend(page_links(page, &text));
        }
        links += all.len();
        found.extend(all.iter().filter_map(|l| broken(&rel, l, &docs)));
    }
    assert!(found.is_empty(), "links to docs/ that lead nowhere:\n{}", found.join("\n"));
    assert!(links > 50, "the comments point to docs/ ({links} links found)");
}

#[test]
fn the_three_pages_exist_with_their_main_headings() {
    let docs = repo_root().join("docs");
    for (page, anchor) in
        [("domain.md", "allocation"), ("api.md", "idempotency-key"), ("architecture.md", "the-command-path")]
    {
        let link = DocLink { page: page.into(), anchor: Some(anchor.into()) };
        assert_eq!(broken("test", &link, &docs), None);
    }
}

#[test]
fn the_check_finds_what_it_is_for() {
    // Headings become GitHub's anchors.
    assert_eq!(slug(" Reach and roles: 404 or 403"), "reach-and-roles-404-or-403");
    assert_eq!(slug(" Users, enrolments and `release`"), "users-enrolments-and-release");
    let page = "# Title\n## Step\n```\n## not a heading\n```\n## Step\n#nope\n";
    let got = anchors(page);
    assert_eq!(got, ["title", "step", "step-1"].into_iter().map(String::from).collect());
    // Links to docs/ in code, and only to the repository's docs/.
    let text = "see docs/domain.md#allocation, ../docs/api.md and console/docs/x.md; mydocs/y.md";
    let pages: Vec<String> = doc_links(text).into_iter().map(|l| format!("{}#{:?}", l.page, l.anchor)).collect();
    assert_eq!(pages, vec!["domain.md#Some(\"allocation\")", "api.md#None"]);
    let broken_one = DocLink { page: "domain.md".into(), anchor: Some("no-such-heading".into()) };
    assert!(broken("x", &broken_one, &repo_root().join("docs")).is_some());
    assert!(broken("x", &DocLink { page: "nope.md".into(), anchor: None }, &repo_root().join("docs")).is_some());
    // Pointers outside the repository.
    assert_eq!(paths_leaving_the_repo("console/README.md", "from `../shared/openapi.yaml`"), Vec::<String>::new());
    assert_eq!(paths_leaving_the_repo("README.md", "is `../shared/x` beside"), vec!["../shared/x".to_string()]);
    assert!(paths_leaving_the_repo("a/b.rs", "imports/../x.csv").is_empty());
    let numbered = ["se", "ed 002"].concat();
    assert!(names_a_numbered_page(&format!("the page ({numbered})")));
    assert!(!names_a_numbered_page("--seed 1, a seed of 12345"));
    let named = format!("see {}", outside_names()[0]);
    assert!(outside_names().iter().any(|n| named.contains(n.as_str())));
}
