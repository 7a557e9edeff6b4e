//! The HTML report in a real browser: headless Chromium opens `index.html` from disk, a
//! screenshot shows the charts, and the page writes nothing to the console (an error, an
//! uncaught exception, a failed load would). Needs Debian's `chromium`; `.ci/run` installs it,
//! and without it this test fails and says how to install it rather than pass unseen.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kafkasim::report::chart::replica_colour;

/// The browser window, in CSS pixels; tall enough for the first charts of the R1 report.
const WINDOW: (u32, u32) = (1280, 2600);

/// How long Chromium may take to load the page and take the screenshot.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

fn chromium() -> PathBuf {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "chromium is not installed; this test needs it: \
             `apt-get update && apt-get install -y --no-install-recommends chromium` \
             (.ci/run does this)"
        )
    })
}

/// Opens `page` headless; returns the screenshot's PNG bytes and Chromium's console lines.
fn screenshot(page: &Path, out: &Path) -> (Vec<u8>, Vec<String>) {
    let shot = out.join("screenshot.png");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", out.join("profile").display()),
            &format!("--screenshot={}", shot.display()),
            &format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        ])
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Polled rather than timed, so the test reads no clock.
    let poll = Duration::from_millis(50);
    let mut polls = BROWSER_TIMEOUT.as_millis() / poll.as_millis();
    while child.try_wait().expect("chromium runs").is_none() {
        if polls == 0 {
            let _ = child.kill();
            panic!("chromium took longer than {BROWSER_TIMEOUT:?}");
        }
        polls -= 1;
        std::thread::sleep(poll);
    }
    let output = child.wait_with_output().expect("chromium's output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    let png = std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot: {stderr}"));
    (png, console)
}

fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a PNG screenshot");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut pixels).expect("PNG data");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = info.color_type.samples();
    let rgb = pixels[..info.buffer_size()]
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafkasim-browser-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_html_report_shows_its_charts_in_chromium_without_console_errors() {
    let dir = scratch("r1");
    let report = dir.join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .args(["run", "scenarios/r1-hw-truncation-loss.toml", "--report"])
        .arg(&report)
        .output()
        .expect("kafkasim runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (png, console) = screenshot(&report.join("index.html"), &dir);
    assert!(
        console.is_empty(),
        "the page wrote to the console: {console:#?}"
    );
    let (width, height, rgb) = decode(&png);
    assert_eq!((width, height), WINDOW, "a screenshot of the whole window");
    // The charts are drawn: each replica's colour covers a good number of pixels.
    for broker in 0..3 {
        let c = replica_colour(broker);
        let drawn = rgb
            .chunks(3)
            .filter(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2)
            .count();
        assert!(drawn > 500, "broker-{broker}'s lines show: {drawn} pixels");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The console check itself catches an error: a page that logs one fails it.
#[test]
fn a_page_with_a_console_error_is_caught() {
    let dir = scratch("bad");
    let page = dir.join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><p>x</p><script>console.error('boom'); missing();</script>",
    )
    .unwrap();
    let (_, console) = screenshot(&page, &dir);
    assert!(console.iter().any(|l| l.contains("boom")), "{console:#?}");
    assert!(
        console.iter().any(|l| l.contains("Uncaught")),
        "{console:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
