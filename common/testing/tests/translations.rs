//! The Chinese guides (every `*.zh-CN.md`): each has an English sibling, the two link each other
//! on their first lines (`English | [中文](…)`, `[English](…) | 中文`), the Chinese has the
//! sibling's runnable blocks, and links to files and headings that exist. The
//! chapters' `tests/guide.rs` also execute them against the broker; this test covers every
//! translation at once, including those added after it was written.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use harness::workspace_root;
use std::path::Path;
use std::process::Command;

/// Every `*.zh-CN.md` of the repository (tracked or new), relative to the workspace root.
fn translations() -> Vec<String> {
    let files = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(files.status.success());
    let mut found: Vec<String> = String::from_utf8(files.stdout)
        .unwrap()
        .lines()
        .filter(|f| f.ends_with(".zh-CN.md") && workspace_root().join(f).exists())
        .map(String::from)
        .collect();
    found.sort();
    found.dedup();
    found
}

fn english_sibling(translation: &str) -> String {
    translation.replace(".zh-CN.md", ".md")
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

#[test]
fn every_chinese_guide_and_its_english_sibling_link_each_other_and_have_the_same_commands() {
    let translations = translations();
    assert!(
        translations.len() >= 11,
        "only {} Chinese guides: {translations:?}",
        translations.len()
    );
    for translation in &translations {
        let english = english_sibling(translation);
        assert!(
            workspace_root().join(&english).exists(),
            "{translation} has no English sibling {english}"
        );
        let text = std::fs::read_to_string(workspace_root().join(translation)).unwrap();
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!("[English]({}) | 中文", file_name(&english)),
            "{translation}: the first line links the English guide"
        );
        let english_text = std::fs::read_to_string(workspace_root().join(&english)).unwrap();
        assert_eq!(
            english_text.lines().next().unwrap_or_default(),
            format!("English | [中文]({})", file_name(translation)),
            "{english}: the first line links the Chinese guide"
        );
        harness::assert_same_commands(&english, translation);
    }
}

#[test]
fn the_chinese_guides_link_to_files_and_headings_that_exist() {
    for translation in translations() {
        let text = std::fs::read_to_string(workspace_root().join(&translation)).unwrap();
        let dir = Path::new(&translation).parent().unwrap();
        // Markdown links `](target)`, outside code blocks; web addresses and anchors aside.
        let mut in_code = false;
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            if in_code {
                continue;
            }
            for link in line.split("](").skip(1) {
                let target = link.split(')').next().unwrap();
                let file = target.split('#').next().unwrap();
                if target.is_empty() || file.contains("://") {
                    continue;
                }
                let target_file = if file.is_empty() {
                    workspace_root().join(&translation)
                } else {
                    workspace_root().join(dir).join(file)
                };
                assert!(
                    target_file.exists(),
                    "{translation}:{}: the link {target} leads nowhere",
                    number + 1
                );
                if let Some((_, anchor)) = target.split_once('#') {
                    let headings = std::fs::read_to_string(&target_file).unwrap();
                    assert!(
                        headings
                            .lines()
                            .filter(|l| l.starts_with('#'))
                            .any(|l| anchor_of(l.trim_start_matches('#')) == anchor),
                        "{translation}:{}: no heading of {} has the anchor #{anchor}",
                        number + 1,
                        target_file.display()
                    );
                }
            }
        }
    }
}

/// The anchor GitHub gives a heading: lower case, spaces as `-`, punctuation dropped (letters of
/// any script, digits, `-` and `_` kept).
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(
        anchor_of("This course and today's official tutorial"),
        "this-course-and-todays-official-tutorial"
    );
    assert_eq!(
        anchor_of("本课程与当前的官方教程"),
        "本课程与当前的官方教程"
    );
    assert_eq!(anchor_of("第 1 章 — Hello World"), "第-1-章--hello-world");
}
