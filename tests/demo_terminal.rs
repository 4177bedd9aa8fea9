//! `demo` under a real pseudo-terminal (util-linux `script`): the progress
//! bars render, the summary table is on the screen, and the exit code is 0.
//! The screen is read back through a terminal emulator (vt100), so what is
//! asserted is what a person would see, not the raw escape sequences.

use std::process::Command;

#[test]
fn the_demo_renders_progress_and_its_table_on_a_terminal() {
    let binary = env!("CARGO_BIN_EXE_confluence-connector");
    let inner =
        format!("stty cols 160 rows 60; exec {binary} demo --spaces 2 --pages 60 --attachments 40");
    let output = Command::new("script")
        .args(["--quiet", "--return", "--command", &inner, "/dev/null"])
        .env("TERM", "xterm-256color")
        .output()
        .expect("util-linux `script` runs (it provides the pseudo-terminal)");
    let raw = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{raw}");

    let size = |n| std::num::NonZeroU16::new(n).expect("non-zero");
    let mut terminal = vt100::Parser::new(size(60), size(160), 1000);
    terminal.process(&output.stdout);
    let screen = terminal.screen().contents();
    // Rows as the terminal shows them (`contents` joins soft-wrapped rows).
    let rows: Vec<String> = terminal.screen().rows(0, 160).collect();
    // indicatif draws bars only on a terminal; their final frame stays.
    // A finished bar: `{prefix} [====] n/n done` with n > 0.
    let bar = |prefix: &str| {
        rows.iter().any(|row| {
            let Some(rest) = row.trim_start().strip_prefix(prefix) else {
                return false;
            };
            let Some((_, counts)) = rest.split_once("] ") else {
                return false;
            };
            let counts = counts.split_whitespace().next().unwrap_or("");
            matches!(counts.split_once('/'), Some((done, total)) if done == total && done != "0")
        })
    };
    assert!(bar("pages"), "no pages bar on the screen:\n{screen}");
    assert!(
        bar("attachments"),
        "no attachments bar on the screen:\n{screen}"
    );
    assert!(
        !screen.contains("progress: pages"),
        "plain lines on a terminal:\n{screen}"
    );
    assert!(screen.contains("space  discovered"), "{screen}");
    for space in ["S0", "S1"] {
        assert!(
            screen.lines().any(|line| line.starts_with(space)),
            "no row for {space}:\n{screen}"
        );
    }
    assert!(screen.contains("nothing changed"), "{screen}");
    assert!(screen.contains("demo passed"), "{screen}");
}

/// Without a terminal the demo writes plain progress lines instead of bars.
#[test]
fn the_demo_writes_plain_progress_without_a_terminal() {
    let output = Command::new(env!("CARGO_BIN_EXE_confluence-connector"))
        .args([
            "demo",
            "--spaces",
            "1",
            "--pages",
            "10",
            "--attachments",
            "5",
            "--flavor",
            "dc",
        ])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("progress: pages"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape sequences without a terminal: {stderr:?}"
    );
    assert!(stdout.contains("demo passed"), "{stdout}");
}
