//! The repository itself: no credential in it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use harness::workspace_root;
use std::process::Command;

#[test]
fn no_credential_literal_is_in_the_repository() {
    // The original course's password, assembled so that this file does not hold it either.
    let original = ["V2", "SG@", "xdr"].concat();
    let pika_credentials = ["Plain", "Credentials("].concat();
    let files = Command::new("git")
        .arg("ls-files")
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(files.status.success());
    let mut checked = 0;
    for file in String::from_utf8(files.stdout).unwrap().lines() {
        let Ok(content) = std::fs::read_to_string(workspace_root().join(file)) else {
            continue;
        };
        checked += 1;
        assert!(
            !content.contains(&original),
            "{file} holds the course's password"
        );
        assert!(
            !content.contains(&pika_credentials),
            "{file} builds credentials in code"
        );
        if file.ends_with(".rs") && file.contains("/src/") && !file.contains("/testing/") {
            for line in content
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
            {
                let literal_password =
                    line.contains("password: \"") || line.contains("password = \"");
                assert!(!literal_password, "{file}: a password literal: {line}");
            }
        }
    }
    assert!(checked > 20, "only {checked} files checked");
}
