//! Snapshots of the help text, so a change to the CLI surface is a reviewed change.

use crate::common::TestContext;

#[test]
fn help_text() {
    let t = TestContext::new();
    insta::assert_snapshot!("help", t.run(&["--help"]).ok().stdout);
    insta::assert_snapshot!("switch_help", t.run(&["switch", "--help"]).ok().stdout);
    insta::assert_snapshot!("gc_help", t.run(&["gc", "--help"]).ok().stdout);
    insta::assert_snapshot!("verify_help", t.run(&["verify", "--help"]).ok().stdout);
    insta::assert_snapshot!("config_help", t.run(&["config", "--help"]).ok().stdout);
}
